package middleware

import (
	"context"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apiserver/pkg/endpoints/request"
)

// RequestAttributes resolves each request into Kubernetes' RequestInfo, with
// kube-apiserver's exact rules (see authz.NewRequestInfo), and stores it with
// request.WithRequestInfo for the handlers after it; it also stores the
// authorizer attributes, which AttributesFrom returns and Authorize uses. The
// user is the one in the context when Authorize runs, so RequestAttributes may
// run before or after authentication.
//
// A path that names a special verb and nothing after it (such as
// /api/v1/watch), which Kubernetes cannot resolve either, is answered with a
// 400 Status.
func RequestAttributes(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		u, _ := request.UserFrom(ctx)
		s := new(requestState)
		if err := s.attrs.Init(r, u); err != nil {
			WriteStatus(w, apierrors.NewBadRequest(err.Error()))
			return
		}
		next.ServeHTTP(w, r.WithContext(withState(ctx, s)))
	})
}

// withState stores s and its RequestInfo in ctx.
func withState(ctx context.Context, s *requestState) context.Context {
	ctx = request.WithRequestInfo(ctx, s.attrs.RequestInfo())
	return context.WithValue(ctx, requestStateKey{}, s)
}
