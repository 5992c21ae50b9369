package bench

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8sadmission "k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/admission/plugin/namespace/lifecycle"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/aggauth/aggauth/admission"
	"github.com/aggauth/aggauth/middleware"
)

// admissionNamespaces is the informer content of the admission benchmarks:
// 100 active namespaces team-0 ... team-99.
const admissionNamespaces = 100

// admissionTarget is the namespace the benchmarked creates go to.
const admissionTarget = "team-42"

// admissionSetup returns our NamespaceLifecycle and Kubernetes' plugin, both
// reading one synced shared informer factory over the same fake clientset.
func admissionSetup(b *testing.B) (*admission.NamespaceLifecycle, *lifecycle.Lifecycle) {
	b.Helper()
	objs := make([]runtime.Object, 0, admissionNamespaces)
	for i := range admissionNamespaces {
		objs = append(objs, &corev1.Namespace{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("team-%d", i)},
			Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceActive},
		})
	}
	client := fake.NewClientset(objs...)
	factory := informers.NewSharedInformerFactory(client, 0)

	ours, err := admission.NewNamespaceLifecycle(admission.NamespaceLifecycleOptions{
		Client: client, InformerFactory: factory,
	})
	if err != nil {
		b.Fatal(err)
	}
	theirs, err := lifecycle.NewLifecycle(nil)
	if err != nil {
		b.Fatal(err)
	}
	theirs.SetExternalKubeInformerFactory(factory)
	theirs.SetExternalKubeClientSet(client)
	if err := theirs.ValidateInitialization(); err != nil {
		b.Fatal(err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(func() {
		cancel()
		factory.Shutdown()
	})
	factory.Start(ctx.Done())
	if res := factory.WaitForCacheSyncWithContext(ctx); res.Err != nil {
		b.Fatal(res.Err)
	}
	return ours, theirs
}

// admissionAttrs returns the attributes of a create of a widget in ns, in our
// form and in Kubernetes' admission form.
func admissionAttrs(ns string) (*authorizer.AttributesRecord, k8sadmission.Attributes) {
	u := &user.DefaultInfo{Name: "alice", Groups: []string{"dev", "system:authenticated"}}
	ours := &authorizer.AttributesRecord{
		User: u, Verb: "create", Namespace: ns, APIGroup: "example.com", APIVersion: "v1",
		Resource: "widgets", ResourceRequest: true, Path: "/apis/example.com/v1/namespaces/" + ns + "/widgets",
	}
	theirs := k8sadmission.NewAttributesRecord(nil, nil,
		schema.GroupVersionKind{Group: "example.com", Version: "v1", Kind: "Widget"}, ns, "",
		schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}, "",
		k8sadmission.Create, &metav1.CreateOptions{}, false, u)
	return ours, theirs
}

// BenchmarkAdmitNamespace is a create into an existing namespace, answered
// from the informer: our NamespaceLifecycle.Admit against k8s.io/apiserver's
// NamespaceLifecycle plugin Admit, on the same informer.
func BenchmarkAdmitNamespace(b *testing.B) {
	ours, theirs := admissionSetup(b)
	oursAttrs, theirsAttrs := admissionAttrs(admissionTarget)
	ctx := context.Background()

	b.Run("impl=aggauth", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := ours.Admit(ctx, oursAttrs); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("impl=kubernetes", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := theirs.Admit(ctx, theirsAttrs, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkAdmitNamespaceMissing is the hostile case: creates into a namespace
// that does not exist. Ours answers from its negative cache after one live GET;
// Kubernetes sleeps 50ms and makes a live GET on every create.
func BenchmarkAdmitNamespaceMissing(b *testing.B) {
	ours, theirs := admissionSetup(b)
	oursAttrs, theirsAttrs := admissionAttrs("missing")
	ctx := context.Background()

	b.Run("impl=aggauth", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := ours.Admit(ctx, oursAttrs); err == nil {
				b.Fatal("admitted a create into a missing namespace")
			}
		}
	})
	b.Run("impl=kubernetes", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := theirs.Admit(ctx, theirsAttrs, nil); err == nil {
				b.Fatal("admitted a create into a missing namespace")
			}
		}
	})
}

// admissionDiscard is a ResponseWriter that keeps nothing.
type admissionDiscard struct{ h http.Header }

func (d *admissionDiscard) Header() http.Header         { return d.h }
func (d *admissionDiscard) Write(p []byte) (int, error) { return len(p), nil }
func (d *admissionDiscard) WriteHeader(int)             {}

// BenchmarkAdmitMiddleware is the Admit middleware with NamespaceLifecycle on
// a create into an existing namespace, against the bare handler.
func BenchmarkAdmitMiddleware(b *testing.B) {
	ours, _ := admissionSetup(b)
	step, err := middleware.NewAdmission(middleware.AdmissionOptions{Admission: ours})
	if err != nil {
		b.Fatal(err)
	}
	admit := step.Handler
	bare := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusCreated) })
	path := "/apis/example.com/v1/namespaces/" + admissionTarget + "/widgets"
	req, _ := http.NewRequest(http.MethodPost, path, nil)
	ctx := request.WithUser(req.Context(), &user.DefaultInfo{Name: "alice"})
	ctx = request.WithRequestInfo(ctx, &request.RequestInfo{
		IsResourceRequest: true, Path: path, Verb: "create", APIPrefix: "apis", APIGroup: "example.com",
		APIVersion: "v1", Namespace: admissionTarget, Resource: "widgets",
		Parts: []string{"widgets"},
	})
	req = req.WithContext(ctx)
	w := &admissionDiscard{h: http.Header{}}

	for _, c := range []struct {
		name string
		h    http.Handler
	}{{"impl=none", bare}, {"impl=aggauth", admit(bare)}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.h.ServeHTTP(w, req)
			}
		})
	}
}
