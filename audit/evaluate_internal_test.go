package audit

import (
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/apiserver/pkg/audit/policy"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/request"
	"sigs.k8s.io/yaml"
)

// Pools the random policies and requests draw from, wildcards included.
var (
	poolUsers     = []string{"alice", "bob", "system:anonymous", "system:serviceaccount:ns:sa", ""}
	poolGroups    = []string{"devs", "ops", "system:authenticated", "system:unauthenticated", "system:masters"}
	poolVerbs     = []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", "impersonate"}
	poolAPIGroups = []string{"", "apps", "demo.example.com", "*"}
	poolResources = []string{"pods", "widgets", "secrets", "pods/log", "widgets/status", "*", "*/status", "pods/*", "widgets/scale", "*/scale"}
	poolNames     = []string{"w1", "quiet", ""}
	poolNS        = []string{"", "team-a", "kube-system"}
	poolPaths     = []string{"/healthz", "/healthz/etcd", "/metrics", "/apis", "/apis/demo.example.com", "/version", "/", "/logs/x"}
	poolURLs      = []string{"/healthz", "/healthz*", "/metrics", "/apis*", "*", "/version", "/logs/*", "/"}
	poolLevels    = []auditv1.Level{auditv1.LevelNone, auditv1.LevelMetadata, auditv1.LevelRequest, auditv1.LevelRequestResponse}
	poolStages    = []auditv1.Stage{auditv1.StageRequestReceived, auditv1.StageResponseStarted, auditv1.StageResponseComplete, auditv1.StagePanic}
)

func pick[T any](r *rand.Rand, pool []T) T { return pool[r.IntN(len(pool))] }

// some returns up to max distinct-ish values of pool (often none).
func some[T any](r *rand.Rand, pool []T, max int) []T {
	var out []T
	for range r.IntN(max + 1) {
		out = append(out, pick(r, pool))
	}
	return out
}

func randomPolicy(r *rand.Rand) *auditv1.Policy {
	p := &auditv1.Policy{OmitStages: some(r, poolStages, 2), OmitManagedFields: r.IntN(2) == 0}
	for range 1 + r.IntN(6) {
		rule := auditv1.PolicyRule{Level: pick(r, poolLevels), Users: some(r, poolUsers[:4], 2),
			UserGroups: some(r, poolGroups, 2), Verbs: some(r, poolVerbs, 3), OmitStages: some(r, poolStages, 2)}
		if b := r.IntN(3); b == 0 {
			rule.OmitManagedFields = &[]bool{true, false}[r.IntN(2)]
		}
		switch r.IntN(3) {
		case 0:
			rule.NonResourceURLs = some(r, poolURLs, 3)
		case 1:
			rule.Namespaces = some(r, poolNS, 2)
			for range r.IntN(3) {
				gr := auditv1.GroupResources{Group: pick(r, poolAPIGroups), Resources: some(r, poolResources, 3)}
				if len(gr.Resources) > 0 && r.IntN(3) == 0 {
					gr.ResourceNames = some(r, poolNames[:2], 2)
				}
				rule.Resources = append(rule.Resources, gr)
			}
		}
		p.Rules = append(p.Rules, rule)
	}
	return p
}

func randomRequest(r *rand.Rand) (user.Info, *request.RequestInfo) {
	var u user.Info
	if name := pick(r, poolUsers); name != "" || r.IntN(2) == 0 {
		u = &user.DefaultInfo{Name: name, Groups: some(r, poolGroups, 3)}
	}
	info := &request.RequestInfo{Verb: pick(r, poolVerbs)}
	if r.IntN(3) == 0 {
		info.Path = pick(r, poolPaths)
		return u, info
	}
	info.IsResourceRequest = true
	info.APIGroup = pick(r, poolAPIGroups[:3])
	info.APIVersion = "v1"
	info.Namespace = pick(r, poolNS)
	info.Name = pick(r, poolNames)
	res := pick(r, []string{"pods", "widgets", "secrets", "pods/log", "widgets/status", "widgets/scale", "deployments/scale"})
	info.Resource, info.Subresource, _ = strings.Cut(res, "/")
	return u, info
}

