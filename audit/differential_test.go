package audit_test

import (
	"crypto/tls"
	"crypto/x509"
	"flag"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aggauth/aggauth/audit"
)

// policies of the differential tests: rules of every kind, one level for
// everything, and stages omitted by the policy and a rule.
var policies = map[string]string{
	"rules": `apiVersion: audit.k8s.io/v1
kind: Policy
omitManagedFields: true
rules:
- level: None
  users: ["system:kube-proxy"]
- level: None
  nonResourceURLs: ["/healthz*", "/readyz", "/livez"]
- level: Metadata
  userGroups: ["system:unauthenticated"]
- level: RequestResponse
  resources:
  - group: ""
    resources: ["secrets"]
- level: Request
  verbs: ["create", "update", "patch"]
  resources:
  - group: "demo.example.com"
    resources: ["widgets", "widgets/status"]
- level: Metadata
  omitStages: ["RequestReceived"]
  verbs: ["watch"]
- level: RequestResponse
  namespaces: ["kube-system"]
  omitStages: ["ResponseComplete"]
- level: Request
  resources:
  - group: "*"
    resources: ["*/scale", "gadgets/*"]
- level: None
  resources:
  - group: "demo.example.com"
    resources: ["widgets"]
    resourceNames: ["quiet"]
- level: Metadata
  nonResourceURLs: ["/apis*", "/version"]
  omitStages: ["ResponseStarted"]
- level: Metadata
  users: ["alice", "mallory", "broken", "root", "bob"]
- level: RequestResponse
  userGroups: ["system:serviceaccounts"]
- level: Metadata
  omitStages: ["Panic"]
`,
	"everything": `apiVersion: audit.k8s.io/v1
kind: Policy
rules:
- level: RequestResponse
`,
	"omitted": `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
- level: None
  userGroups: ["system:unauthenticated"]
  verbs: ["get"]
- level: Request
  omitStages: ["ResponseStarted"]
`,
}

// testCase is one request of the corpus.
type testCase struct {
	name, method, path string
	headers            []string // name, value, name, value...
	tls                bool     // with a client certificate
	remote             string   // RemoteAddr; default 192.0.2.10:34567
}

const (
	widgets   = "/apis/demo.example.com/v1/namespaces/team-a/widgets"
	longAgent = "kubectl/v1.37.2 "
)

func as(name string, groups ...string) []string {
	h := []string{"X-Test-User", name}
	for _, g := range groups {
		h = append(h, "X-Test-Group", g)
	}
	return h
}

func with(h []string, more ...string) []string { return append(append([]string(nil), h...), more...) }

