package aggauth_test

// The README's complete example (README.md, "A complete server"): a ServeMux,
// the serving package and the discovery package around one declaration of
// the API. It is here, as the README shows it, so that it compiles; its test
// (readme_test.go) is the README's "Testing your handlers".

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/spf13/pflag"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/aggauth/aggauth"
	"github.com/aggauth/aggauth/discovery"
	"github.com/aggauth/aggauth/middleware"
	"github.com/aggauth/aggauth/requestinfo"
	"github.com/aggauth/aggauth/serving"
)

// Widget is the API's object, as Kubernetes objects are written.
type Widget struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Color string `json:"color,omitempty"`
	} `json:"spec"`
}

// The API, declared once: discovery serves this declaration (the aggregator,
// kubectl and client-go read it), and routes serves each of its verbs, and
// nothing else, so the two cannot disagree.
const group, version = "demo.aggauth.io", "v1"

var widgetAPI = discovery.Resource{Plural: "widgets", Kind: "Widget", Namespaced: true, Verbs: metav1.Verbs{"list", "create"}}

func Example_server() { // func main() in a program of its own
	opts, servingOpts := aggauth.NewOptions(), serving.NewOptions()
	opts.AddFlags(pflag.CommandLine)        // --kubeconfig, --requestheader-*, --authorization-* ...
	servingOpts.AddFlags(pflag.CommandLine) // --secure-port, --tls-cert-file, --shutdown-delay-duration ...
	pflag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	// The chain follows the cluster until the process exits: past SIGTERM, while srv drains.
	chain, err := aggauth.New(context.WithoutCancel(ctx), *opts)
	if err != nil {
		log.Fatal(err)
	}
	defer chain.Close()
	api, err := routes(chain, &widgetStore{})
	if err != nil {
		log.Fatal(err)
	}
	srv, err := serving.New(*servingOpts, chain, api)
	if err != nil {
		log.Fatal(err)
	}
	if err := srv.Run(ctx); err != nil { // until SIGTERM, then the graceful shutdown
		log.Fatal(err)
	}
}

// routes is the whole API: the chain first (health endpoints, authentication,
// authorization, admission), then the discovery documents (/apis, /openapi:
// the aggregator marks the APIService Available once
// /apis/demo.aggauth.io/v1 answers), then the mux, with a route for each
// declared verb.
func routes(chain *aggauth.Chain, store *widgetStore) (http.Handler, error) {
	res := widgetAPI
	var err error
	if res.Schema, err = discovery.SchemaOf(Widget{}); err != nil {
		return nil, err
	}
	disc, err := discovery.New(discovery.Group{Name: group, Versions: []discovery.Version{{Name: version, Resources: []discovery.Resource{res}}}})
	if err != nil {
		return nil, err
	}
	collection := "/apis/" + group + "/" + version + "/namespaces/{namespace}/" + res.Plural
	byVerb := map[string]struct {
		pattern string
		handler http.HandlerFunc
	}{
		"list":   {"GET " + collection, store.list},
		"create": {"POST " + collection, store.create},
	}
	mux := http.NewServeMux()
	for _, verb := range res.Verbs {
		r, ok := byVerb[verb]
		if !ok {
			return nil, errors.New("verb " + verb + " declared but not served")
		}
		mux.HandleFunc(r.pattern, r.handler)
	}
	return chain.Handler(disc.Handler(mux)), nil
}

// widgetStore keeps the widgets in memory, by namespace.
type widgetStore struct {
	mu    sync.Mutex
	items map[string][]*Widget
}

func (s *widgetStore) list(w http.ResponseWriter, r *http.Request) {
	// Only what the request selects: ?fieldSelector=metadata.name=x was authorized for x.
	sel, err := middleware.SelectorsFrom(r.Context())
	if err != nil {
		middleware.WriteStatus(w, err) // 400: a selector the list cannot apply
		return
	}
	s.mu.Lock()
	items := requestinfo.Filter(sel, s.items[r.PathValue("namespace")])
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"apiVersion": group + "/" + version, "kind": "WidgetList", "metadata": map[string]any{}, "items": items})
}

func (s *widgetStore) create(w http.ResponseWriter, r *http.Request) {
	caller, _ := request.UserFrom(r.Context()) // who the chain authenticated and authorized
	var obj Widget
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&obj); err != nil || obj.Name == "" || r.URL.Query().Has("dryRun") {
		middleware.WriteStatus(w, apierrors.NewBadRequest("a widget with a name is required, and dry runs are not supported"))
		return
	}
	obj.APIVersion, obj.Kind, obj.Namespace = group+"/"+version, "Widget", r.PathValue("namespace")
	obj.Annotations = map[string]string{group + "/created-by": caller.GetName()}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.items[obj.Namespace] {
		if o.Name == obj.Name {
			middleware.WriteStatus(w, apierrors.NewAlreadyExists(schema.GroupResource{Group: group, Resource: widgetAPI.Plural}, obj.Name))
			return
		}
	}
	if s.items == nil {
		s.items = map[string][]*Widget{}
	}
	s.items[obj.Namespace] = append(s.items[obj.Namespace], &obj)
	writeJSON(w, http.StatusCreated, &obj)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
