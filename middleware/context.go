package middleware

import (
	"context"

	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/aggauth/aggauth/authz"
)

// Decision is the authorization decision the Authorize middleware took for a
// request, with the authorizer's reason (for example the RBAC rule that allowed it).
type Decision struct {
	Decision authorizer.Decision
	Reason   string
}

// requestStateKey is the context key of *requestState.
type requestStateKey struct{}

// requestState is what RequestAttributes and Authorize keep for one request, in
// one allocation. It is written by the middlewares before they call the next
// handler, and only read afterwards.
type requestState struct {
	attrs    authz.Attributes
	decision Decision
	decided  bool
}

func stateFrom(ctx context.Context) *requestState {
	s, _ := ctx.Value(requestStateKey{}).(*requestState)
	return s
}

// AttributesFrom returns the authorizer attributes of the request, set by
// RequestAttributes or Authorize.
func AttributesFrom(ctx context.Context) (authorizer.Attributes, bool) {
	s := stateFrom(ctx)
	if s == nil {
		return nil, false
	}
	return &s.attrs, true
}

// DecisionFrom returns the authorization decision taken by Authorize; it is
// only set on requests Authorize let through.
func DecisionFrom(ctx context.Context) (Decision, bool) {
	s := stateFrom(ctx)
	if s == nil || !s.decided {
		return Decision{}, false
	}
	return s.decision, true
}
