package authn

import (
	"bytes"
	"errors"
	"net/http"
	"sync/atomic"

	utilerrors "k8s.io/apimachinery/pkg/util/errors"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/aggauth/aggauth/internal/userinfo"
)

// UnionOptions configures a Union. At least one of FrontProxy, ClientCert and
// Token is required.
type UnionOptions struct {
	// FrontProxy authenticates the aggregator's forwarded users; tried first.
	// Default: none.
	FrontProxy *FrontProxy

	// ClientCert authenticates direct callers by client certificate; tried second.
	// Default: none.
	ClientCert *ClientCert

	// Token authenticates direct callers by bearer token (TokenReview); tried
	// third, as in Kubernetes' delegated authentication. Default: none.
	Token *Token

	// Anonymous, when true, lets a request that no authenticator has an opinion
	// on through as system:anonymous in group system:unauthenticated. A request
	// that an authenticator refused with an error is never anonymous.
	// Default: false, unlike Kubernetes, which always enables it.
	Anonymous bool

	// AllowSharedCA accepts a front-proxy CA that shares a certificate with the
	// client CA while the front proxy has no allowed names. Then any holder of a
	// client certificate could claim any identity through the headers, so by
	// default the front proxy refuses every request in that state (kube-apiserver
	// refuses to start). Default: false.
	AllowSharedCA bool
}

// Union tries the front proxy, then the client certificate, then the bearer
// token, with the semantics of
// k8s.io/apiserver's union authenticator wrapped in its AuthenticatedGroupAdder:
// the first authenticator that succeeds wins (errors of the others are dropped);
// if none succeeds the errors are returned; an authenticated user (other than
// system:anonymous, and unless it already has system:authenticated or
// system:unauthenticated) gets system:authenticated added. It is safe for
// concurrent use.
type Union struct {
	opts    UnionOptions
	overlap atomic.Pointer[overlapCheck]
}

// overlapCheck remembers the shared-CA verdict for one pair of bundles.
type overlapCheck struct {
	clientCA, proxyCA *CABundle
	shared            bool
}

// ErrSharedCA is returned, at construction or per request, when the front-proxy CA
// shares a certificate with the client CA and no allowed names are set.
var ErrSharedCA = errors.New("authn: the front-proxy CA shares a certificate with the client CA and no allowed names are set: any client certificate could claim any identity; set allowed names, use separate CAs, or set AllowSharedCA")

// NewUnion returns a Union. It refuses a configuration already loaded in which the
// CAs are shared without allowed names (see AllowSharedCA).
func NewUnion(opts UnionOptions) (*Union, error) {
	if opts.FrontProxy == nil && opts.ClientCert == nil && opts.Token == nil {
		return nil, errors.New("authn: UnionOptions needs a FrontProxy, a ClientCert or a Token")
	}
	u := &Union{opts: opts}
	if u.sharedCA() {
		return nil, ErrSharedCA
	}
	return u, nil
}

// AuthenticateRequest implements authenticator.Request.
func (u *Union) AuthenticateRequest(req *http.Request) (*authenticator.Response, bool, error) {
	resp, ok, _, err := u.authenticate(req, false)
	return resp, ok, err
}

// AuthenticateAndClear is AuthenticateRequest followed, on success, by
// ClearHeaders, in fewer passes over the headers: a request the front proxy
// forwarded has its identity read and its headers cleared in one. It is what
// middleware.Authentication calls for a *Union (see OnePass).
//
// OnePass returns u: middleware.Authentication calls AuthenticateAndClear
// only on an authenticator whose OnePass returns the authenticator itself. A
// type embedding *Union has both methods promoted, but its OnePass returns
// the embedded Union, not itself: its own AuthenticateRequest and
// ClearHeaders overrides are not bypassed.
func (u *Union) OnePass() authenticator.Request { return u }

// FailureReason returns the reason of a failure of u, for metrics: see the
// package's FailureReason.
func (u *Union) FailureReason(err error) string { return FailureReason(err) }

