package authz_test

import (
	"context"
	"fmt"
	"net/http/httptest"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/aggauth/aggauth/authz"
	"github.com/aggauth/aggauth/requestinfo"
)

// readOnlyReviewer stands in for kube-apiserver: it allows read-only verbs.
type readOnlyReviewer struct{}

func (readOnlyReviewer) Create(_ context.Context, sar *authorizationv1.SubjectAccessReview, _ metav1.CreateOptions) (*authorizationv1.SubjectAccessReview, error) {
	out := sar.DeepCopy()
	switch sar.Spec.ResourceAttributes.Verb {
	case "get", "list", "watch":
		out.Status = authorizationv1.SubjectAccessReviewStatus{Allowed: true, Reason: "read-only access"}
	default:
		out.Status = authorizationv1.SubjectAccessReviewStatus{Reason: "no rule allows it"}
	}
	return out, nil
}

func ExampleNew() {
	// In a cluster, the client comes from the service account:
	//   cfg, err := rest.InClusterConfig()
	//   client, err := authz.NewReviewClient(cfg, authz.ReviewClientOptions{})
	a, err := authz.New(authz.Options{Client: readOnlyReviewer{}})
	if err != nil {
		panic(err)
	}
	alice := &user.DefaultInfo{Name: "alice", Groups: []string{"system:authenticated"}}
	for _, r := range []struct{ method, target string }{
		{"GET", "/apis/widgets.example.com/v1/namespaces/team-a/widgets?labelSelector=app%3Dweb"},
		{"DELETE", "/apis/widgets.example.com/v1/namespaces/team-a/widgets/w1"},
	} {
		attrs, err := requestinfo.NewAttributes(httptest.NewRequest(r.method, r.target, nil), alice)
		if err != nil {
			panic(err)
		}
		decision, reason, err := a.Authorize(context.Background(), attrs)
		fmt.Printf("%s %s: allowed=%t (%s) err=%v\n", attrs.GetVerb(), attrs.GetResource(), decision == authorizer.DecisionAllow, reason, err)
	}
	fmt.Println("reviews sent:", a.ReviewsSent())
	// Output:
	// list widgets: allowed=true (read-only access) err=<nil>
	// delete widgets: allowed=false (no rule allows it) err=<nil>
	// reviews sent: 2
}
