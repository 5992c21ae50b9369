package middleware_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/filters"
	"k8s.io/apiserver/pkg/endpoints/filters/impersonation"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/aggauth/aggauth/internal/testutil"
	"github.com/aggauth/aggauth/middleware"
)

// impersonationPolicy allows the verb impersonate on the resources listed
// (users, groups, uids, userextras, serviceaccounts), and the constrained
// verbs (impersonate:<mode>, impersonate-on:<mode>:<verb>) when constrained
// is set; nothing else.
type impersonationPolicy struct {
	resources   []string
	constrained bool
	err         error
}

func (p impersonationPolicy) Authorize(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	if p.err != nil {
		return authorizer.DecisionNoOpinion, "", p.err
	}
	v := a.GetVerb()
	if v == "impersonate" && slices.Contains(p.resources, a.GetResource()) {
		return authorizer.DecisionAllow, "", nil
	}
	if p.constrained && strings.HasPrefix(v, "impersonate") && v != "impersonate" {
		return authorizer.DecisionAllow, "", nil
	}
	return authorizer.DecisionNoOpinion, "not allowed by the test policy", nil
}

func (p impersonationPolicy) name() string {
	return fmt.Sprintf("%v constrained=%v", p.resources, p.constrained)
}

// impersonationHeaders is the corpus of Impersonate-* header sets.
func impersonationHeaders() []http.Header {
	users := []string{"", "bob", "system:serviceaccount:ns1:sa", "system:serviceaccount:bad", "system:anonymous", "system:node:n1"}
	groupSets := [][]string{nil, {"devs"}, {"system:authenticated"}, {"system:unauthenticated"}, {"", "x"}, {"system:masters"}}
	uids := []string{"", "u-1"}
	extras := []http.Header{nil, {"Impersonate-Extra-Scopes": {"a", "b"}}, {"Impersonate-Extra-Foo%2fBar": {"v"}},
		{"Impersonate-Extra-Empty": {}}, {"Impersonate-Extra-K": {""}}}
	var out []http.Header
	for _, u := range users {
		for _, gs := range groupSets {
			for _, uid := range uids {
				for _, ex := range extras {
					h := http.Header{"Accept": {"application/json"}}
					if u != "" {
						h["Impersonate-User"] = []string{u}
					}
					if gs != nil {
						h["Impersonate-Group"] = slices.Clone(gs)
					}
					if uid != "" {
						h["Impersonate-Uid"] = []string{uid}
					}
					for k, v := range ex {
						h[k] = slices.Clone(v)
					}
					out = append(out, h)
				}
			}
		}
	}
	return append(out, http.Header{"Impersonate-Uid": {""}})
}

// impersonationOutcome is what a filter did: the code, and for a request let
// through, the user it ran as and the Impersonate-* headers left.
type impersonationOutcome struct {
	code                 int
	name, uid            string
	groups               []string
	extra                map[string][]string
	impersonationHeaders []string
}

func runImpersonation(h func(http.Handler) http.Handler, header http.Header) impersonationOutcome {
	var out impersonationOutcome
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := request.UserFrom(r.Context())
		out.name, out.uid, out.groups = u.GetName(), u.GetUID(), u.GetGroups()
		if len(u.GetExtra()) > 0 { // nil and empty are the same to an authorizer
			out.extra = u.GetExtra()
		}
		for k := range r.Header {
			if strings.HasPrefix(strings.ToLower(k), "impersonate-") {
				out.impersonationHeaders = append(out.impersonationHeaders, k)
			}
		}
		w.WriteHeader(http.StatusOK)
	})
	req := httptest.NewRequest("GET", "/apis/demo.aggauth.io/v1/namespaces/default/widgets", nil)
	for k, v := range header {
		req.Header[k] = slices.Clone(v)
	}
	ctx := request.WithUser(req.Context(), &user.DefaultInfo{Name: "alice", Groups: []string{"system:authenticated"}})
	info, _ := kubeResolver.NewRequestInfo(req)
	req = req.WithContext(request.WithRequestInfo(ctx, info))
	rec := httptest.NewRecorder()
	h(next).ServeHTTP(rec, req)
	out.code = rec.Code
	return out
}

func ours(p authorizer.UnconditionalAuthorizer) func(http.Handler) http.Handler {
	st, err := middleware.NewImpersonation(middleware.ImpersonationOptions{Authorizer: p})
	if err != nil {
		panic(err)
	}
	return st.Handler
}

