package aggauthtest

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	authorizationv1 "k8s.io/api/authorization/v1"
)

// Rule allows some users to do some things, as an RBAC rule bound to them
// does. Every field is a list of what the rule matches: an empty list, or one
// holding "*", matches anything. A SubjectAccessReview is allowed when one
// rule matches all of it.
//
// A rule that sets APIGroups, Resources, ResourceNames or Namespaces matches
// only requests for resources; one that sets NonResourceURLs only requests for
// other paths (/metrics, say); setting both kinds is an error. A rule that
// sets neither matches both kinds.
type Rule struct {
	// Users the rule applies to, by name. Default: anyone (unless Groups is
	// set: then only the members of those groups).
	Users []string
	// Groups the rule applies to: their members, whatever Users says. Default:
	// anyone (unless Users is set: then only those users).
	Groups []string
	// Verbs allowed: Kubernetes' get, list, watch, create, update, patch,
	// delete, deletecollection, impersonate..., or for other paths the
	// lower-cased HTTP method (get, post...). Default: any.
	Verbs []string
	// APIGroups of the resources, "" for the core group. Default: any.
	APIGroups []string
	// Resources, "widgets", or "widgets/status" for a subresource. Default:
	// any.
	Resources []string
	// ResourceNames the rule is limited to. As in RBAC, a rule with names
	// matches only requests that name one of them: a list matches only when
	// its field selector names the object (metadata.name=x). Default: any
	// request, with or without a name.
	ResourceNames []string
	// Namespaces the rule is limited to; "" is a cluster-scoped request.
	// Default: any namespace and cluster scope.
	Namespaces []string
	// NonResourceURLs are paths other than resources, exact, or a prefix
	// when they end with "*" ("/debug/*"). Default: any.
	NonResourceURLs []string
}

// validate refuses a rule RBAC would refuse.
func (r Rule) validate() error {
	if r.forResources() && len(r.NonResourceURLs) > 0 {
		return errors.New("sets both resource fields and NonResourceURLs; write two rules")
	}
	for _, u := range r.NonResourceURLs {
		if !strings.HasPrefix(u, "/") && u != "*" {
			return fmt.Errorf("NonResourceURLs: %q does not start with /", u)
		}
		if i := strings.IndexByte(u, '*'); i >= 0 && i != len(u)-1 {
			return fmt.Errorf("NonResourceURLs: %q has a * before its end", u)
		}
	}
	return nil
}

func (r Rule) forResources() bool {
	return len(r.APIGroups)+len(r.Resources)+len(r.ResourceNames)+len(r.Namespaces) > 0
}

// matches reports whether the rule allows spec.
func (r Rule) matches(spec authorizationv1.SubjectAccessReviewSpec) bool {
	if !r.appliesTo(spec.User, spec.Groups) {
		return false
	}
	switch ra, na := spec.ResourceAttributes, spec.NonResourceAttributes; {
	case ra != nil:
		resource := ra.Resource
		if ra.Subresource != "" {
			resource += "/" + ra.Subresource
		}
		return len(r.NonResourceURLs) == 0 && listMatches(r.Verbs, ra.Verb) && listMatches(r.APIGroups, ra.Group) &&
			listMatches(r.Resources, resource) && listMatches(r.ResourceNames, ra.Name) && listMatches(r.Namespaces, ra.Namespace)
	case na != nil:
		return !r.forResources() && listMatches(r.Verbs, na.Verb) && r.matchesPath(na.Path)
	}
	return false
}

func (r Rule) appliesTo(name string, groups []string) bool {
	if len(r.Users) == 0 && len(r.Groups) == 0 {
		return true
	}
	return matchAny(r.Users, name) || slices.ContainsFunc(groups, func(g string) bool { return matchAny(r.Groups, g) })
}

func (r Rule) matchesPath(path string) bool {
	if len(r.NonResourceURLs) == 0 {
		return true
	}
	return slices.ContainsFunc(r.NonResourceURLs, func(u string) bool {
		if prefix, ok := strings.CutSuffix(u, "*"); ok {
			return strings.HasPrefix(path, prefix)
		}
		return u == path
	})
}

// listMatches reports whether list matches v: empty, "*", or v among its values.
func listMatches(list []string, v string) bool { return len(list) == 0 || matchAny(list, v) }

// matchAny reports whether list holds v or "*".
func matchAny(list []string, v string) bool {
	return slices.ContainsFunc(list, func(s string) bool { return s == v || s == "*" })
}
