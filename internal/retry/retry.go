// Package retry is the retry policy of Kubernetes' webhooks
// (k8s.io/apiserver/pkg/util/webhook: WithExponentialBackoff with
// DefaultShouldRetry), shared by the SubjectAccessReview authorizer and the
// TokenReview authenticator, without importing that package for it (it would
// bring in grpc and OpenTelemetry). Differential tests hold ShouldRetry equal
// to Kubernetes'.
package retry

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/clock"
)

// ShouldRetry is Kubernetes' webhook.DefaultShouldRetry: a connection reset or
// an HTTP/2 connection lost, a 500, a 504 or a 429, or any answer with a
// Retry-After. Connection refused, 401, 403 and 404 are not retried.
func ShouldRetry(err error) bool {
	if utilnet.IsConnectionReset(err) || utilnet.IsHTTP2ConnectionLost(err) || apierrors.IsInternalError(err) ||
		apierrors.IsTimeout(err) || apierrors.IsTooManyRequests(err) {
		return true
	}
	_, retry := apierrors.SuggestsClientDelay(err)
	return retry
}

// Do calls fn until it succeeds, fails with an error ShouldRetry refuses, has
// been called backoff.Steps times, or ctx ends while waiting between calls
// (backoff.Step() apart, timed by clk). It returns fn's last error: like
// Kubernetes, the error of the webhook, not that of the context, is what
// callers see.
func Do(ctx context.Context, clk clock.WithTicker, backoff wait.Backoff, fn func() error) error {
	for {
		err := fn()
		if err == nil || !ShouldRetry(err) || backoff.Steps <= 1 {
			return err
		}
		t := clk.NewTimer(backoff.Step())
		select {
		case <-t.C():
		case <-ctx.Done():
			t.Stop()
			return err
		}
	}
}
