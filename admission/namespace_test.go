package admission

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

const terminatingMessage = `widgets.example.com "Unknown" is forbidden: ` +
	`unable to create new content in namespace doomed because it is being terminated`

func TestNamespaceLifecycleCreate(t *testing.T) {
	podCreate := &authorizer.AttributesRecord{Verb: "create", Namespace: "doomed", APIVersion: "v1",
		Resource: "pods", ResourceRequest: true}
	eviction := &authorizer.AttributesRecord{Verb: "create", Namespace: "doomed", APIVersion: "v1",
		Resource: "pods", Subresource: "eviction", Name: "p1", ResourceRequest: true}
	tests := []struct {
		name     string
		attrs    authorizer.Attributes
		code     int32 // 0: admitted
		reason   metav1.StatusReason
		message  string
		wantGets int
	}{
		{name: "existing namespace accepts", attrs: createIn("live")},
		{name: "missing namespace is 404", attrs: createIn("missing"), code: 404,
			reason: metav1.StatusReasonNotFound, message: `namespaces "missing" not found`, wantGets: 1},
		{name: "terminating namespace is 403", attrs: createIn("doomed"), code: 403,
			reason: metav1.StatusReasonForbidden, message: terminatingMessage},
		{name: "terminating, core group", attrs: podCreate, code: 403, reason: metav1.StatusReasonForbidden,
			message: `pods "Unknown" is forbidden: unable to create new content in namespace doomed because it is being terminated`},
		{name: "terminating, subresource with a name", attrs: eviction, code: 403, reason: metav1.StatusReasonForbidden,
			message: `pods "p1" is forbidden: unable to create new content in namespace doomed because it is being terminated`},
	}
	for _, be := range backends {
		for _, tt := range tests {
			t.Run(be.name+"/"+tt.name, func(t *testing.T) {
				b := be.new(t, namespace("live", corev1.NamespaceActive), namespace("doomed", corev1.NamespaceTerminating))
				l := newLifecycle(t, b, NamespaceLifecycleOptions{})
				startLifecycle(t, l)

				err := l.Admit(context.Background(), tt.attrs)
				if tt.code == 0 {
					require.NoError(t, err)
				} else {
					requireStatus(t, err, tt.code, tt.reason, tt.message)
				}
				assert.Equal(t, tt.wantGets, b.gets(), "live GETs")
			})
		}
	}
}

func TestNamespaceLifecycleStatusDetails(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			b := be.new(t, namespace("doomed", corev1.NamespaceTerminating))
			l := newLifecycle(t, b, NamespaceLifecycleOptions{})
			startLifecycle(t, l)

			st := requireStatus(t, l.Admit(context.Background(), createIn("doomed")),
				403, metav1.StatusReasonForbidden, terminatingMessage)
			require.NotNil(t, st.Details)
			assert.Equal(t, metav1.StatusDetails{
				Name: "Unknown", Group: "example.com", Kind: "widgets",
				Causes: []metav1.StatusCause{{
					Type:    corev1.NamespaceTerminatingCause,
					Message: "namespace doomed is being terminated",
					Field:   "metadata.namespace",
				}},
			}, *st.Details)

			st = requireStatus(t, l.Admit(context.Background(), createIn("gone")),
				404, metav1.StatusReasonNotFound, `namespaces "gone" not found`)
			assert.Equal(t, metav1.StatusDetails{Name: "gone", Kind: "namespaces"}, *st.Details)
		})
	}
}

func TestNamespaceCreatedAfterStartup(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			b := be.new(t)
			l := newLifecycle(t, b, NamespaceLifecycleOptions{})
			startLifecycle(t, l)

			b.put(t, namespace("late", corev1.NamespaceActive))
			require.NoError(t, l.Admit(context.Background(), createIn("late")),
				"informer or live GET finds it")

			// Remembered as missing, then created: accepted once the informer sees it.
			requireStatus(t, l.Admit(context.Background(), createIn("later")),
				404, metav1.StatusReasonNotFound, `namespaces "later" not found`)
			gets := b.gets()
			b.put(t, namespace("later", corev1.NamespaceActive))
			waitInformer(t, l, "later", func(*corev1.Namespace) bool { return true })
			require.NoError(t, l.Admit(context.Background(), createIn("later")))
			assert.Equal(t, gets, b.gets(), "no live GET once the informer knows it")
		})
	}
}

func TestNamespaceStartsTerminating(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			b := be.new(t, namespace("doomed", corev1.NamespaceActive))
			l := newLifecycle(t, b, NamespaceLifecycleOptions{})
			startLifecycle(t, l)
			require.NoError(t, l.Admit(context.Background(), createIn("doomed")))

			b.put(t, namespace("doomed", corev1.NamespaceTerminating))
			waitInformer(t, l, "doomed", func(ns *corev1.Namespace) bool {
				return ns.Status.Phase == corev1.NamespaceTerminating
			})
			requireStatus(t, l.Admit(context.Background(), createIn("doomed")),
				403, metav1.StatusReasonForbidden, terminatingMessage)
			assert.Zero(t, b.gets(), "live GETs")
		})
	}
}

