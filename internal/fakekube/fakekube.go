// Package fakekube is a kube-apiserver stand-in for tests and benchmarks of
// extension servers: over HTTPS (HTTP/2) it serves what aggauth reads from the
// cluster (the ConfigMap kube-system/extension-apiserver-authentication,
// namespaces, with get, list and watch) and answers SubjectAccessReviews
// (allowing everything unless told otherwise) and TokenReviews
// (authenticating no token unless told otherwise). It checks a bearer token,
// which the kubeconfig it writes and the rest.Config it returns carry.
//
// A test controls the reviews: it replaces how they are answered (with a
// status, a Status error or a raw body), delays them (Options.Latency) or
// holds them until released (Hold), and reads what the server received: the
// SubjectAccessReviews themselves and, for both kinds, the counts of reviews
// received, in progress, most at once and cancelled by their client.
package fakekube

import (
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
)

// The authentication ConfigMap kube-apiserver publishes for extension servers.
const (
	AuthConfigMapNamespace = "kube-system"
	AuthConfigMapName      = "extension-apiserver-authentication"
)

// resourceVersion is the version of every object: nothing changes.
const resourceVersion = "1"

// AuthorizeFunc answers a SubjectAccessReview: its status, or an error the
// server answers instead (see RawError).
type AuthorizeFunc func(authorizationv1.SubjectAccessReviewSpec) (authorizationv1.SubjectAccessReviewStatus, error)

// AuthenticateFunc answers a TokenReview: its status, or an error the server
// answers instead (see RawError).
type AuthenticateFunc func(authenticationv1.TokenReviewSpec) (authenticationv1.TokenReviewStatus, error)

// Options configures Start.
type Options struct {
	// FrontProxyCA is the PEM bundle published as requestheader-client-ca-file.
	// Default: none; the ConfigMap then has no requestheader-* keys, as
	// kube-apiserver publishes it without --requestheader-client-ca-file.
	FrontProxyCA []byte
	// ClientCA is the PEM bundle published as client-ca-file. Default: none.
	ClientCA []byte
	// AllowedNames is requestheader-allowed-names. Default: front-proxy-client,
	// as kubeadm configures it.
	AllowedNames []string
	// Namespaces exist and are Active. Default: default and kube-system.
	Namespaces []string
	// TerminatingNamespaces exist and are being deleted (phase Terminating,
	// a deletion timestamp). Default: none.
	TerminatingNamespaces []string
	// Authorize answers each SubjectAccessReview. Default: allow everything.
	// Server.SetAuthorize replaces it.
	Authorize AuthorizeFunc
	// Authenticate answers each TokenReview. Default: no token is
	// authenticated. Server.SetAuthenticate replaces it.
	Authenticate AuthenticateFunc
	// Latency delays the answer to every review (SubjectAccessReview or
	// TokenReview), as kube-apiserver's round trip; a review whose client goes
	// away meanwhile is not answered, and counted as cancelled. Default 0.
	Latency time.Duration
	// MaxConcurrentStreams is the HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS the
	// server announces. Default: Go's (250).
	MaxConcurrentStreams int
	// DiscardReviews keeps no SubjectAccessReview: Reviews and ReviewBodies
	// stay empty and only the counts count, as benchmarks and load tests need.
	// Default: every review is kept.
	DiscardReviews bool
}

// Server is a running fake kube-apiserver.
type Server struct {
	srv        *httptest.Server
	token      string
	configMaps collection
	namespaces collection
	latency    time.Duration
	keep       bool // keep the SubjectAccessReviews
	closing    chan struct{}
	closeOnce  sync.Once

	sars, tokenReviews counters

	mu        sync.Mutex // guards the fields below
	authorize AuthorizeFunc
	authent   AuthenticateFunc
	gate      chan struct{} // when set, reviews wait for it to close
	reviews   []authorizationv1.SubjectAccessReview
	bodies    [][]byte // the reviews as sent, by index in reviews
}

