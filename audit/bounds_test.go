package audit_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/aggauth/aggauth/audit"
)

// hostileRequest is a request as large as a client can make it through
// net/http's default 1 MiB of headers (here 200 KiB of each part): a path of
// characters the JSON log escapes, a query of ampersands, a long User-Agent,
// thousands of forwarded addresses.
func hostileRequest(method string, headers ...string) *http.Request {
	seg := strings.Repeat("%3C%FF", 200<<10/6)
	path := "/apis/" + seg + "/v1/namespaces/" + seg + "/" + seg + "/" + seg + "/" + seg + "?q=" + strings.Repeat("&", 200<<10)
	r := httptest.NewRequest(method, path, nil)
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
		name, method string
		headers      []string
		bounded      bool
	}{
		{name: "refused by authentication", method: "GET", headers: []string{"Authorization", "Bearer bad"}, bounded: true},
		{name: "anonymous", method: "GET", headers: as("system:anonymous", "system:unauthenticated"), bounded: true},
		{name: "anonymous refused by authorization", method: "DELETE", headers: as("system:anonymous", "system:unauthenticated"), bounded: true},
		{name: "authenticated", method: "GET", headers: as("alice", "devs"), bounded: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var theirs, ours syncBuffer
			p := policies["everything"]
			k8sChain(t, p, &theirs).ServeHTTP(httptest.NewRecorder(), hostileRequest(tt.method, tt.headers...))
			ourChain(newAuditor(t, p, &ours, audit.Options{RecordBodies: tt.bounded})).ServeHTTP(httptest.NewRecorder(),
				hostileRequest(tt.method, tt.headers...))
			want, got := normalize(theirs.take()), normalize(ours.take())
			require.Equal(t, len(want), len(got))
			require.NotEmpty(t, got)
			for i := range want {
				t.Logf("event %d: kubernetes %d bytes, ours %d bytes", i, len(want[i]), len(got[i]))
				if !tt.bounded {
					assert.Equal(t, want[i], got[i])
					continue
				}
				assert.LessOrEqual(t, len(got[i]), audit.MaxUnauthenticatedEventBytes)
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
				if ks, os := k.ResponseStatus, o.ResponseStatus; ks != nil && ks.Details != nil {
					assertCut(t, ks.Message, os.Message, audit.MaxUnauthenticatedMessageLength)
					assertCut(t, ks.Details.Name, os.Details.Name, audit.MaxUnauthenticatedFieldLength)
					assertCut(t, ks.Details.Kind, os.Details.Kind, audit.MaxUnauthenticatedFieldLength)
					assert.NotNil(t, o.ResponseObject, "the Status at RequestResponse")
					k.ResponseStatus, o.ResponseStatus, k.ResponseObject, o.ResponseObject = nil, nil, nil, nil
				}
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

// TestUnauthenticatedWorstCase fills every field an unauthenticated client
// or a refusal can fill with characters JSON writes in six bytes, at
// RequestResponse level with the Status recorded twice: the event stays
// within MaxUnauthenticatedEventBytes.
func TestUnauthenticatedWorstCase(t *testing.T) {
	var log syncBuffer
	a := newAuditor(t, policies["everything"], &log, audit.Options{RecordBodies: true})
	worst := strings.Repeat("<", 64<<10)
	seg := strings.Repeat("%3C", 64<<10)
	r := httptest.NewRequest(http.MethodPost, "/apis/"+seg+"/"+seg+"/namespaces/"+seg+"/"+seg+"/"+seg+"/"+seg+"?"+strings.Repeat("&", 64<<10),
		strings.NewReader(`{"data":"`+worst+`"}`))
	r.Header.Set("User-Agent", worst)
	r.RemoteAddr = "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe]:1"
	var ips []string
	for i := range 100 {
		ips = append(ips, fmt.Sprintf("ffff:ffff:ffff:ffff:ffff:ffff:ffff:%04x", i))
	}
	r.Header.Set("X-Forwarded-For", strings.Join(ips, ","))
	anonymous := &user.DefaultInfo{Name: user.Anonymous, Groups: []string{user.AllUnauthenticated}}
	info := infoOf(t, r)
	require.Len(t, info.Subresource, 3*(64<<10)/3, "every objectRef field is long")
	rec, err := a.Begin(r, info, anonymous, strings.Repeat("<", 64), received, false)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, rec.Body(r.Body))
	rec.Authorized(authorizer.DecisionNoOpinion, "no RBAC policy matched", nil)
	rec.SetResponseStatus(&metav1.Status{Status: worst, Message: worst, Reason: metav1.StatusReason(worst), Code: 403,
		Details: &metav1.StatusDetails{Name: worst, Group: worst, Kind: worst, UID: types.UID(worst),
			Causes: []metav1.StatusCause{{Message: worst, Field: worst}}}})
	_, _ = rec.Writer(httptest.NewRecorder()).Write([]byte(`{"data":"` + worst + `"}`))
	rec.End()
	got := lines(log.take())
	require.Len(t, got, 2)
	for i, l := range got {
		t.Logf("event %d: %d bytes", i, len(l)+1)
		assert.LessOrEqual(t, len(l)+1, audit.MaxUnauthenticatedEventBytes)
	}
	assert.Greater(t, len(got[1])+1, audit.MaxUnauthenticatedEventBytes*3/4, "the test fills the event")
}
