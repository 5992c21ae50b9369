// Package fakekube is a kube-apiserver stand-in for tests of extension
// servers: over HTTPS it serves what aggauth reads from the cluster (the
// ConfigMap kube-system/extension-apiserver-authentication, namespaces, with
// get, list and watch) and answers SubjectAccessReviews (allowing everything
// unless told otherwise), keeping them for the test to inspect, and TokenReviews
// (authenticating no token unless told otherwise). It checks a bearer token, which
// the kubeconfig it writes carries.
package fakekube

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/scheme"
)

// The authentication ConfigMap kube-apiserver publishes for extension servers.
const (
	AuthConfigMapNamespace = "kube-system"
	AuthConfigMapName      = "extension-apiserver-authentication"
)

// resourceVersion is the version of every object: nothing changes.
const resourceVersion = "1"

// Options configures Start.
type Options struct {
	// FrontProxyCA is the PEM bundle published as requestheader-client-ca-file.
	// Required.
	FrontProxyCA []byte
	// ClientCA is the PEM bundle published as client-ca-file. Default: none.
	ClientCA []byte
	// AllowedNames is requestheader-allowed-names. Default: front-proxy-client,
	// as kubeadm configures it.
	AllowedNames []string
	// Namespaces exist and are Active. Default: default and kube-system.
	Namespaces []string
	// Authorize answers each SubjectAccessReview. Default: allow everything.
	Authorize func(authorizationv1.SubjectAccessReviewSpec) authorizationv1.SubjectAccessReviewStatus
	// Authenticate answers each TokenReview. Default: no token is
	// authenticated.
	Authenticate func(authenticationv1.TokenReviewSpec) authenticationv1.TokenReviewStatus
}

// Server is a running fake kube-apiserver.
type Server struct {
	srv        *httptest.Server
	token      string
	configMaps collection
	namespaces collection
	authorize  func(authorizationv1.SubjectAccessReviewSpec) authorizationv1.SubjectAccessReviewStatus
	authent    func(authenticationv1.TokenReviewSpec) authenticationv1.TokenReviewStatus
	closing    chan struct{}
	closeOnce  sync.Once

	mu           sync.Mutex // guards reviews and tokenReviews
	reviews      []authorizationv1.SubjectAccessReview
	tokenReviews int
}

// Start starts a fake kube-apiserver on a loopback port. Close it when done.
func Start(opts Options) (*Server, error) {
	if len(opts.FrontProxyCA) == 0 {
		return nil, errors.New("fakekube: Options.FrontProxyCA is required")
	}
	s := &Server{
		token:      rand.Text(),
		configMaps: configMaps(opts),
		namespaces: namespaces(opts.Namespaces),
		authorize:  opts.Authorize,
		authent:    opts.Authenticate,
		closing:    make(chan struct{}),
	}
	if s.authent == nil {
		s.authent = func(authenticationv1.TokenReviewSpec) authenticationv1.TokenReviewStatus {
			return authenticationv1.TokenReviewStatus{}
		}
	}
	if s.authorize == nil {
		s.authorize = func(authorizationv1.SubjectAccessReviewSpec) authorizationv1.SubjectAccessReviewStatus {
			return authorizationv1.SubjectAccessReviewStatus{Allowed: true, Reason: "fakekube allows everything"}
		}
	}
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
	s.srv.StartTLS()
	return s, nil
}

// URL is the server's https:// address.
func (s *Server) URL() string { return s.srv.URL }

// Client returns an HTTPS client that trusts the server and presents no
// credentials.
func (s *Server) Client() *http.Client { return s.srv.Client() }

// Close ends open watches and stops the server. It is safe to call twice.
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		close(s.closing)
		s.srv.Close()
	})
}

// Reviews returns the SubjectAccessReviews received so far.
func (s *Server) Reviews() []authorizationv1.SubjectAccessReview {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reviews)
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

// review answers a SubjectAccessReview, sent as JSON or protobuf, with
// Options.Authorize, and records it.
func (s *Server) review(w http.ResponseWriter, r *http.Request) {
	var sar authorizationv1.SubjectAccessReview
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err == nil {
		_, _, err = scheme.Codecs.UniversalDeserializer().Decode(body, nil, &sar)
	}
	if err != nil {
		writeError(w, apierrors.NewBadRequest(err.Error()))
		return
	}
	s.mu.Lock()
	s.reviews = append(s.reviews, sar)
	s.mu.Unlock()
	sar.TypeMeta = metav1.TypeMeta{APIVersion: "authorization.k8s.io/v1", Kind: "SubjectAccessReview"}
	sar.Status = s.authorize(sar.Spec)
	writeObject(w, http.StatusCreated, &sar)
}

// TokenReviews returns the number of TokenReviews received so far.
func (s *Server) TokenReviews() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokenReviews
}

// tokenReview answers a TokenReview with Options.Authenticate and counts it.
func (s *Server) tokenReview(w http.ResponseWriter, r *http.Request) {
	var tr authenticationv1.TokenReview
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err == nil {
		_, _, err = scheme.Codecs.UniversalDeserializer().Decode(body, nil, &tr)
	}
	if err != nil {
		writeError(w, apierrors.NewBadRequest(err.Error()))
		return
	}
	s.mu.Lock()
	s.tokenReviews++
	s.mu.Unlock()
	tr.TypeMeta = metav1.TypeMeta{APIVersion: "authentication.k8s.io/v1", Kind: "TokenReview"}
	tr.Status = s.authent(tr.Spec)
	writeObject(w, http.StatusCreated, &tr)
}

func configMaps(opts Options) collection {
	allowed := opts.AllowedNames
	if allowed == nil {
		allowed = []string{"front-proxy-client"}
	}
	data := map[string]string{
		"requestheader-client-ca-file":       string(opts.FrontProxyCA),
		"requestheader-allowed-names":        jsonList(allowed),
		"requestheader-username-headers":     `["X-Remote-User"]`,
		"requestheader-group-headers":        `["X-Remote-Group"]`,
		"requestheader-extra-headers-prefix": `["X-Remote-Extra-"]`,
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

func namespaces(names []string) collection {
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
