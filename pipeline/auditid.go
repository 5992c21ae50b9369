package pipeline

import (
	"net/http"

	"github.com/google/uuid"
)

// AuditIDOf returns the audit ID of r: its Audit-ID header (which
// kube-apiserver's aggregator sends, so that both audit logs agree) cut to
// maxLen bytes, or a new random UUID when it is absent or holds anything but
// printable ASCII.
func AuditIDOf(r *http.Request, maxLen int) string {
	var id string
	if v := r.Header[auditIDKey]; len(v) > 0 {
		id = v[0]
	}
	if len(id) > maxLen {
		id = id[:maxLen]
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

// auditIDKey is the Audit-ID header in canonical form.
const auditIDKey = "Audit-Id"

// EnsureAuditID gives the request its audit ID, when no step did
// (AuditIDOf, cut to 64 bytes).
func (s *State) EnsureAuditID(r *http.Request) {
	if s.AuditID == "" {
		s.AuditID = AuditIDOf(r, 64)
	}
}