// Start starts a fake kube-apiserver on a loopback port. Close it when done.
func Start(opts Options) (*Server, error) {
	s := &Server{
		token:      rand.Text(),
		configMaps: configMaps(opts),
		namespaces: namespaces(opts.Namespaces, opts.TerminatingNamespaces),
		latency:    opts.Latency,
		keep:       !opts.DiscardReviews,
		closing:    make(chan struct{}),
	}
	s.SetAuthorize(opts.Authorize)
	s.SetAuthenticate(opts.Authenticate)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/configmaps", s.configMaps.serveCollection(s))
	mux.HandleFunc("GET /api/v1/namespaces/{namespace}/configmaps", s.configMaps.serveCollection(s))
	mux.HandleFunc("GET /api/v1/namespaces/{namespace}/configmaps/{name}", s.configMaps.serveObject)
	mux.HandleFunc("GET /api/v1/namespaces", s.namespaces.serveCollection(s))
	mux.HandleFunc("GET /api/v1/namespaces/{name}", s.namespaces.serveObject)
	mux.HandleFunc("POST /apis/authorization.k8s.io/v1/subjectaccessreviews", s.review)
	mux.HandleFunc("POST /apis/authentication.k8s.io/v1/tokenreviews", s.tokenReview)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, apierrors.NewNotFound(schema.GroupResource{}, r.URL.Path))
	})
	s.srv = httptest.NewUnstartedServer(s.authenticate(mux))
	s.srv.EnableHTTP2 = true
	if opts.MaxConcurrentStreams > 0 {
		s.srv.Config.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: opts.MaxConcurrentStreams}
	}
	s.srv.StartTLS()
	return s, nil
}

// URL is the server's https:// address.
func (s *Server) URL() string { return s.srv.URL }

// Client returns an HTTPS client that trusts the server and presents no
// credentials.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// Close ends open watches and held or delayed reviews, unanswered, and stops
// the server. It is safe to call twice.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.closing)
		s.srv.Close()
	})
}

// authenticate refuses requests without the server's bearer token, as
// kube-apiserver refuses unknown clients.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer "+s.token {
			writeError(w, apierrors.NewUnauthorized("Unauthorized"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

func configMaps(opts Options) collection {
	allowed := opts.AllowedNames
	if allowed == nil {
		allowed = []string{"front-proxy-client"}
	}
	data := map[string]string{}
	if len(opts.FrontProxyCA) > 0 {
		data["requestheader-client-ca-file"] = string(opts.FrontProxyCA)
		data["requestheader-allowed-names"] = jsonList(allowed)
		data["requestheader-username-headers"] = `["X-Remote-User"]`
		data["requestheader-group-headers"] = `["X-Remote-Group"]`
		data["requestheader-extra-headers-prefix"] = `["X-Remote-Extra-"]`
	}
	if len(opts.ClientCA) > 0 {
		data["client-ca-file"] = string(opts.ClientCA)
	}
	typeMeta := metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"}
	cm := &corev1.ConfigMap{
		TypeMeta:   typeMeta,
		ObjectMeta: objectMeta(AuthConfigMapNamespace, AuthConfigMapName),
		Data:       data,
	}
	return collection{
		resource: "configmaps",
		items:    []runtime.Object{cm},
		list: func(items []runtime.Object) runtime.Object {
			l := &corev1.ConfigMapList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMapList"}}
			l.ResourceVersion = resourceVersion
			for _, o := range items {
				l.Items = append(l.Items, *o.(*corev1.ConfigMap))
			}
			return l
		},
		bookmark: &corev1.ConfigMap{TypeMeta: typeMeta, ObjectMeta: bookmarkMeta()},
	}
}

func namespaces(names, terminating []string) collection {
	if names == nil {
		names = []string{metav1.NamespaceDefault, metav1.NamespaceSystem}
	}
	typeMeta := metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}
	c := collection{
		resource: "namespaces",
		list: func(items []runtime.Object) runtime.Object {
			l := &corev1.NamespaceList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "NamespaceList"}}
			l.ResourceVersion = resourceVersion
			for _, o := range items {
				l.Items = append(l.Items, *o.(*corev1.Namespace))
			}
			return l
		},
		bookmark: &corev1.Namespace{TypeMeta: typeMeta, ObjectMeta: bookmarkMeta()},
	}
	for _, n := range names {
		c.items = append(c.items, &corev1.Namespace{
			TypeMeta:   typeMeta,
			ObjectMeta: objectMeta("", n),
			Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceActive},
		})
	}
	deleted := metav1.Now()
	for _, n := range terminating {
		ns := &corev1.Namespace{
			TypeMeta:   typeMeta,
			ObjectMeta: objectMeta("", n),
			Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating},
		}
		ns.DeletionTimestamp = &deleted
		c.items = append(c.items, ns)
	}
	return c
}

func objectMeta(namespace, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: namespace, Name: name, ResourceVersion: resourceVersion, UID: types.UID("uid-" + name)}
}

// bookmarkMeta is the metadata of the bookmark that ends the initial events of
// a watch list.
func bookmarkMeta() metav1.ObjectMeta {
	return metav1.ObjectMeta{
		ResourceVersion: resourceVersion,
		Annotations:     map[string]string{metav1.InitialEventsAnnotationKey: "true"},
	}
}

func jsonList(s []string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
