package admission

import (
	"context"

	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// Interface is an admission check. Admit returns nil to let the request
// proceed, or an error to refuse it. The error should be a Kubernetes Status
// error (k8s.io/apimachinery/pkg/api/errors): its code, reason and message are
// what the client sees; any other error is answered as a 500 InternalError.
//
// Admit is called concurrently from many requests and must be safe for that.
// ctx is the request's context: a check that blocks must return when it ends.
type Interface interface {
	Admit(ctx context.Context, a authorizer.Attributes) error
}

// Func adapts an ordinary function to Interface.
type Func func(ctx context.Context, a authorizer.Attributes) error

// Admit calls f(ctx, a).
func (f Func) Admit(ctx context.Context, a authorizer.Attributes) error {
	return f(ctx, a)
}

// Checks is a list of checks run in order. The first one that refuses decides:
// its error is returned and the checks after it do not run. An empty Checks
// admits everything. Every element must be non-nil.
type Checks []Interface

// Admit runs the checks of c in order and returns the first error.
func (c Checks) Admit(ctx context.Context, a authorizer.Attributes) error {
	for _, check := range c {
		if err := check.Admit(ctx, a); err != nil {
			return err
		}
	}
	return nil
}
