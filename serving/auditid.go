package serving

import (
	"net/http"

	"github.com/google/uuid"
)

// HeaderAuditID is the header that carries a request's audit ID, both ways.
const HeaderAuditID = "Audit-ID"

// MaxAuditIDLength bounds the audit ID taken from a request: longer ones are
// cut to this length, the length at which Kubernetes cuts them in its logs.
const MaxAuditIDLength = 64

// AuditID returns a filter that gives every request an audit ID, as the
// generic apiserver's WithAuditInit: the request's Audit-ID header (which
// kube-apiserver's aggregator forwards, so that both audit logs agree) or,
// when absent, a new random UUID. The ID is echoed in the Audit-ID response
// header unless the handler chain already set one, and read with AuditIDFrom.
//
// Unlike Kubernetes, the client's value is bounded: cut to MaxAuditIDLength
// bytes, and replaced with a new UUID when it holds anything but printable
// ASCII.
func AuditID() func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s := new(requestState)
			if prev := stateFrom(r.Context()); prev != nil {
				*s = *prev
			}
			s.auditID = auditIDOf(r)
			echoAuditID(w, s.auditID)
			next.ServeHTTP(w, withState(r, s))
		})
	}
}

// auditIDOf returns the audit ID of r: its bounded Audit-ID header, or a new
// UUID.
func auditIDOf(r *http.Request) string {
	var id string
	if v := r.Header[auditIDKey]; len(v) > 0 {
		id = v[0]
	}
	if len(id) > MaxAuditIDLength {
		id = id[:MaxAuditIDLength]
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c < 0x20 || c > 0x7e {
			id = ""
			break
		}
	}
	if id == "" {
		return uuid.NewString()
	}
	return id
}

// auditIDKey is HeaderAuditID in canonical form.
var auditIDKey = http.CanonicalHeaderKey(HeaderAuditID)

func echoAuditID(w http.ResponseWriter, id string) {
	if h := w.Header(); len(h[auditIDKey]) == 0 || h[auditIDKey][0] == "" {
		h[auditIDKey] = []string{id}
	}
}
