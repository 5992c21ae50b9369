package middleware_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/aggauth/aggauth/admission"
	"github.com/aggauth/aggauth/middleware"
)

// requestAttributes is the RequestAttributes step as a middleware.
func requestAttributes(next http.Handler) http.Handler {
	ra, err := middleware.NewRequestAttributes(middleware.RequestAttributesOptions{})
	if err != nil {
		panic(err)
	}
	return ra.Handler(next)
}

// authorize is the Authorization step for a as a middleware.
func authorize(t testing.TB, a authorizer.UnconditionalAuthorizer, opts middleware.AuthorizationOptions) func(http.Handler) http.Handler {
	t.Helper()
	opts.Authorizer = a
	st, err := middleware.NewAuthorization(opts)
	require.NoError(t, err)
	return st.Handler
}

// admit is the Admission step for check as a middleware.
func admit(t testing.TB, check admission.Interface) func(http.Handler) http.Handler {
	t.Helper()
	st, err := middleware.NewAdmission(middleware.AdmissionOptions{Admission: check})
	require.NoError(t, err)
	return st.Handler
}