func TestNamespaceLookupError(t *testing.T) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			b := be.new(t)
			l := newLifecycle(t, b, NamespaceLifecycleOptions{})
			startLifecycle(t, l)
			b.failGets()

			for i := 1; i <= 2; i++ {
				err := l.Admit(context.Background(), createIn("missing"))
				st := requireStatus(t, err, 500, metav1.StatusReasonInternalError, err.Error())
				assert.Contains(t, st.Message, `looking up namespace "missing"`)
				assert.Contains(t, st.Message, errBackend.Error())
				assert.Equal(t, i, b.gets(), "a failure is not cached")
			}
		})
	}
}

func TestUncheckedRequestsPass(t *testing.T) {
	into := func(verb string) *authorizer.AttributesRecord {
		a := createIn("missing")
		a.Verb, a.Name = verb, "w1"
		return a
	}
	tests := []struct {
		name  string
		attrs *authorizer.AttributesRecord
	}{
		{"update", into("update")},
		{"patch", into("patch")},
		{"delete", into("delete")},
		{"deletecollection", into("deletecollection")},
		{"get", into("get")},
		{"list", into("list")},
		{"watch", into("watch")},
		{"connect (proxy)", into("proxy")},
		{"cluster-scoped create", &authorizer.AttributesRecord{Verb: "create", APIGroup: "example.com",
			APIVersion: "v1", Resource: "clusterwidgets", ResourceRequest: true}},
		{"create on core namespaces", &authorizer.AttributesRecord{Verb: "create", Namespace: "missing",
			APIVersion: "v1", Resource: "namespaces", Subresource: "finalize", Name: "missing", ResourceRequest: true}},
		{"localsubjectaccessreviews", &authorizer.AttributesRecord{Verb: "create", Namespace: "missing",
			APIGroup: "authorization.k8s.io", APIVersion: "v1", Resource: "localsubjectaccessreviews", ResourceRequest: true}},
		{"non-resource post", &authorizer.AttributesRecord{Verb: "create", Namespace: "missing", Path: "/hooks/missing"}},
	}
	for _, be := range backends {
		for _, tt := range tests {
			t.Run(be.name+"/"+tt.name, func(t *testing.T) {
				b := be.new(t)
				// Never started: a checked request would wait for the sync.
				l := newLifecycle(t, b, NamespaceLifecycleOptions{})
				require.NoError(t, l.Admit(context.Background(), tt.attrs))
				assert.Zero(t, b.gets(), "live GETs")
			})
		}
	}
}

func TestNewNamespaceLifecycleErrors(t *testing.T) {
	b := newFakeClientsetBackend(t)
	tests := []struct {
		name string
		opts NamespaceLifecycleOptions
		want string
	}{
		{"no client", NamespaceLifecycleOptions{}, "admission: NamespaceLifecycleOptions.Client is required"},
		{"negative cache size", NamespaceLifecycleOptions{Client: b.client(), NegativeCacheSize: -1},
			"admission: NegativeCacheSize, MaxLookups and MaxLookupsPerUser must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewNamespaceLifecycle(tt.opts)
			require.EqualError(t, err, tt.want)
		})
	}
}

// otherAttributes is an authorizer.Attributes that is not an AttributesRecord.
type otherAttributes struct{ authorizer.Attributes }

func TestCheckedNamespace(t *testing.T) {
	record := func(verb, ns, group, resource string, resourceRequest bool) *authorizer.AttributesRecord {
		return &authorizer.AttributesRecord{Verb: verb, Namespace: ns, APIGroup: group, Resource: resource,
			ResourceRequest: resourceRequest}
	}
	tests := []struct {
		name   string
		attrs  *authorizer.AttributesRecord
		wantNS string
		want   bool
	}{
		{"namespaced create", record("create", "ns1", "example.com", "widgets", true), "ns1", true},
		{"core namespaced create", record("create", "ns1", "", "pods", true), "ns1", true},
		{"authorization group, other resource", record("create", "ns1", "authorization.k8s.io", "widgets", true), "ns1", true},
		{"update", record("update", "ns1", "example.com", "widgets", true), "", false},
		{"cluster-scoped", record("create", "", "example.com", "widgets", true), "", false},
		{"non-resource", record("create", "ns1", "", "", false), "", false},
		{"core namespaces", record("create", "ns1", "", "namespaces", true), "", false},
		{"namespaces of another group", record("create", "ns1", "example.com", "namespaces", true), "ns1", true},
		{"localsubjectaccessreviews", record("create", "ns1", "authorization.k8s.io", "localsubjectaccessreviews", true), "", false},
	}
	for _, tt := range tests {
		for _, form := range []struct {
			name  string
			attrs authorizer.Attributes
		}{{"record", tt.attrs}, {"interface", otherAttributes{tt.attrs}}} {
			t.Run(tt.name+"/"+form.name, func(t *testing.T) {
				ns, ok := checkedNamespace(form.attrs)
				assert.Equal(t, tt.want, ok, "checked")
				assert.Equal(t, tt.wantNS, ns, "namespace")
			})
		}
	}
}
