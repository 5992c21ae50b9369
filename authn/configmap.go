package authn

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// The ConfigMap kube-apiserver publishes for extension servers, and the Role
// that lets a server read it.
const (
	AuthenticationConfigMapNamespace = metav1.NamespaceSystem
	AuthenticationConfigMapName      = "extension-apiserver-authentication"
	AuthenticationReaderRole         = "extension-apiserver-authentication-reader"
)

// The keys of the ConfigMap, as kube-apiserver's cluster authentication trust
// controller writes them.
const (
	keyClientCA            = "client-ca-file"
	keyRequestHeaderCA     = "requestheader-client-ca-file"
	keyAllowedNames        = "requestheader-allowed-names"
	keyUsernameHeaders     = "requestheader-username-headers"
	keyUIDHeaders          = "requestheader-uid-headers"
	keyGroupHeaders        = "requestheader-group-headers"
	keyExtraHeaderPrefixes = "requestheader-extra-headers-prefix"
)

// ConfigMapSourceOptions configures a ConfigMapSource.
type ConfigMapSourceOptions struct {
	// Client reads the ConfigMap. Required. Its identity needs the Role
	// kube-system/extension-apiserver-authentication-reader (get, list, watch).
	Client kubernetes.Interface

	// Namespace and Name of the ConfigMap. Default:
	// kube-system/extension-apiserver-authentication.
	Namespace, Name string

	// Resync re-delivers the cached ConfigMap to the parser this often.
	// Default: 1 minute, as Kubernetes re-reads it.
	Resync time.Duration

	// Logger receives why an update was not applied. Default: slog.Default().
	Logger *slog.Logger
}

// ConfigMapSource keeps the client CA and the front-proxy configuration in step
// with the cluster's extension-apiserver-authentication ConfigMap, through one
// informer restricted to that object.
//
// Before the first successful load it provides nothing, so nobody is
// authenticated (fail closed). After it:
//
//   - an update that cannot be parsed (invalid JSON, an unparsable CA bundle)
//     keeps the last good value and is logged (fail static);
//   - a ConfigMap deleted, or a CA key removed or emptied, revokes what it held
//     on the next request: without requestheader-client-ca-file nobody is
//     authenticated from headers, without client-ca-file no client
//     certificate is accepted, until the key is back. Kubernetes v0.37.2 keeps
//     the last CA in force until restart instead
//     (kubernetes/kubernetes#140130); kube-apiserver recreates a deleted
//     ConfigMap within moments, and the next event puts it back in force.
//
// The client CA and the front-proxy configuration are kept separately: a broken
// client-ca-file does not stop a front-proxy CA rotation. Ready says why the
// front-proxy configuration is not in force.
type ConfigMapSource struct {
	opts          ConfigMapSourceOptions
	clientCA      DynamicCA
	requestHeader DynamicRequestHeader
	// notReady is why no front-proxy configuration is in force (nil when one
	// is).
	notReady atomic.Pointer[error]

	mu      sync.Mutex // serializes apply and revoke
	started atomic.Bool
}

