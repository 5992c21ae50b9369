package middleware

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/authentication/serviceaccount"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/aggauth/aggauth/internal/fold"
	"github.com/aggauth/aggauth/pipeline"
)

// ImpersonationOptions configures NewImpersonation.
type ImpersonationOptions struct {
	// Authorizer decides whether the caller may impersonate. Required unless
	// Refuse is set; the Chain uses its authorizer.
	Authorizer authorizer.UnconditionalAuthorizer

	// Refuse answers every request that asks to impersonate with 403,
	// instead of checking it. Default false.
	Refuse bool

	// RetryAfter is the delay advised when a check could not be completed.
	// Default 1 s.
	RetryAfter time.Duration
}

// Impersonation lets a caller act as another user, as kube-apiserver's
// impersonation filter does, for the callers that reach the server directly
// (through the aggregator, kube-apiserver has already resolved and removed
// these headers):
//
//   - Impersonate-User, Impersonate-Uid, Impersonate-Group (repeatable) and
//     Impersonate-Extra-<key> ask to act as that user; each is authorized for
//     the caller with the verb impersonate on users, uids, groups,
//     userextras/<key> (API group authentication.k8s.io) or serviceaccounts
//     (core, for system:serviceaccount:<namespace>:<name>);
//   - when all are allowed the request runs as the impersonated user:
//     system:authenticated is added unless system:authenticated or
//     system:unauthenticated was asked for (system:unauthenticated for
//     system:anonymous), and a service account without groups asked for gets
//     system:serviceaccounts and system:serviceaccounts:<namespace>;
//   - a refusal is kube-apiserver's 403 Status; a group, uid or extra without
//     a user is 400; an empty Impersonate-Uid alone is no impersonation.
//
// The Impersonate-* headers never reach the next handler. The checks are those
// of Kubernetes' legacy impersonation, which its constrained impersonation
// (KEP-5284, the default since 1.36) also performs: a caller granted only the
// constrained verbs (impersonate:user-info, impersonate-on:<mode>:<verb>, ...)
// is refused here where kube-apiserver would allow it (fail closed); and a
// node user (system:node:<name>) impersonated by a caller also granted
// impersonate:node gets system:authenticated alone here, where
// kube-apiserver's constrained node mode gives system:nodes too (the legacy
// mode's answer; a missing group can only narrow what RBAC grants). Both are
// deliberate: the constrained modes cost more reviews per request, and
// through the aggregator kube-apiserver has resolved impersonation already. A check
// that could not be completed is a 503 (429 for too many in flight), where
// kube-apiserver answers 403.
type Impersonation struct {
	authorizer authorizer.UnconditionalAuthorizer
	refuse     bool
	refusals   refusals
}

// NewImpersonation checks opts and returns the step.
func NewImpersonation(opts ImpersonationOptions) (*Impersonation, error) {
	if opts.Authorizer == nil && !opts.Refuse {
		return nil, fmt.Errorf("middleware: ImpersonationOptions needs an Authorizer, or Refuse")
	}
	return &Impersonation{authorizer: opts.Authorizer, refuse: opts.Refuse, refusals: newRefusals(opts.RetryAfter)}, nil
}

// Handler wraps next with the step. It is a func(http.Handler) http.Handler.
func (im *Impersonation) Handler(next http.Handler) http.Handler { return pipeline.New(next, im) }

// errImpersonationRefused answers any impersonation when Refuse is set.
var errImpersonationRefused = apierrors.NewForbidden(schema.GroupResource{}, "", errors.New("impersonation is not allowed on this server"))

func (im *Impersonation) Serve(w http.ResponseWriter, r *http.Request, s *pipeline.State) *http.Request {
	if !asksToImpersonate(r.Header) {
		return r
	}
	if im.refuse {
		deleteImpersonationHeaders(r.Header)
		WriteStatus(w, errImpersonationRefused)
		return nil
	}
	if s.User() == nil {
		WriteStatus(w, errNoUser)
		return nil
	}
	wanted, err := impersonationRequests(r.Header)
	if err != nil {
		WriteStatus(w, err)
		return nil
	}
	if wanted == nil { // an empty Impersonate-Uid alone, or only empty values
		deleteImpersonationHeaders(r.Header)
		return r
	}
	for i := range wanted.checks {
		attrs := &wanted.checks[i]
		attrs.User = s.User()
		d, reason, err := im.authorizer.Authorize(r.Context(), attrs)
		switch {
		case d == authorizer.DecisionAllow:
			continue
		case d == authorizer.DecisionDeny || err == nil:
			WriteStatus(w, forbidden(attrs, reason))
		default:
			WriteStatus(w, im.refusals.refusal(err))
		}
		return nil
	}
	deleteImpersonationHeaders(r.Header)
	s.Impersonator = s.User()
	s.SetUser(wanted.user()) // request.UserFrom tells the impersonated user
	return r
}

