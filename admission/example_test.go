package admission_test

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/aggauth/aggauth/admission"
)

func Example() {
	// In a server, the client is built from rest.InClusterConfig().
	client := fake.NewClientset(&corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{Name: "team-a"},
		Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceActive},
	})
	lifecycle, err := admission.NewNamespaceLifecycle(admission.NamespaceLifecycleOptions{Client: client})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lifecycle.Start(ctx) // requests wait for the first sync (ReadyTimeout)

	// The server's own checks run after namespace lifecycle.
	checks := admission.Checks{
		lifecycle,
		admission.Func(func(_ context.Context, a authorizer.Attributes) error {
			if a.GetVerb() == "delete" {
				gr := schema.GroupResource{Group: a.GetAPIGroup(), Resource: a.GetResource()}
				return apierrors.NewMethodNotSupported(gr, "delete")
			}
			return nil
		}),
	}

	widgets := func(verb, ns string) authorizer.Attributes {
		return &authorizer.AttributesRecord{Verb: verb, Namespace: ns, APIGroup: "example.com",
			APIVersion: "v1", Resource: "widgets", ResourceRequest: true}
	}
	for _, a := range []authorizer.Attributes{
		widgets("create", "team-a"),
		widgets("create", "team-b"),
		widgets("delete", "team-a"),
	} {
		if err := checks.Admit(ctx, a); err != nil {
			fmt.Printf("%s in %s: %s: %v\n", a.GetVerb(), a.GetNamespace(), apierrors.ReasonForError(err), err)
			continue
		}
		fmt.Printf("%s in %s: admitted\n", a.GetVerb(), a.GetNamespace())
	}
	// Output:
	// create in team-a: admitted
	// create in team-b: NotFound: namespaces "team-b" not found
	// delete in team-a: MethodNotAllowed: delete is not supported on resources of kind "widgets.example.com"
}