// NewConfigMapSource returns a source; call Start to load and watch.
func NewConfigMapSource(opts ConfigMapSourceOptions) (*ConfigMapSource, error) {
	if opts.Client == nil {
		return nil, errors.New("authn: ConfigMapSourceOptions.Client is required")
	}
	if opts.Namespace == "" {
		opts.Namespace = AuthenticationConfigMapNamespace
	}
	if opts.Name == "" {
		opts.Name = AuthenticationConfigMapName
	}
	if opts.Resync <= 0 {
		opts.Resync = time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &ConfigMapSource{opts: opts}
	s.setNotReady(errors.New("the authentication ConfigMap has not been read yet"))
	return s, nil
}

func (s *ConfigMapSource) setNotReady(err error) { s.notReady.Store(&err) }

// Ready returns nil while a front-proxy configuration is in force, else why
// not: not read yet, the ConfigMap deleted, its CA key missing.
func (s *ConfigMapSource) Ready() error {
	if p := s.notReady.Load(); p != nil {
		return *p
	}
	return nil
}

// ClientCA provides the client-ca-file bundle (nil until loaded).
func (s *ConfigMapSource) ClientCA() CAProvider { return &s.clientCA }

// RequestHeader provides the front-proxy configuration (nil until loaded).
func (s *ConfigMapSource) RequestHeader() RequestHeaderProvider { return &s.requestHeader }

// Start reads the ConfigMap once and puts it in force, then follows it with
// one informer restricted to it until ctx is done, and returns the error of the
// first read: for lack of RBAC it names the RoleBinding to create. A ConfigMap
// that does not exist yet is not an error (nothing is in force until it
// appears), and after a failed read the informer keeps trying: a caller that
// tolerates the error keeps the source. A second Start does nothing.
func (s *ConfigMapSource) Start(ctx context.Context) error {
	if !s.started.CompareAndSwap(false, true) {
		return nil
	}
	err := s.load(ctx)
	factory := informers.NewSharedInformerFactoryWithOptions(s.opts.Client, s.opts.Resync,
		informers.WithNamespace(s.opts.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", s.opts.Name).String()
		}))
	inf := factory.Core().V1().ConfigMaps().Informer()
	if _, herr := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { s.applyObject(obj) },
		UpdateFunc: func(_, obj any) { s.applyObject(obj) },
		DeleteFunc: func(any) { s.revoke() },
	}); herr != nil {
		return fmt.Errorf("authn: watching ConfigMap: %w", herr)
	}
	go inf.RunWithContext(ctx)
	return err
}

// load reads the ConfigMap once and applies it.
func (s *ConfigMapSource) load(ctx context.Context) error {
	cm, err := s.opts.Client.CoreV1().ConfigMaps(s.opts.Namespace).Get(ctx, s.opts.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		s.opts.Logger.Warn("authentication ConfigMap not found yet; nobody is authenticated until it appears",
			"namespace", s.opts.Namespace, "name", s.opts.Name)
	case apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err):
		return fmt.Errorf("authn: cannot read ConfigMap %s/%s: %w; grant it with: kubectl create rolebinding -n %s <name> --role=%s --serviceaccount=<namespace>:<serviceaccount> (or --user=<user>)",
			s.opts.Namespace, s.opts.Name, err, s.opts.Namespace, AuthenticationReaderRole)
	case err != nil:
		return fmt.Errorf("authn: cannot read ConfigMap %s/%s: %w", s.opts.Namespace, s.opts.Name, err)
	default:
		s.apply(cm)
	}
	return nil
}

func (s *ConfigMapSource) applyObject(obj any) {
	if cm, ok := obj.(*corev1.ConfigMap); ok {
		s.apply(cm)
	}
}

// revoke withdraws the trust the deleted ConfigMap held.
func (s *ConfigMapSource) revoke() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setNotReady(fmt.Errorf("the ConfigMap %s/%s was deleted: front-proxy trust revoked until it is recreated", s.opts.Namespace, s.opts.Name))
	clientCA, rh := s.clientCA.Set(nil), s.requestHeader.RequestHeaderConfig() != nil
	_ = s.requestHeader.Set(nil)
	if clientCA || rh {
		s.opts.Logger.Warn("authentication ConfigMap deleted: front-proxy and client-certificate trust revoked until it is recreated",
			"namespace", s.opts.Namespace, "name", s.opts.Name)
	}
}

