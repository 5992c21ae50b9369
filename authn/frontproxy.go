package authn

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/utils/clock"
)

// FrontProxyOptions configures a FrontProxy authenticator.
type FrontProxyOptions struct {
	// Config provides the front-proxy configuration in force. Required. Use a
	// *DynamicRequestHeader to change it at runtime.
	Config RequestHeaderProvider

	// CacheSize bounds the number of cached certificate verifications.
	// Default: DefaultVerifyCacheSize (4096).
	CacheSize int

	// Clock tells the time for certificate validity. Default: the real clock.
	Clock clock.PassiveClock
}

// FrontProxy authenticates requests that kube-apiserver's aggregator (or another
// authenticating proxy) forwards: it verifies the client certificate against the
// front-proxy CA and the allowed names, then reads the user from the request
// headers. Its answers are those of k8s.io/apiserver's
// headerrequest.NewDynamicVerifyOptionsSecure:
//
//   - no TLS, no client certificate, or no configuration loaded: no opinion;
//   - a certificate that does not verify, or whose CN is not allowed: an error;
//   - a verified proxy with an empty username: no opinion;
//   - otherwise the user, and the identity headers are deleted from the request.
//
// It is safe for concurrent use.
type FrontProxy struct {
	config   RequestHeaderProvider
	cache    *verifyCache
	compiled atomic.Pointer[compiledHeaders]
}

// NewFrontProxy returns a FrontProxy. It fails when opts.Config is nil.
func NewFrontProxy(opts FrontProxyOptions) (*FrontProxy, error) {
	if opts.Config == nil {
		return nil, errors.New("authn: FrontProxyOptions.Config is required")
	}
	return &FrontProxy{
		config: opts.Config,
		cache:  newVerifyCache(opts.CacheSize, opts.Clock, nil, wrapProxyVerifyError),
	}, nil
}

func wrapProxyVerifyError(_ *x509.Certificate, err error) error {
	return &certError{prefix: "front-proxy client certificate: ", err: err}
}

// certError is a failed verification. Its message is formatted only when it is
// read: a refused client costs the verification, not the formatting of x509's
// detailed errors.
type certError struct {
	prefix string
	leaf   *x509.Certificate // when set, identified in the message as Kubernetes does
	err    error
}

func (e *certError) Error() string {
	if e.leaf != nil {
		return fmt.Sprintf("verifying certificate %s failed: %v", certificateIdentifier(e.leaf), e.err)
	}
	return e.prefix + e.err.Error()
}

func (e *certError) Unwrap() error { return e.err }

// current returns the configuration in force, prepared for the hot path, or nil.
func (f *FrontProxy) current() *compiledHeaders {
	cfg := f.config.RequestHeaderConfig()
	if cfg == nil || cfg.CA == nil {
		return nil
	}
	c := f.compiled.Load()
	if c == nil || c.src != cfg {
		c = compileHeaders(cfg)
		f.compiled.Store(c)
	}
	return c
}

// AuthenticateRequest implements authenticator.Request.
func (f *FrontProxy) AuthenticateRequest(req *http.Request) (*authenticator.Response, bool, error) {
	resp, ok, _, err := f.authenticate(req, 0, false)
	return resp, ok, err
}

// authenticate is AuthenticateRequest; with clearAll, a success also clears
// the headers as ClearHeaders, where decode can (see cleared).
func (f *FrontProxy) authenticate(req *http.Request, spareGroups int, clearAll bool) (resp *authenticator.Response, ok, cleared bool, err error) {
	if req.TLS == nil || len(req.TLS.PeerCertificates) == 0 {
		return nil, false, false, nil
	}
	c := f.current()
	if c == nil {
		return nil, false, false, nil
	}
	if _, err := f.cache.verify(req.TLS, c.src.CA); err != nil {
		return nil, false, false, err
	}
	if err := verifySubject(req.TLS.PeerCertificates[0].Subject.CommonName, c.allowedNames); err != nil {
		return nil, false, false, err
	}
	resp, ok, cleared = c.decode(req.Header, spareGroups, clearAll)
	return resp, ok, cleared, nil
}

// verifySubject is Kubernetes' Verifier.verifySubject: an exact, case-sensitive
// match of the leaf's CommonName; an empty list allows any name.
func verifySubject(cn string, allowed []string) error {
	if len(allowed) == 0 {
		return nil
	}
	for _, name := range allowed {
		if name == cn {
			return nil
		}
	}
	return &nameError{cn: cn}
}

// nameError is a front-proxy certificate whose CommonName is not allowed.
type nameError struct{ cn string }

func (e *nameError) Error() string {
	return fmt.Sprintf("x509: subject with cn=%s is not in the allowed list", e.cn)
}

// ClearHeaders deletes from h the Authorization header, the standard front-proxy
// headers (X-Remote-User, X-Remote-Uid, X-Remote-Group, X-Remote-Extra-*) and the
// configured ones, so that no handler downstream can mistake a client-sent header
// for a verified identity.
func (f *FrontProxy) ClearHeaders(h http.Header) {
	clearHeaders(h, f.current())
}

// ClearHeaders deletes Authorization and the standard front-proxy headers from h.
// Use FrontProxy.ClearHeaders to also delete configured non-standard ones.
func ClearHeaders(h http.Header) {
	clearHeaders(h, nil)
}
