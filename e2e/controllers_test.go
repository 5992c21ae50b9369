package e2e

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"

	"github.com/aggauth/aggauth/e2e/cluster"
	"github.com/aggauth/aggauth/e2e/internal/demoapi"
)

// controllersTimeout bounds each wait for kube-controller-manager's
// controllers to act: they usually do within seconds; the namespace
// controller waits 15 s before it looks again at finalizers it waits for.
const controllersTimeout = 2 * time.Minute

// quotaSyncPeriod is the quota controller's full recount period in the
// controllers' control plane (--resource-quota-sync-period, 5 minutes by
// default): kube-apiserver counts a create in a quota only for the
// resources it serves itself, so a create of an aggregated resource is
// counted at the next recount.
const quotaSyncPeriod = 10 * time.Second

var controllers struct {
	once sync.Once
	env  *env
	err  error
}

// controllersEnv returns the control plane of the scenarios about the
// cluster's own controllers and kubectl (16 to 22), starting it on first
// use; TestMain stops it. It has the example server (nethttp) registered,
// the control's CustomResourceDefinition (demoapi.CreateControl), then
// kube-controller-manager with the namespace, garbage-collector and quota
// controllers, started last so that they find both APIs at once. It is apart
// from the shared control plane so that those controllers act on nothing the
// other scenarios count.
func controllersEnv(t *testing.T) *env {
	t.Helper()
	bin := exampleBinary(t)
	controllers.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), scenarioTimeout)
		defer cancel()
		opts := clusterOptions()
		opts.Progress = testWriter{t} // only written to during Start
		c, err := cluster.Start(ctx, opts)
		if err != nil {
			controllers.err = err
			return
		}
		e, err := startControllers(ctx, c, bin)
		if err != nil {
			controllers.err = err
			_ = c.Stop()
			return
		}
		controllers.env = e
	})
	if controllers.err != nil {
		t.Fatalf("start the controllers' control plane: %v", controllers.err)
	}
	e := controllers.env
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("last lines of the logs:\n%s", e.c.LogTails(40))
		}
	})
	return e
}

func startControllers(ctx context.Context, c *cluster.Cluster, bin string) (*env, error) {
	srv, err := demoapi.Start(ctx, c, bin)
	if err != nil {
		return nil, err
	}
	if err := demoapi.CreateControl(ctx, c); err != nil {
		return nil, err
	}
	_, err = c.StartControllerManager(ctx, cluster.ControllerManagerOptions{
		ExtraArgs: []string{"--resource-quota-sync-period=" + quotaSyncPeriod.String()},
	})
	if err != nil {
		return nil, err
	}
	return &env{c: c, srv: srv}, nil
}

// widgetAPI is one of the two widgets APIs the scenarios compare: the
// example server's, through the aggregation layer, and the control, a
// CustomResourceDefinition served by kube-apiserver.
type widgetAPI struct {
	name       string // of the subtest
	gvr        schema.GroupVersionResource
	aggregated bool
}

var widgetAPIs = []widgetAPI{
	{"aggregated", demoapi.Widgets, true},
	{"CustomResourceDefinition", demoapi.ControlWidgets, false},
}

// resource is the resource as kubectl names it: widgets.<group>.
func (a widgetAPI) resource() string { return a.gvr.Resource + "." + a.gvr.Group }

// kind is the kind as kubectl prints it: widget.<group>.
func (a widgetAPI) kind() string { return "widget." + a.gvr.Group }

// client is the administrator's client for the API's widgets in namespace.
func (a widgetAPI) client(e *env, namespace string) dynamic.ResourceInterface {
	return e.c.Dynamic().Resource(a.gvr).Namespace(namespace)
}

// widget is a widget of the API to create, with a size when not 0.
func (a widgetAPI) widget(namespace, name, color string, size int64) *unstructured.Unstructured {
	w := demoapi.Widget(namespace, name, color)
	w.SetAPIVersion(a.gvr.GroupVersion().String())
	if size != 0 {
		_ = unstructured.SetNestedField(w.Object, size, "spec", "size")
	}
	return w
}

// yaml is widget as a manifest for kubectl.
func (a widgetAPI) yaml(namespace, name, color string, size int64) string {
	data, err := a.widget(namespace, name, color, size).MarshalJSON() // JSON is YAML
	if err != nil {
		panic(err)
	}
	return string(data)
}

// create creates a widget of the API as the administrator.
func (a widgetAPI) create(ctx context.Context, t *testing.T, e *env, w *unstructured.Unstructured) *unstructured.Unstructured {
	t.Helper()
	got, err := a.client(e, w.GetNamespace()).Create(ctx, w, metav1.CreateOptions{})
	require.NoError(t, err, "create %s %s/%s", a.resource(), w.GetNamespace(), w.GetName())
	return got
}

// forEachAPI runs scenario for the example's widgets, then for the control,
// each as a subtest in a namespace of its own (prefix-aggregated,
// prefix-crd), and returns what each returned, by API name, for the caller
// to compare.
func forEachAPI(ctx context.Context, t *testing.T, e *env, prefix string, scenario func(t *testing.T, api widgetAPI, namespace string) string) map[string]string {
	t.Helper()
	outcomes := map[string]string{}
	for _, api := range widgetAPIs {
		ns := prefix + "-crd"
		if api.aggregated {
			ns = prefix + "-aggregated"
		}
		t.Run(api.name, func(t *testing.T) {
			createNamespace(ctx, t, e.c, ns)
			outcomes[api.name] = scenario(t, api, ns)
		})
	}
	return outcomes
}

// sameOutcome requires the scenario's outcome to be the same for both APIs,
// once each names its own group and namespace.
func sameOutcome(t *testing.T, outcomes map[string]string) {
	t.Helper()
	var normalized []string
	for _, api := range widgetAPIs {
		out, ok := outcomes[api.name]
		if !ok {
			return // a subtest failed before it had one
		}
		normalized = append(normalized, strings.NewReplacer(api.gvr.Group, "<group>", "-aggregated", "-<api>", "-crd", "-<api>").Replace(out))
	}
	require.Equal(t, normalized[1], normalized[0], "the example's outcome (got) and the CustomResourceDefinition's (want)")
}