// apply parses cm and puts in force what is valid, keeping the last good value of
// each part that is malformed and revoking each part whose CA key is missing.
func (s *ConfigMapSource) apply(cm *corev1.ConfigMap) {
	s.mu.Lock()
	defer s.mu.Unlock()
	log := s.opts.Logger.With("namespace", cm.Namespace, "name", cm.Name, "resourceVersion", cm.ResourceVersion)

	switch ca, err := s.parseCA(cm.Data[keyClientCA], s.clientCA.CABundle()); {
	case cm.Data[keyClientCA] == "":
		if s.clientCA.Set(nil) {
			log.Warn("client CA removed from the ConfigMap: client certificates are no longer accepted", "key", keyClientCA)
		}
	case err != nil:
		log.Warn("keeping the last good client CA", "key", keyClientCA, "err", err)
	case s.clientCA.Set(ca):
		log.Info("client CA loaded", "certificates", len(ca.Certificates()))
	}

	if cm.Data[keyRequestHeaderCA] == "" {
		s.setNotReady(fmt.Errorf("the ConfigMap %s/%s has no %s: nobody is authenticated from headers", cm.Namespace, cm.Name, keyRequestHeaderCA))
		if s.requestHeader.RequestHeaderConfig() != nil {
			_ = s.requestHeader.Set(nil)
			log.Warn("front-proxy CA removed from the ConfigMap: front-proxy trust revoked", "key", keyRequestHeaderCA)
		}
		return
	}
	rh, err := s.parseRequestHeader(cm.Data)
	if err != nil {
		log.Warn("keeping the last good front-proxy configuration", "err", err)
		if s.requestHeader.RequestHeaderConfig() == nil {
			s.setNotReady(fmt.Errorf("the front-proxy configuration in the ConfigMap %s/%s is invalid: %w", cm.Namespace, cm.Name, err))
		}
		return
	}
	if sameRequestHeader(rh, s.requestHeader.RequestHeaderConfig()) {
		return
	}
	if err := s.requestHeader.Set(rh); err != nil {
		log.Warn("keeping the last good front-proxy configuration", "err", err)
		return
	}
	s.notReady.Store(nil)
	log.Info("front-proxy configuration loaded", "allowedNames", rh.AllowedNames, "certificates", len(rh.CA.Certificates()))
	if ca := s.clientCA.CABundle(); ca != nil && len(rh.AllowedNames) == 0 && sharesCertificate(ca, rh.CA) {
		log.Error("the front-proxy CA shares a certificate with the client CA and no allowed names are set; front-proxy authentication is refused until this is fixed")
	}
}

// parseCA parses a PEM bundle, reusing current when the bytes are the same so that
// cached verifications stay valid.
func (s *ConfigMapSource) parseCA(data string, current *CABundle) (*CABundle, error) {
	if data == "" {
		return nil, errors.New("missing content for CA bundle")
	}
	if current != nil && string(current.PEM()) == data {
		return current, nil
	}
	return NewCABundle([]byte(data))
}

func (s *ConfigMapSource) parseRequestHeader(data map[string]string) (*RequestHeaderConfig, error) {
	var current *CABundle
	if c := s.requestHeader.RequestHeaderConfig(); c != nil {
		current = c.CA
	}
	ca, err := s.parseCA(data[keyRequestHeaderCA], current)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", keyRequestHeaderCA, err)
	}
	cfg := &RequestHeaderConfig{CA: ca}
	for _, f := range []struct {
		key string
		dst *[]string
	}{
		{keyAllowedNames, &cfg.AllowedNames}, {keyUsernameHeaders, &cfg.UsernameHeaders},
		{keyUIDHeaders, &cfg.UIDHeaders}, {keyGroupHeaders, &cfg.GroupHeaders},
		{keyExtraHeaderPrefixes, &cfg.ExtraHeaderPrefixes},
	} {
		if *f.dst, err = deserializeStrings(data[f.key]); err != nil {
			return nil, fmt.Errorf("%s: %w", f.key, err)
		}
	}
	return cfg, cfg.Validate()
}

// deserializeStrings is Kubernetes': an empty value is no list, anything else a
// JSON array of strings.
func deserializeStrings(in string) ([]string, error) {
	if in == "" {
		return nil, nil
	}
	var out []string
	if err := json.Unmarshal([]byte(in), &out); err != nil {
		return nil, err
	}
	return out, nil
}

func sameRequestHeader(a, b *RequestHeaderConfig) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.CA == b.CA && slices.Equal(a.AllowedNames, b.AllowedNames) &&
		slices.Equal(a.UsernameHeaders, b.UsernameHeaders) && slices.Equal(a.UIDHeaders, b.UIDHeaders) &&
		slices.Equal(a.GroupHeaders, b.GroupHeaders) && slices.Equal(a.ExtraHeaderPrefixes, b.ExtraHeaderPrefixes)
}