// TestImpersonationMatchesKubernetes is the differential test: every header
// set of the corpus, under policies that grant the verb impersonate on some
// resources, through Kubernetes' legacy filter (WithImpersonation), its
// constrained filter (WithConstrainedImpersonation, the default since 1.36) and
// ours: the same code, and when let through, the same user and no
// Impersonate-* header left.
func TestImpersonationMatchesKubernetes(t *testing.T) {
	policies := []impersonationPolicy{
		{},
		{resources: []string{"users"}},
		{resources: []string{"users", "groups"}},
		{resources: []string{"users", "groups", "uids"}},
		{resources: []string{"users", "groups", "uids", "userextras"}},
		{resources: []string{"serviceaccounts", "groups", "userextras"}},
		{resources: []string{"users", "serviceaccounts", "groups", "uids", "userextras"}},
	}
	counts := map[int]int{}
	n := 0
	for _, p := range policies {
		legacy := func(next http.Handler) http.Handler { return impersonation.WithImpersonation(next, p, scheme.Codecs) }
		constrained := func(next http.Handler) http.Handler {
			return impersonation.WithConstrainedImpersonation(next, p, scheme.Codecs)
		}
		for _, h := range impersonationHeaders() {
			desc := fmt.Sprintf("%s %v", p.name(), h)
			got, wantLegacy, wantConstrained := runImpersonation(ours(p), h), runImpersonation(legacy, h), runImpersonation(constrained, h)
			require.Equal(t, wantConstrained.code, got.code, "code vs constrained: %s", desc)
			require.Equal(t, wantLegacy.code, got.code, "code vs legacy: %s", desc)
			counts[got.code]++
			n++
			if got.code != http.StatusOK {
				continue
			}
			wantConstrained.impersonationHeaders = nil // kube-apiserver leaves an empty Impersonate-Uid alone; we remove it
			require.Equal(t, wantConstrained, got, "outcome vs constrained: %s", desc)
			wantLegacy.impersonationHeaders = nil
			require.Equal(t, wantLegacy, got, "outcome vs legacy: %s", desc)
			require.Empty(t, got.impersonationHeaders, desc)
		}
	}
	t.Logf("%d requests, by code: %v", n, counts)
	for _, code := range []int{200, 400, 403} {
		require.Positive(t, counts[code], "the corpus must reach %d", code)
	}
}

// TestImpersonationConstrainedVerbsAreNotEnough records the deliberate
// difference: a caller granted only the constrained verbs of KEP-5284 is
// allowed by kube-apiserver's constrained filter, and refused here.
func TestImpersonationConstrainedVerbsAreNotEnough(t *testing.T) {
	p := impersonationPolicy{constrained: true}
	h := http.Header{"Impersonate-User": {"bob"}}
	constrained := func(next http.Handler) http.Handler {
		return impersonation.WithConstrainedImpersonation(next, p, scheme.Codecs)
	}
	assert.Equal(t, http.StatusOK, runImpersonation(constrained, h).code)
	assert.Equal(t, http.StatusForbidden, runImpersonation(ours(p), h).code)
}

func TestImpersonation(t *testing.T) {
	all := impersonationPolicy{resources: []string{"users", "groups", "uids", "userextras", "serviceaccounts"}}
	t.Run("refused by option", func(t *testing.T) {
		st, err := middleware.NewImpersonation(middleware.ImpersonationOptions{Refuse: true})
		require.NoError(t, err)
		out := runImpersonation(st.Handler, http.Header{"Impersonate-User": {"bob"}})
		assert.Equal(t, http.StatusForbidden, out.code)
	})
	t.Run("the handler sees no Impersonate header", func(t *testing.T) {
		out := runImpersonation(ours(all), http.Header{"Impersonate-User": {"bob"}, "Impersonate-Extra-A": {"1"}, "impersonate-group": {"g"}})
		assert.Equal(t, http.StatusOK, out.code)
		assert.Equal(t, "bob", out.name)
		assert.Empty(t, out.impersonationHeaders)
	})
	t.Run("no impersonation", func(t *testing.T) {
		out := runImpersonation(ours(impersonationPolicy{}), http.Header{})
		assert.Equal(t, http.StatusOK, out.code)
		assert.Equal(t, "alice", out.name)
	})
	t.Run("a failed check is 503, too many in flight 429", func(t *testing.T) {
		out := runImpersonation(ours(impersonationPolicy{err: errors.New("unreachable")}), http.Header{"Impersonate-User": {"bob"}})
		assert.Equal(t, http.StatusServiceUnavailable, out.code)
		out = runImpersonation(ours(impersonationPolicy{err: authzTooMany}), http.Header{"Impersonate-User": {"bob"}})
		assert.Equal(t, http.StatusTooManyRequests, out.code)
	})
	t.Run("the request is authorized as the impersonated user", func(t *testing.T) {
		var seen authorizer.Attributes
		az := authorizer.AuthorizerFunc(func(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
			if a.GetVerb() == "impersonate" {
				return authorizer.DecisionAllow, "", nil
			}
			seen = a
			return authorizer.DecisionNoOpinion, "", nil
		})
		f := newAuthnFixture(t, false)
		chain, err := middleware.NewChain(middleware.ChainOptions{
			Authentication: middleware.AuthenticationOptions{Authenticator: f.union},
			Authorization:  middleware.AuthorizationOptions{Authorizer: az},
		})
		require.NoError(t, err)
		res := serveCase(chain.Handler(http.NotFoundHandler()), parityCase{method: "GET", target: "/apis/g.io/v1/widgets",
			header: http.Header{"X-Remote-User": {"alice"}, "Impersonate-User": {"bob"}}, certs: nil})
		assert.Equal(t, http.StatusUnauthorized, res.Code, "no certificate: no user to impersonate from")
		res = serveCase(chain.Handler(http.NotFoundHandler()), parityCase{method: "GET", target: "/apis/g.io/v1/widgets",
			header: http.Header{"Impersonate-User": {"bob"}}, certs: nil})
		assert.Equal(t, http.StatusUnauthorized, res.Code)
		req := httptest.NewRequest("GET", "/apis/g.io/v1/widgets", nil)
		req.Header = http.Header{"Impersonate-User": {"bob"}}
		rec := httptest.NewRecorder()
		ra, _ := middleware.NewRequestAttributes(middleware.RequestAttributesOptions{})
		authorization, err := middleware.NewAuthorization(middleware.AuthorizationOptions{Authorizer: az})
		require.NoError(t, err)
		h := ra.Handler(ours(az)(authorization.Handler(http.NotFoundHandler())))
		h.ServeHTTP(rec, withUser(req, alice))
		assert.Equal(t, http.StatusForbidden, rec.Code)
		require.NotNil(t, seen)
		assert.Equal(t, "bob", seen.GetUser().GetName())
		assert.Contains(t, testutil.RecordedStatus(t, rec).Message, `User "bob" cannot list resource "widgets"`)
	})
}