// corpus is the requests of the differential tests.
func corpus() []testCase {
	alice := as("alice", "devs", "system:authenticated")
	sa := as("system:serviceaccount:team-a:builder", "system:serviceaccounts", "system:serviceaccounts:team-a", "system:authenticated")
	anon := as("system:anonymous", "system:unauthenticated")
	return []testCase{
		{name: "list", method: "GET", path: widgets + "?limit=5&labelSelector=app%3Dweb", headers: alice},
		{name: "get", method: "GET", path: widgets + "/w1", headers: alice},
		{name: "create", method: "POST", path: widgets, headers: alice},
		{name: "update status", method: "PUT", path: widgets + "/w1/status", headers: alice},
		{name: "patch", method: "PATCH", path: widgets + "/w1", headers: alice},
		{name: "delete", method: "DELETE", path: widgets + "/w1", headers: alice},
		{name: "deletecollection", method: "DELETE", path: widgets, headers: alice},
		{name: "watch", method: "GET", path: widgets + "?watch=true&resourceVersion=10", headers: alice},
		{name: "watch closed early", method: "GET", path: "/apis/demo.example.com/v1/watch/namespaces/team-a/widgets/silent", headers: alice},
		{name: "watch refused", method: "GET", path: widgets + "?watch=1", headers: as("mallory")},
		{name: "watch throttled", method: "GET", path: widgets + "?watch=1", headers: with(alice, "X-Test-Throttle", "1")},
		{name: "cluster-scoped", method: "GET", path: "/apis/demo.example.com/v1/gadgets/g1", headers: alice},
		{name: "subresource gadgets/*", method: "GET", path: "/apis/demo.example.com/v1/gadgets/g1/status", headers: alice},
		{name: "subresource */scale", method: "PUT", path: widgets + "/w1/scale", headers: alice},
		{name: "resourceNames None", method: "GET", path: widgets + "/quiet", headers: alice},
		{name: "core secrets", method: "GET", path: "/api/v1/namespaces/team-a/secrets/s1", headers: alice},
		{name: "kube-system", method: "GET", path: "/apis/demo.example.com/v1/namespaces/kube-system/widgets", headers: alice},
		{name: "healthz", method: "GET", path: "/healthz", headers: alice},
		{name: "healthz/etcd", method: "GET", path: "/healthz/etcd", headers: alice},
		{name: "discovery", method: "GET", path: "/apis/demo.example.com/v1", headers: alice},
		{name: "version", method: "GET", path: "/version", headers: alice},
		{name: "metrics", method: "GET", path: "/metrics", headers: alice},
		{name: "kube-proxy None", method: "GET", path: widgets, headers: as("system:kube-proxy")},
		{name: "anonymous", method: "GET", path: widgets, headers: anon},
		{name: "anonymous create", method: "POST", path: widgets, headers: anon},
		{name: "service account", method: "GET", path: widgets, headers: sa},
		{name: "service account create", method: "POST", path: widgets, headers: sa},
		{name: "service account refused", method: "GET", path: widgets, headers: with(sa, "Impersonate-User", "alice")},
		{name: "uid and extra", method: "GET", path: widgets, headers: with(alice, "X-Test-Uid", "u-123", "X-Test-Scope", "read", "X-Test-Scope", "write")},
		{name: "401 no credentials", method: "GET", path: widgets},
		{name: "401 bearer error", method: "GET", path: widgets, headers: []string{"Authorization", "Bearer bad"}},
		{name: "401 bearer", method: "GET", path: widgets, headers: []string{"Authorization", "bEaReR something"}},
		{name: "401 basic", method: "GET", path: widgets, headers: []string{"Authorization", "Basic YWxpY2U6c2VjcmV0"}},
		{name: "401 access_token", method: "GET", path: widgets + "?access_token=abc"},
		{name: "401 x509", method: "GET", path: widgets, tls: true},
		{name: "401 all methods", method: "POST", path: widgets + "?access_token=%20x", tls: true, headers: []string{"Authorization", "Bearer bad"}},
		{name: "401 non-resource", method: "GET", path: "/version"},
		{name: "401 healthz", method: "GET", path: "/healthz"},
		{name: "401 not negotiable", method: "GET", path: widgets, headers: []string{"Accept", "text/html"}},
		{name: "403", method: "GET", path: widgets + "/w1", headers: as("mallory", "devs")},
		{name: "403 non-resource", method: "GET", path: "/logs/kube.log", headers: as("mallory")},
		{name: "403 not negotiable", method: "GET", path: widgets, headers: with(as("mallory"), "Accept", "text/html")},
		{name: "500 authorizer error", method: "GET", path: widgets, headers: as("broken")},
		{name: "root", method: "GET", path: widgets, headers: as("root", "system:masters")},
		{name: "impersonate", method: "GET", path: widgets, headers: with(alice, "Impersonate-User", "bob")},
		{name: "impersonate with groups", method: "GET", path: widgets, headers: with(alice, "Impersonate-User", "bob", "Impersonate-Group", "ops", "Impersonate-Group", "devs")},
		{name: "impersonate unauthenticated", method: "GET", path: widgets, headers: with(alice, "Impersonate-User", "eve", "Impersonate-Group", "system:unauthenticated")},
		{name: "impersonate refused", method: "GET", path: widgets, headers: with(as("bob"), "Impersonate-User", "alice")},
		{name: "impersonated then refused", method: "GET", path: widgets, headers: with(alice, "Impersonate-User", "mallory")},
		{name: "429", method: "GET", path: widgets, headers: with(alice, "X-Test-Throttle", "1")},
		{name: "handler Status", method: "GET", path: widgets + "/missing", headers: alice},
		{name: "handler Status at RequestResponse", method: "GET", path: "/api/v1/namespaces/team-a/secrets/missing", headers: alice},
		{name: "handler teapot", method: "GET", path: widgets + "/teapot", headers: alice},
		{name: "handler annotations", method: "GET", path: widgets + "/annotated", headers: alice},
		{name: "handler panic", method: "GET", path: widgets + "/panic", headers: alice},
		{name: "handler panic at RequestResponse", method: "GET", path: "/api/v1/namespaces/team-a/secrets/panic", headers: alice},
		{name: "handler silent", method: "GET", path: widgets + "/silent", headers: alice},
		{name: "handler early hints", method: "GET", path: widgets + "/hints", headers: alice},
		{name: "handler flushed only", method: "GET", path: widgets + "/flushed", headers: alice},
		{name: "forwarded", method: "GET", path: widgets, headers: with(alice, "X-Forwarded-For", "203.0.113.7, 198.51.100.2", "X-Real-Ip", "203.0.113.7")},
		{name: "forwarded junk", method: "GET", path: widgets, headers: with(alice, "X-Forwarded-For", "unknown, 010.000.000.001,,::ffff:10.0.0.2, 2001:DB8::2", "X-Real-Ip", "198.51.100.9")},
		{name: "forwarded ends at remote", method: "GET", path: widgets, headers: with(alice, "X-Forwarded-For", "203.0.113.7, 192.0.2.10")},
		{name: "real ip is remote", method: "GET", path: widgets, headers: with(alice, "X-Real-Ip", "192.0.2.10")},
		{name: "ipv6 remote", method: "GET", path: widgets, headers: alice, remote: "[2001:db8::1]:443"},
		{name: "remote without port", method: "GET", path: widgets, headers: alice, remote: "192.0.2.99"},
		{name: "remote unparsable", method: "GET", path: widgets, headers: alice, remote: "pipe"},
		{name: "long user agent", method: "GET", path: widgets, headers: with(alice, "User-Agent", strings.Repeat(longAgent, 100))},
		{name: "401 long user agent", method: "GET", path: widgets, headers: []string{"User-Agent", strings.Repeat(longAgent, 100)}},
		{name: "escaped name", method: "GET", path: widgets + "/a%20b%2Fc", headers: alice},
		{name: "unicode and invalid UTF-8", method: "GET", path: widgets + "/%C3%A9t%C3%A9%FF%E2%80%A8", headers: alice},
		{name: "HTML in query", method: "GET", path: widgets + "?fieldSelector=metadata.name%3D%3Cb%3E&x=<&y=>", headers: alice},
	}
}

