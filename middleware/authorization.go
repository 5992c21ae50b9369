package middleware

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/aggauth/aggauth/pipeline"
	"github.com/aggauth/aggauth/status"
)

// AuthorizationOptions configures NewAuthorization.
type AuthorizationOptions struct {
	// Authorizer decides whether the caller may. Required: pass an authorizer
	// that always allows, explicitly, to turn authorization off. Usually an
	// *authz.Authorizer; any Kubernetes authorizer.Authorizer works.
	Authorizer authorizer.UnconditionalAuthorizer

	// RetryAfter is the delay advised, in a Retry-After header and the Status
	// details, when the check could not be completed, rounded up to whole
	// seconds. Default 1 s.
	RetryAfter time.Duration
}

// Authorization lets a request through only when the authorizer allows it for
// the user in the request context (request.UserFrom), with the attributes
// RequestAttributes resolved (or resolves them itself):
//
//   - Allow: the next handler runs; DecisionFrom returns the decision.
//   - Deny or NoOpinion: 403, a Status with kube-apiserver's message (User "u"
//     cannot get resource "pods" in API group "" in the namespace "ns":
//     reason).
//   - an error wrapping authz.ErrTooManyInFlight (the check would exceed the
//     authorizer's bound on reviews in flight): 429, a Status with
//     Retry-After.
//   - any other error without Allow (kube-apiserver could not be reached, for
//     example): 503, a Status with Retry-After. It never allows on error.
//   - no user in the context: 500; it is a wiring mistake, never allowed.
type Authorization struct {
	authorizer authorizer.UnconditionalAuthorizer
	refusals   refusals
}

// refusals are the answers when the check could not be completed: the
// Status of a *status.Refusal (authz's 429 for too many checks in flight,
// 500 for a review client that panicked), else 503; with Retry-After.
type refusals struct {
	unavailable *apierrors.StatusError
	retryAfter  time.Duration
}

func newRefusals(retryAfter time.Duration) refusals {
	return refusals{
		unavailable: status.Unavailable("the authorization check for this request could not be completed; retry later", retryAfter),
		retryAfter:  retryAfter,
	}
}

// refusal is the error answered for a check that failed with err.
func (r refusals) refusal(err error) error {
	if ref := status.RefusalOf(err); ref != nil {
		return status.WithRetryAfter(ref.Status, r.retryAfter)
	}
	return r.unavailable
}

// NewAuthorization checks opts and returns the step.
func NewAuthorization(opts AuthorizationOptions) (*Authorization, error) {
	if opts.Authorizer == nil {
		return nil, errors.New("middleware: AuthorizationOptions.Authorizer is required")
	}
	return &Authorization{authorizer: opts.Authorizer, refusals: newRefusals(opts.RetryAfter)}, nil
}

// Handler wraps next with the step. It is a func(http.Handler) http.Handler.
func (a *Authorization) Handler(next http.Handler) http.Handler { return pipeline.New(next, a) }

// errNoUser is the 500 answered when no authentication step ran.
var errNoUser = apierrors.NewInternalError(errors.New("no user in the request context: an authentication step must run before authorization"))

func (a *Authorization) Serve(w http.ResponseWriter, r *http.Request, s *pipeline.State) *http.Request {
	if s.User() == nil {
		WriteStatus(w, errNoUser)
		return nil
	}
	if _, err := s.Resolve(r); err != nil {
		WriteStatus(w, badRequest(err.Error()))
		return nil
	}
	attrs, _ := s.Attributes()
	d, reason, err := a.authorizer.Authorize(r.Context(), attrs)
	s.SetAuthorizationResult(d, reason, err)
	switch {
	case d == authorizer.DecisionAllow:
		s.SetDecision(d, reason)
		return r
	case d == authorizer.DecisionDeny || err == nil:
		WriteStatus(w, forbidden(attrs, reason))
	default:
		WriteStatus(w, a.refusals.refusal(err))
	}
	return nil
}

// forbidden is kube-apiserver's 403 for attrs
// (responsewriters.ForbiddenStatusError, which this package does not import
// for it: it would bring in the CEL libraries). A differential test holds the
// two equal.
func forbidden(attrs authorizer.Attributes, reason string) *apierrors.StatusError {
	msg := htmlEscaper.Replace(forbiddenMessage(attrs))
	if reason != "" {
		msg += ": " + reason
	}
	gr := schema.GroupResource{Group: attrs.GetAPIGroup(), Resource: attrs.GetResource()}
	return apierrors.NewForbidden(gr, attrs.GetName(), errors.New(msg))
}

// htmlEscaper is Kubernetes' sanitizer of the message's user-given parts.
var htmlEscaper = strings.NewReplacer(`&`, "&amp;", `<`, "&lt;", `>`, "&gt;")

func forbiddenMessage(attrs authorizer.Attributes) string {
	username := ""
	if u := attrs.GetUser(); u != nil {
		username = u.GetName()
	}
	if !attrs.IsResourceRequest() {
		return fmt.Sprintf("User %q cannot %s path %q", username, attrs.GetVerb(), attrs.GetPath())
	}
	resource := attrs.GetResource()
	if sub := attrs.GetSubresource(); sub != "" {
		resource += "/" + sub
	}
	if ns := attrs.GetNamespace(); ns != "" {
		return fmt.Sprintf("User %q cannot %s resource %q in API group %q in the namespace %q", username, attrs.GetVerb(), resource, attrs.GetAPIGroup(), ns)
	}
	return fmt.Sprintf("User %q cannot %s resource %q in API group %q at the cluster scope", username, attrs.GetVerb(), resource, attrs.GetAPIGroup())
}
