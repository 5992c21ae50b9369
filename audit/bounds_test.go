package audit_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/aggauth/aggauth/audit"
)

// maxUnauthenticatedEvent bounds the bytes of an event of an unauthenticated
// request, whatever it sends: requestURI, objectRef and userAgent at their
// bounds, every character escaped to six bytes, 16 IPv6 source addresses.
const maxUnauthenticatedEvent = 64 << 10

// hostileRequest is a request as large as a client can make it through
// net/http's default 1 MiB of headers (here 200 KiB of each part): a path of
// characters the JSON log escapes, a query of ampersands, a long User-Agent,
// thousands of forwarded addresses.
func hostileRequest(headers ...string) *http.Request {
	seg := strings.Repeat("%3C%FF", 200<<10/6)
	path := "/apis/" + seg + "/v1/namespaces/" + seg + "/" + seg + "/" + seg + "/" + seg + "?q=" + strings.Repeat("&", 200<<10)
	r := httptest.NewRequest(http.MethodGet, path, nil)
	r.RemoteAddr = "[2001:db8:ffff:ffff:ffff:ffff:ffff:fffe]:443"
	r.Header.Set("Audit-ID", auditID)
	r.Header.Set("User-Agent", strings.Repeat("<&>", 200<<10/3))
	ips := make([]string, 200<<10/40)
	for i := range ips {
		ips[i] = fmt.Sprintf("2001:db8:ffff:ffff:ffff:ffff:%04x:%04x", i>>16, i&0xffff)
	}
	r.Header.Set("X-Forwarded-For", strings.Join(ips, ","))
	r.Header.Set("X-Real-Ip", "203.0.113.200")
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Add(headers[i], headers[i+1])
	}
	return r
}

// TestUnauthenticatedEventsAreBounded sends the largest requests a client can
// make, refused by authentication or let through as system:anonymous: each
// event is at most 64 KiB (Kubernetes writes megabytes for the same
// requests), and its fields are Kubernetes' own, cut (requestURI, objectRef,
// userAgent) or keeping the last addresses (sourceIPs). An authenticated
// user's events are Kubernetes' whole.
func TestUnauthenticatedEventsAreBounded(t *testing.T) {
	tests := []struct {
		name    string
		headers []string
		bounded bool
	}{
		{name: "refused by authentication", headers: []string{"Authorization", "Bearer bad"}, bounded: true},
		{name: "anonymous", headers: as("system:anonymous", "system:unauthenticated"), bounded: true},
		{name: "authenticated", headers: as("alice", "devs"), bounded: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var theirs, ours syncBuffer
			p := policies["everything"]
			k8sChain(t, p, &theirs).ServeHTTP(httptest.NewRecorder(), hostileRequest(tt.headers...))
			ourChain(newAuditor(t, p, &ours, audit.Options{})).ServeHTTP(httptest.NewRecorder(), hostileRequest(tt.headers...))
			want, got := normalize(theirs.take()), normalize(ours.take())
			require.Equal(t, len(want), len(got))
			require.NotEmpty(t, got)
			for i := range want {
				t.Logf("event %d: kubernetes %d bytes, ours %d bytes", i, len(want[i]), len(got[i]))
				if !tt.bounded {
					assert.Equal(t, want[i], got[i])
					continue
				}
				assert.LessOrEqual(t, len(got[i]), maxUnauthenticatedEvent)
				var k, o auditv1.Event
				require.NoError(t, json.Unmarshal([]byte(want[i]), &k))
				require.NoError(t, json.Unmarshal([]byte(got[i]), &o))
				assertCut(t, k.RequestURI, o.RequestURI, audit.MaxUnauthenticatedURILength)
				assertCut(t, k.UserAgent, o.UserAgent, audit.MaxUserAgentLength)
				for _, f := range []func(*auditv1.ObjectReference) string{
					func(r *auditv1.ObjectReference) string { return r.Namespace },
					func(r *auditv1.ObjectReference) string { return r.Name },
					func(r *auditv1.ObjectReference) string { return r.Resource },
					func(r *auditv1.ObjectReference) string { return r.Subresource },
					func(r *auditv1.ObjectReference) string { return r.APIGroup },
				} {
					assertCut(t, f(k.ObjectRef), f(o.ObjectRef), audit.MaxUnauthenticatedFieldLength)
				}
				assert.Equal(t, k.SourceIPs[len(k.SourceIPs)-audit.MaxUnauthenticatedSourceIPs:], o.SourceIPs)
				k.RequestURI, k.UserAgent, k.ObjectRef, k.SourceIPs = "", "", nil, nil
				o.RequestURI, o.UserAgent, o.ObjectRef, o.SourceIPs = "", "", nil, nil
				assert.Equal(t, k, o, "the other fields")
			}
		})
	}
}

// assertCut checks that ours is theirs cut to n bytes and marked, as
// Kubernetes cuts a User-Agent (a cut in a character shows as U+FFFD).
func assertCut(t *testing.T, theirs, ours string, n int) {
	t.Helper()
	if len(theirs) <= n {
		assert.Equal(t, theirs, ours)
		return
	}
	assert.True(t, strings.HasSuffix(ours, "...TRUNCATED"), "%.40q... is marked", ours)
	prefix := strings.ToValidUTF8(theirs[:n], "\ufffd")
	assert.Equal(t, prefix, strings.TrimSuffix(ours, "...TRUNCATED")[:len(prefix)])
}

// TestSourceIPsKeepTheLast: beyond the bound, the addresses nearest to the
// server stay, the remote address last.
func TestSourceIPsKeepTheLast(t *testing.T) {
	var log syncBuffer
	a := newAuditor(t, metadataPolicy, &log, audit.Options{})
	r := httptest.NewRequest(http.MethodGet, widgets, nil)
	var ips []string
	for i := range 40 {
		ips = append(ips, fmt.Sprintf("10.0.0.%d", i))
	}
	r.Header.Set("X-Forwarded-For", strings.Join(ips, ", "))
	rec := a.FailedAuthentication(r, infoOf(t, r), auditID, received)
	rec.Writer(httptest.NewRecorder()).WriteHeader(http.StatusUnauthorized)
	var ev auditv1.Event
	require.NoError(t, json.Unmarshal([]byte(log.take()), &ev))
	want := append(slices.Clone(ips[40-15:]), "192.0.2.1")
	assert.Equal(t, want, ev.SourceIPs)
}