// TestForbiddenMatchesKubernetes holds the 403 message equal to
// responsewriters.ForbiddenStatusError's, through kube-apiserver's own
// authorization filter.
func TestForbiddenMatchesKubernetes(t *testing.T) {
	deny := authorizer.AuthorizerFunc(func(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
		return authorizer.DecisionDeny, "reason <b>&", nil
	})
	targets := []string{"/api/v1/namespaces/ns/pods/p", "/api/v1/pods", "/apis/apps/v1/namespaces/ns/deployments/d/scale",
		"/healthz", "/apis/g.io/v1/namespaces/<x>/widgets", "/metrics?x=1"}
	for _, target := range targets {
		for _, method := range []string{"GET", "POST", "DELETE"} {
			req := withUser(httptest.NewRequest(method, target, nil), &user.DefaultInfo{Name: "a&<b>"})
			ours := httptest.NewRecorder()
			requestAttributes(authorize(t, deny, middleware.AuthorizationOptions{})(http.NotFoundHandler())).ServeHTTP(ours, req)
			theirs := httptest.NewRecorder()
			filters.WithRequestInfo(filters.WithAuthorization(http.NotFoundHandler(), deny, scheme.Codecs), kubeResolver).ServeHTTP(theirs, req)
			if theirs.Code == http.StatusBadRequest || ours.Code == http.StatusBadRequest {
				continue
			}
			require.Equal(t, theirs.Code, ours.Code, target)
			want, got := testutil.RecordedStatus(t, theirs), testutil.RecordedStatus(t, ours)
			assert.Equal(t, want.Message, got.Message, method+" "+target)
			assert.Equal(t, want.Details, got.Details, method+" "+target)
		}
	}
}

// TestImpersonatedNodeAndServiceAccountGroups: the groups a node or service
// account user gets when impersonated without Impersonate-Group. Under legacy
// grants (the verb impersonate on users or serviceaccounts) they are
// Kubernetes' in both its filters. A caller also granted KEP-5284's verbs
// (impersonate:node, as an admin allowed everything is) takes kube-apiserver's
// constrained node mode, which gives system:nodes; this step implements the
// legacy checks only and gives system:authenticated alone: the deliberate
// difference, which can only narrow what RBAC grants the node (fail closed).
// Through the aggregator kube-apiserver resolves impersonation itself.
func TestImpersonatedNodeAndServiceAccountGroups(t *testing.T) {
	legacyGrant := impersonationPolicy{resources: []string{"users", "serviceaccounts"}}
	everything := impersonationPolicy{resources: []string{"users", "serviceaccounts"}, constrained: true}
	sa := []string{"system:serviceaccounts", "system:serviceaccounts:ns1", "system:authenticated"}
	tests := []struct {
		name           string
		policy         impersonationPolicy
		user           string
		want           []string
		wantKubernetes []string // the constrained filter's, when it differs
	}{
		{"node, legacy grant", legacyGrant, "system:node:n1", []string{"system:authenticated"}, nil},
		{"service account, legacy grant", legacyGrant, "system:serviceaccount:ns1:sa", sa, nil},
		{"node, every verb granted", everything, "system:node:n1", []string{"system:authenticated"},
			[]string{"system:nodes", "system:authenticated"}},
		{"service account, every verb granted", everything, "system:serviceaccount:ns1:sa", sa, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{"Impersonate-User": {tt.user}}
			constrained := func(next http.Handler) http.Handler {
				return impersonation.WithConstrainedImpersonation(next, tt.policy, scheme.Codecs)
			}
			got, k8s := runImpersonation(ours(tt.policy), h), runImpersonation(constrained, h)
			require.Equal(t, http.StatusOK, got.code)
			require.Equal(t, http.StatusOK, k8s.code)
			assert.Equal(t, tt.want, got.groups)
			want := tt.want
			if tt.wantKubernetes != nil {
				want = tt.wantKubernetes
			}
			assert.Equal(t, want, k8s.groups, "kube-apiserver's constrained filter")
		})
	}
}