var dump = flag.Bool("dump", false, "log Kubernetes' events of the differential tests")

// stageTimestamp is the only field that differs between two runs.
var stageTimestamp = regexp.MustCompile(`"stageTimestamp":"[^"]*"`)

func normalize(log string) []string {
	log = stageTimestamp.ReplaceAllString(log, `"stageTimestamp":"2000-01-01T00:00:00.000000Z"`)
	if log == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(log, "\n"), "\n")
}

func (tc testCase) request() *http.Request {
	r := httptest.NewRequest(tc.method, tc.path, strings.NewReader(`{"kind":"Widget","metadata":{"name":"w1"}}`))
	r.RemoteAddr = "192.0.2.10:34567"
	if tc.remote != "" {
		r.RemoteAddr = tc.remote
	}
	r.Header.Set("Audit-ID", auditID)
	r.Header.Set("User-Agent", "kubectl/v1.37.2 (linux/amd64)")
	for i := 0; i+1 < len(tc.headers); i += 2 {
		if tc.headers[i+1] == "" {
			r.Header.Del(tc.headers[i])
			continue
		}
		if tc.headers[i] == "User-Agent" || tc.headers[i] == "Audit-ID" {
			r.Header.Set(tc.headers[i], tc.headers[i+1])
			continue
		}
		r.Header.Add(tc.headers[i], tc.headers[i+1])
	}
	if tc.tls {
		r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{{}}}
	}
	return r
}

// TestDifferential sends the corpus through Kubernetes' filters and through
// the adapter, under each policy: the events must be the same, byte for byte
// as the log backends write them, stageTimestamp aside.
func TestDifferential(t *testing.T) {
	total := 0
	for name, p := range policies {
		t.Run(name, func(t *testing.T) {
			var theirs, ours syncBuffer
			k8s := k8sChain(t, p, &theirs)
			mine := ourChain(newAuditor(t, p, &ours, audit.Options{}))
			for _, tc := range corpus() {
				t.Run(tc.name, func(t *testing.T) {
					rk, ro := httptest.NewRecorder(), httptest.NewRecorder()
					k8s.ServeHTTP(rk, tc.request())
					mine.ServeHTTP(ro, tc.request())
					want, got := normalize(theirs.take()), normalize(ours.take())
					if *dump {
						t.Logf("%s", strings.Join(want, "\n"))
					}
					total += len(want)
					require.Equal(t, rk.Code, ro.Code, "the two chains answer alike")
					if !assert.Equal(t, len(want), len(got), "events") {
						t.Logf("kubernetes:\n%s\nours:\n%s", strings.Join(want, "\n"), strings.Join(got, "\n"))
						return
					}
					for i := range want {
						assert.Equal(t, want[i], got[i], "event %d", i)
					}
				})
			}
		})
	}
	t.Logf("%d requests × %d policies: %d events compared", len(corpus()), len(policies), total)
}
