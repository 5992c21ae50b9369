package authn_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"

	"github.com/aggauth/aggauth/internal/fakekube"
)

// newTokenServer starts a fake kube-apiserver answering TokenReviews with
// answer; it stops when the test ends.
func newTokenServer(t testing.TB, answer fakekube.AuthenticateFunc) *fakekube.Server {
	t.Helper()
	s, err := fakekube.Start(fakekube.Options{Authenticate: answer, DiscardReviews: true})
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s
}

// tokenRestConfig trusts the server's certificate and does not throttle.
func tokenRestConfig(s *fakekube.Server) *rest.Config {
	c := s.RestConfig()
	c.QPS, c.Burst = 1e6, 1e6
	return c
}
