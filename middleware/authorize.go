package middleware

import (
	"context"
	"errors"
	"net/http"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/handlers/responsewriters"
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/aggauth/aggauth/authz"
)

// DefaultAuthorizeRetryAfter is the default AuthorizeOptions.RetryAfter.
const DefaultAuthorizeRetryAfter = time.Second

// AuthorizeOptions configures Authorize.
type AuthorizeOptions struct {
	// RetryAfter is the delay advised, in a Retry-After header and the Status
	// details, when the authorization check could not be completed. It is
	// rounded up to whole seconds. Default 1 s.
	RetryAfter time.Duration
}

// errNoUser is the 500 answered when no authentication middleware ran.
var errNoUser = errors.New("no user in the request context: an authentication middleware must run before Authorize")

// Authorize returns a middleware that lets a request through only when a
// allows it, for the user in the request context (request.UserFrom):
//   - Allow: the next handler runs; DecisionFrom returns the decision.
//   - Deny or NoOpinion: 403, a Status with kube-apiserver's message (User "u"
//     cannot get resource "pods" in API group "" in the namespace "ns": reason).
//   - an error without Allow (kube-apiserver could not be reached, for
//     example): 503, a Status with Retry-After. It never allows on error.
//   - an error wrapping authz.ErrTooManyInFlight (the check would exceed the
//     authorizer's bound on reviews in flight): 429, a Status with
//     Retry-After.
//   - no user in the context: 500; it is a wiring mistake, never allowed.
//
// It uses the attributes stored by RequestAttributes, or resolves them itself
// (and stores the RequestInfo) when RequestAttributes did not run. It panics
// if a is nil.
func Authorize(a authorizer.UnconditionalAuthorizer, opts AuthorizeOptions) func(http.Handler) http.Handler {
	if a == nil {
		panic("middleware: Authorize needs an authorizer")
	}
	refusals := opts.refusals()
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx := r.Context()
			u, ok := request.UserFrom(ctx)
			if !ok || u == nil {
				WriteStatus(w, apierrors.NewInternalError(errNoUser))
				return
			}
			s := stateFrom(ctx)
			if s == nil {
				s = new(requestState)
				if info, ok := request.RequestInfoFrom(ctx); ok && info != nil {
					s.attrs.InitFromRequestInfo(u, info)
					ctx = context.WithValue(ctx, requestStateKey{}, s)
				} else if err := s.attrs.Init(r, u); err != nil {
					WriteStatus(w, apierrors.NewBadRequest(err.Error()))
					return
				} else {
					ctx = withState(ctx, s)
				}
				r = r.WithContext(ctx)
			}
			s.attrs.User = u

			if authorized(w, r, a, s, refusals) {
				next.ServeHTTP(w, r)
			}
		})
	}
}

// refusals are the errors answered when the authorization check could not be
// completed: 503 when it failed, 429 when it was not attempted for too many
// checks in flight; both with Retry-After.
type refusals struct {
	unavailable, busy error
}

// authorized asks a about s's attributes and records the decision in s. When a
// does not allow, it writes the refusal (403, or 503 or 429 on an error) and
// reports false.
func authorized(w http.ResponseWriter, r *http.Request, a authorizer.UnconditionalAuthorizer, s *requestState, refuse refusals) bool {
	d, reason, err := a.Authorize(r.Context(), &s.attrs)
	switch {
	case d == authorizer.DecisionAllow:
		s.decision, s.decided = Decision{Decision: d, Reason: reason}, true
		return true
	case d == authorizer.DecisionDeny || err == nil:
		WriteStatus(w, responsewriters.ForbiddenStatusError(&s.attrs, reason))
	case errors.Is(err, authz.ErrTooManyInFlight):
		WriteStatus(w, refuse.busy)
	default:
		WriteStatus(w, refuse.unavailable)
	}
	return false
}

// refusals are the 503 and 429 answered when the check could not be completed,
// with RetryAfter (default DefaultAuthorizeRetryAfter) rounded up to seconds.
func (o AuthorizeOptions) refusals() refusals {
	d := o.RetryAfter
	if d <= 0 {
		d = DefaultAuthorizeRetryAfter
	}
	seconds := int32((d + time.Second - 1) / time.Second)
	unavailable := apierrors.NewServiceUnavailable("the authorization check for this request could not be completed; retry later")
	unavailable.ErrStatus.Details = &metav1.StatusDetails{RetryAfterSeconds: seconds}
	busy := apierrors.NewTooManyRequests("too many requests are waiting for their authorization check; retry later", int(seconds))
	return refusals{unavailable: unavailable, busy: busy}
}