// TestEvaluatorMatchesKubernetes evaluates random requests against random
// policies (users, groups, verbs, resources with wildcards and subresources,
// names, namespaces, non-resource URLs, levels, omitted stages at both
// levels, omitManagedFields) with Kubernetes' policy package and with ours:
// the same level, stages and omitManagedFields every time.
func TestEvaluatorMatchesKubernetes(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const policies, requests = 300, 300
	matched := map[auditv1.Level]int{}
	for i := range policies {
		p := randomPolicy(r)
		doc, err := yaml.Marshal(p)
		require.NoError(t, err)
		doc = []byte("apiVersion: audit.k8s.io/v1\nkind: Policy\n" + string(doc))
		kp, kerr := policy.LoadPolicyFromBytes(doc)
		op, oerr := loadPolicy(doc, slog.New(slog.DiscardHandler))
		require.Equal(t, kerr == nil, oerr == nil, "policy %d accepted alike: kubernetes %v, ours %v\n%s", i, kerr, oerr, doc)
		if kerr != nil {
			continue
		}
		theirs, ours := policy.NewPolicyRuleEvaluator(kp), newEvaluator(op)
		for range requests {
			u, info := randomRequest(r)
			want := theirs.EvaluatePolicyRule(attributesOf(u, info))
			got := ours.evaluate(u, info)
			matched[got.level]++
			ok := assert.Equal(t, string(want.Level), string(got.level), "level") &&
				assert.Equal(t, stagesOfV1(want.OmitStages), got.omit, "omitted stages") &&
				assert.Equal(t, want.OmitManagedFields, got.omitManagedFields, "omitManagedFields")
			if !ok {
				t.Fatalf("policy:\n%s\nuser %v, request %+v", doc, u, info)
			}
		}
	}
	t.Logf("%d policies × %d requests; levels: %v", policies, requests, matched)
	for _, l := range poolLevels {
		assert.Greater(t, matched[l], policies, "level %s is exercised", l)
	}
}

func stagesOfV1[S ~string](list []S) stages {
	var s stages
	for _, st := range list {
		s |= stageBit(auditv1.Stage(st))
	}
	return s
}

func attributesOf(u user.Info, info *request.RequestInfo) authorizer.Attributes {
	return &authorizer.AttributesRecord{User: u, Verb: info.Verb, Namespace: info.Namespace, APIGroup: info.APIGroup,
		APIVersion: info.APIVersion, Resource: info.Resource, Subresource: info.Subresource, Name: info.Name,
		ResourceRequest: info.IsResourceRequest, Path: info.Path}
}

// TestLoadPolicyMatchesKubernetes loads good and bad policies with both: the
// same are accepted.
func TestLoadPolicyMatchesKubernetes(t *testing.T) {
	tests := []struct {
		name, doc string
		ok        bool
	}{
		{"minimal", "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n", true},
		{"json", `{"apiVersion":"audit.k8s.io/v1","kind":"Policy","rules":[{"level":"None"}]}`, true},
		{"unknown field: lenient", "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n  colour: blue\n", true},
		{"duplicate field: lenient", "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n  level: None\n", true},
		{"no rules", "apiVersion: audit.k8s.io/v1\nkind: Policy\n", false},
		{"bad level", "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Everything\n", false},
		{"bad stage", "apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [Later]\nrules:\n- level: Metadata\n", false},
		{"resources and URLs", "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n  nonResourceURLs: [/x]\n  resources: [{group: \"\"}]\n", false},
		{"bad URL", "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n  nonResourceURLs: [x]\n", false},
		{"v1beta1", "apiVersion: audit.k8s.io/v1beta1\nkind: Policy\nrules:\n- level: Metadata\n", false},
		{"no kind: the type decoded into", "apiVersion: audit.k8s.io/v1\nrules:\n- level: Metadata\n", true},
		{"wrong kind", "apiVersion: audit.k8s.io/v1\nkind: Event\nlevel: Metadata\n", false},
		{"not YAML", "{{{", false},
		{"resourceNames with wildcard", "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n  resources: [{group: \"\", resources: [\"*\"], resourceNames: [a]}]\n", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, kerr := policy.LoadPolicyFromBytes([]byte(tt.doc))
			_, oerr := loadPolicy([]byte(tt.doc), slog.New(slog.DiscardHandler))
			assert.Equal(t, tt.ok, kerr == nil, "kubernetes: %v", kerr)
			assert.Equal(t, tt.ok, oerr == nil, "ours: %v", oerr)
			if kerr != nil && oerr != nil {
				assert.Equal(t, kerr.Error(), oerr.Error(), "the same message")
			}
		})
	}
}

func TestConvertPolicy(t *testing.T) {
	_, err := convertPolicy(&auditv1.Policy{Rules: []auditv1.PolicyRule{{Level: "Loud"}}})
	assert.ErrorContains(t, err, "Loud")
	p, err := convertPolicy(&auditv1.Policy{OmitStages: []auditv1.Stage{auditv1.StagePanic},
		Rules: []auditv1.PolicyRule{{Level: auditv1.LevelMetadata, Verbs: []string{"get"}}}})
	require.NoError(t, err)
	c := newEvaluator(p).evaluate(nil, &request.RequestInfo{Verb: "get"})
	assert.Equal(t, requestConfig{level: auditv1.LevelMetadata, omit: stagePanic}, c)
	assert.Equal(t, fmt.Sprint(auditv1.LevelNone), string(newEvaluator(p).evaluate(nil, &request.RequestInfo{Verb: "list"}).level))
}
