package aggauthtest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	authorizationv1 "k8s.io/api/authorization/v1"
)

func resource(user string, groups []string, verb, group, res, sub, ns, name string) authorizationv1.SubjectAccessReviewSpec {
	return authorizationv1.SubjectAccessReviewSpec{User: user, Groups: groups, ResourceAttributes: &authorizationv1.ResourceAttributes{
		Verb: verb, Group: group, Resource: res, Subresource: sub, Namespace: ns, Name: name,
	}}
}

func nonResource(user, verb, path string) authorizationv1.SubjectAccessReviewSpec {
	return authorizationv1.SubjectAccessReviewSpec{User: user, NonResourceAttributes: &authorizationv1.NonResourceAttributes{Verb: verb, Path: path}}
}

func TestRuleMatches(t *testing.T) {
	aliceLists := resource("alice", nil, "list", "demo.io", "widgets", "", "default", "")
	tests := []struct {
		name string
		rule Rule
		spec authorizationv1.SubjectAccessReviewSpec
		want bool
	}{
		{"empty rule, resource", Rule{}, aliceLists, true},
		{"empty rule, path", Rule{}, nonResource("alice", "get", "/metrics"), true},
		{"user", Rule{Users: []string{"alice"}}, aliceLists, true},
		{"other user", Rule{Users: []string{"bob"}}, aliceLists, false},
		{"any user", Rule{Users: []string{"*"}}, aliceLists, true},
		{"group", Rule{Groups: []string{"devs"}}, resource("bob", []string{"x", "devs"}, "get", "", "pods", "", "a", "p"), true},
		{"not in group", Rule{Groups: []string{"devs"}}, aliceLists, false},
		{"user or group", Rule{Users: []string{"alice"}, Groups: []string{"devs"}}, aliceLists, true},
		{"verb", Rule{Verbs: []string{"get", "list"}}, aliceLists, true},
		{"other verb", Rule{Verbs: []string{"create"}}, aliceLists, false},
		{"API group", Rule{APIGroups: []string{"demo.io"}}, aliceLists, true},
		{"core group", Rule{APIGroups: []string{""}}, aliceLists, false},
		{"resource", Rule{Resources: []string{"widgets"}}, aliceLists, true},
		{"subresource needs its name", Rule{Resources: []string{"widgets"}},
			resource("alice", nil, "get", "demo.io", "widgets", "status", "default", "w"), false},
		{"subresource", Rule{Resources: []string{"widgets/status"}},
			resource("alice", nil, "get", "demo.io", "widgets", "status", "default", "w"), true},
		{"names: a list without a name", Rule{ResourceNames: []string{"w"}}, aliceLists, false},
		{"names: a list of that name", Rule{ResourceNames: []string{"w"}},
			resource("alice", nil, "list", "demo.io", "widgets", "", "default", "w"), true},
		{"namespace", Rule{Namespaces: []string{"default"}}, aliceLists, true},
		{"other namespace", Rule{Namespaces: []string{"kube-system"}}, aliceLists, false},
		{"cluster scope", Rule{Namespaces: []string{""}}, resource("alice", nil, "list", "", "nodes", "", "", ""), true},
		{"resource rule, path", Rule{Resources: []string{"*"}}, nonResource("alice", "get", "/metrics"), false},
		{"path rule, resource", Rule{NonResourceURLs: []string{"*"}}, aliceLists, false},
		{"path", Rule{NonResourceURLs: []string{"/metrics"}}, nonResource("alice", "get", "/metrics"), true},
		{"other path", Rule{NonResourceURLs: []string{"/metrics"}}, nonResource("alice", "get", "/metricsx"), false},
		{"path prefix", Rule{NonResourceURLs: []string{"/debug/*"}}, nonResource("alice", "get", "/debug/pprof"), true},
		{"path verb", Rule{Verbs: []string{"get"}, NonResourceURLs: []string{"/metrics"}}, nonResource("alice", "post", "/metrics"), false},
		{"neither kind", Rule{}, authorizationv1.SubjectAccessReviewSpec{User: "alice"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.rule.matches(tt.spec), "got %v; want %v", !tt.want, tt.want)
		})
	}
}

func TestRuleValidate(t *testing.T) {
	tests := []struct {
		name    string
		rule    Rule
		wantErr string
	}{
		{"empty", Rule{}, ""},
		{"paths", Rule{NonResourceURLs: []string{"/metrics", "/debug/*", "*"}}, ""},
		{"both kinds", Rule{Resources: []string{"pods"}, NonResourceURLs: []string{"/metrics"}}, "both"},
		{"relative path", Rule{NonResourceURLs: []string{"metrics"}}, "does not start with /"},
		{"inner star", Rule{NonResourceURLs: []string{"/a*/b"}}, "before its end"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.rule.validate()
			if tt.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			assert.ErrorContains(t, err, tt.wantErr)
		})
	}
}

// TestReviewsBounded: the cluster keeps the last MaxKeptReviews reviews.
func TestReviewsBounded(t *testing.T) {
	c := &Cluster{}
	for i := range MaxKeptReviews + 5 {
		_, _ = c.authorize(authorizationv1.SubjectAccessReviewSpec{User: string(rune('a' + i%26))})
	}
	got := c.Reviews()
	assert.LessOrEqual(t, len(got), MaxKeptReviews, "got %d reviews; want at most %d", len(got), MaxKeptReviews)
	assert.Equal(t, string(rune('a'+(MaxKeptReviews+4)%26)), got[len(got)-1].User, "the last review is kept")
}