// isImpersonationHeader reports whether the header name k starts with
// Impersonate-, ignoring case.
func isImpersonationHeader(k string) bool { return fold.HasPrefix(k, "Impersonate-") }

// asksToImpersonate reports whether h holds any Impersonate-* header.
func asksToImpersonate(h http.Header) bool {
	for k := range h {
		if isImpersonationHeader(k) {
			return true
		}
	}
	return false
}

// impersonation is what a request asks to be: the user it would run as and
// the checks that must all allow it.
type impersonation struct {
	name, uid       string
	groups          []string
	groupsSpecified bool
	extra           map[string][]string
	checks          []authorizer.AttributesRecord
}

// impersonationRequests reads the Impersonate-* headers as Kubernetes'
// constrained impersonation filter does (processImpersonationHeaders), with the
// checks of its legacy mode in its order: the user (or service account), the
// uid, the groups, then the extra values (keys sorted). It returns nil when no
// user is asked for and nothing else either.
func impersonationRequests(h http.Header) (*impersonation, error) {
	im := &impersonation{name: h.Get(authenticationv1.ImpersonateUserHeader), uid: h.Get(authenticationv1.ImpersonateUIDHeader)}
	im.groups = h[authenticationv1.ImpersonateGroupHeader]
	im.groupsSpecified = len(im.groups) > 0
	hasExtra := false
	for k, values := range h {
		if !strings.HasPrefix(k, authenticationv1.ImpersonateUserExtraHeaderPrefix) {
			continue
		}
		hasExtra = true
		if len(values) == 0 {
			continue
		}
		if im.extra == nil {
			im.extra = map[string][]string{}
		}
		key := unescapeExtraKey(strings.ToLower(k[len(authenticationv1.ImpersonateUserExtraHeaderPrefix):]))
		im.extra[key] = append(im.extra[key], values...)
	}
	if im.name == "" {
		if im.uid != "" || im.groupsSpecified || hasExtra {
			return nil, apierrors.NewBadRequest("requested to impersonate a uid, groups or extra values without impersonating a user name")
		}
		return nil, nil
	}

	if ns, name, err := serviceaccount.SplitUsername(im.name); err == nil {
		im.check(corev1.SchemeGroupVersion, "serviceaccounts", "", ns, name)
		if !im.groupsSpecified {
			im.groups = serviceaccount.MakeGroupNames(ns)
		}
	} else {
		im.check(corev1.SchemeGroupVersion, "users", "", "", im.name)
	}
	if im.uid != "" {
		im.check(authenticationv1.SchemeGroupVersion, "uids", "", "", im.uid)
	}
	for _, g := range h[authenticationv1.ImpersonateGroupHeader] {
		im.check(corev1.SchemeGroupVersion, "groups", "", "", g)
	}
	for _, key := range slices.Sorted(maps.Keys(im.extra)) {
		for _, v := range im.extra[key] {
			im.check(authenticationv1.SchemeGroupVersion, "userextras", key, "", v)
		}
	}
	return im, nil
}

// check adds the authorization check of one thing to impersonate.
func (im *impersonation) check(gv schema.GroupVersion, resource, subresource, namespace, name string) {
	im.checks = append(im.checks, authorizer.AttributesRecord{
		Verb: "impersonate", APIGroup: gv.Group, APIVersion: gv.Version, Resource: resource, Subresource: subresource,
		Namespace: namespace, Name: name, ResourceRequest: true,
	})
}

// user is the impersonated user, with Kubernetes' group defaulting.
func (im *impersonation) user() user.Info {
	groups := slices.Clip(im.groups) // appending must not write into the header's slice
	add := user.AllAuthenticated
	if im.name == user.Anonymous {
		add = user.AllUnauthenticated
	}
	present := false
	for _, g := range groups {
		if g == add || (add == user.AllAuthenticated && g == user.AllUnauthenticated) {
			present = true
			break
		}
	}
	if !present {
		groups = append(groups, add)
	}
	return &user.DefaultInfo{Name: im.name, UID: im.uid, Groups: groups, Extra: im.extra}
}

func deleteImpersonationHeaders(h http.Header) {
	for k := range h {
		if isImpersonationHeader(k) {
			delete(h, k)
		}
	}
}

// unescapeExtraKey is Kubernetes': %-decoded, or the key as sent when it does
// not decode.
func unescapeExtraKey(key string) string {
	if k, err := url.PathUnescape(key); err == nil {
		return k
	}
	return key
}
