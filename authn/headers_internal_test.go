package authn

import (
	"net/http"
	"testing"
)

// TestExtraIsTheRequestsOwn: each request's extra map is its own, as with
// Kubernetes' requestheader authenticator. A handler (or a filter after
// authentication) that annotates its own user changes no other request's
// identity, which would flow into that request's SubjectAccessReviews and
// cache keys; shared maps were tried, and this attack found them.
func TestExtraIsTheRequestsOwn(t *testing.T) {
	c := compileHeaders(NewRequestHeaderConfig(nil))
	decode := func(name string) map[string][]string {
		resp, ok, _ := c.decode(http.Header{
			"X-Remote-User": {name},
			"X-Remote-Extra-Authentication.k8s.io%2fcredential-id": {"JTI=shared"},
		}, 1, true)
		if !ok {
			t.Fatalf("%s: not decoded", name)
		}
		return resp.User.GetExtra()
	}
	alice := decode("alice")
	alice["example.com/approved-by"] = []string{"alice"}
	alice["authentication.k8s.io/credential-id"][0] = "changed"
	bob := decode("bob")
	if len(bob) != 1 || bob["authentication.k8s.io/credential-id"][0] != "JTI=shared" {
		t.Fatalf("bob's identity carries what alice's request stored in hers: %v", bob)
	}
}