// AuthenticateAndClear: see OnePass.
func (u *Union) AuthenticateAndClear(req *http.Request) (*authenticator.Response, bool, error) {
	resp, ok, cleared, err := u.authenticate(req, true)
	if ok && !cleared {
		u.ClearHeaders(req.Header)
	}
	return resp, ok, err
}

// authenticate is AuthenticateRequest; with clearAll, a front-proxy success
// also clears the headers where it can, and says so in cleared.
func (u *Union) authenticate(req *http.Request, clearAll bool) (resp *authenticator.Response, ok, cleared bool, err error) {
	var errs []error
	if fp := u.opts.FrontProxy; fp != nil {
		if u.sharedCA() {
			errs = append(errs, ErrSharedCA)
		} else {
			resp, ok, cleared, err := fp.authenticate(req, 1, clearAll)
			if ok {
				return addAuthenticated(resp), true, cleared, nil
			}
			if err != nil {
				errs = append(errs, err)
			}
		}
	}
	if cc := u.opts.ClientCert; cc != nil {
		resp, ok, err := cc.authenticate(req, 1)
		if ok {
			return addAuthenticated(resp), true, false, nil
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if tok := u.opts.Token; tok != nil {
		// Its responses already have system:authenticated where it belongs.
		resp, ok, err := tok.authenticate(req, true)
		if ok {
			return resp, true, false, nil
		}
		if err != nil {
			errs = append(errs, err)
		}
		if resp, ok, err = tok.authenticateWebSocket(req, true); ok {
			return resp, true, false, nil
		}
		if err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return nil, false, false, utilerrors.NewAggregate(errs)
	}
	if u.opts.Anonymous {
		return anonymousResponse(req), true, false, nil
	}
	return nil, false, false, nil
}

// ClearHeaders deletes Authorization and every standard and configured
// front-proxy header from h.
func (u *Union) ClearHeaders(h http.Header) {
	if u.opts.FrontProxy != nil {
		u.opts.FrontProxy.ClearHeaders(h)
		return
	}
	ClearHeaders(h)
}

// addAuthenticated is Kubernetes' AuthenticatedGroupAdder for a user this
// package just built (so it may be changed in place; the spare capacity
// reserved when decoding avoids a copy).
func addAuthenticated(resp *authenticator.Response) *authenticator.Response {
	switch info := resp.User.(type) {
	case *userinfo.Info: // the front proxy's
		info.Groups = withAuthenticated(info.Name, info.Groups)
	case *user.DefaultInfo: // a client certificate's
		info.Groups = withAuthenticated(info.Name, info.Groups)
	}
	return resp
}

// anonymousResponse is Kubernetes' anonymous authenticator's answer: it
// carries the audiences of the request context, if any.
func anonymousResponse(req *http.Request) *authenticator.Response {
	resp, info := newResponse()
	info.Name = user.Anonymous
	info.Groups = []string{user.AllUnauthenticated}
	resp.Audiences, _ = authenticator.AudiencesFrom(req.Context())
	return resp
}

// sharedCA reports whether the front proxy is in the unsafe state ErrSharedCA
// describes. The verdict is cached per pair of bundles.
func (u *Union) sharedCA() bool {
	if u.opts.AllowSharedCA || u.opts.FrontProxy == nil || u.opts.ClientCert == nil {
		return false
	}
	cfg := u.opts.FrontProxy.config.RequestHeaderConfig()
	clientCA := u.opts.ClientCert.ca.CABundle()
	if cfg == nil || cfg.CA == nil || clientCA == nil || len(cfg.AllowedNames) > 0 {
		return false
	}
	if c := u.overlap.Load(); c != nil && c.clientCA == clientCA && c.proxyCA == cfg.CA {
		return c.shared
	}
	c := &overlapCheck{clientCA: clientCA, proxyCA: cfg.CA, shared: sharesCertificate(clientCA, cfg.CA)}
	u.overlap.Store(c)
	return c.shared
}

// sharesCertificate reports whether the two bundles hold a common certificate.
func sharesCertificate(a, b *CABundle) bool {
	for _, x := range a.certs {
		for _, y := range b.certs {
			if bytes.Equal(x.Raw, y.Raw) {
				return true
			}
		}
	}
	return false
}
