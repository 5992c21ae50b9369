package authz_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	authorizationv1client "k8s.io/client-go/kubernetes/typed/authorization/v1"
	"k8s.io/client-go/rest"

	"github.com/aggauth/aggauth/authz"
	"github.com/aggauth/aggauth/internal/fakekube"
)

// newSARServer starts a fake kube-apiserver answering SubjectAccessReviews
// with answer, recording them; it stops when the test ends.
func newSARServer(t testing.TB, answer fakekube.AuthorizeFunc) *fakekube.Server {
	t.Helper()
	s, err := fakekube.Start(fakekube.Options{Authorize: answer})
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s
}

// allowAll answers every review with an allow.
func allowAll(authorizationv1.SubjectAccessReviewSpec) (authorizationv1.SubjectAccessReviewStatus, error) {
	return authorizationv1.SubjectAccessReviewStatus{Allowed: true, Reason: "allowed by test"}, nil
}

// restConfig returns a client configuration for s with Kubernetes' delegated
// authorization limits (200 QPS, burst 400).
func restConfig(s *fakekube.Server) *rest.Config {
	c := s.RestConfig()
	c.QPS, c.Burst = 200, 400
	return c
}

// sarClient returns our SubjectAccessReview client for s.
func sarClient(t testing.TB, s *fakekube.Server) authorizationv1client.SubjectAccessReviewInterface {
	c, err := authz.NewReviewClient(restConfig(s), authz.ReviewClientOptions{})
	require.NoError(t, err)
	return c
}

// statusError is an API error with the given code, suggesting a retry delay
// when retryAfter is set.
func statusError(code int32, retryAfter bool) *apierrors.StatusError {
	st := metav1.Status{Status: metav1.StatusFailure, Code: code, Reason: metav1.StatusReasonUnknown, Message: "test failure"}
	switch code {
	case http.StatusInternalServerError:
		st.Reason = metav1.StatusReasonInternalError
	case http.StatusGatewayTimeout:
		st.Reason = metav1.StatusReasonTimeout
	case http.StatusTooManyRequests:
		st.Reason = metav1.StatusReasonTooManyRequests
	case http.StatusForbidden:
		st.Reason = metav1.StatusReasonForbidden
	case http.StatusServiceUnavailable:
		st.Reason = metav1.StatusReasonServiceUnavailable
	}
	if retryAfter {
		st.Details = &metav1.StatusDetails{RetryAfterSeconds: 1}
	}
	return &apierrors.StatusError{ErrStatus: st}
}
