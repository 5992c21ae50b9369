package serving

import (
	"net/http"

	"github.com/aggauth/aggauth/pipeline"
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
// header when the response starts, unless the handler set one, and read with
// AuditIDFrom.
//
// Unlike Kubernetes, the client's value is bounded: cut to MaxAuditIDLength
// bytes, and replaced with a new UUID when it holds anything but printable
// ASCII.
func AuditID() func(http.Handler) http.Handler { return pipeline.Handler(auditIDStep{}) }

// auditIDOf returns the audit ID of r: its bounded Audit-ID header, or a new
// UUID.
func auditIDOf(r *http.Request) string { return pipeline.AuditIDOf(r, MaxAuditIDLength) }

// auditIDKey is HeaderAuditID in canonical form.
var auditIDKey = http.CanonicalHeaderKey(HeaderAuditID)
