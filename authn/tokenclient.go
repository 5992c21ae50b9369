package authn

import (
	"context"
	"errors"
	"fmt"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	authenticationv1client "k8s.io/client-go/kubernetes/typed/authentication/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"
)

// TokenReviewCreator creates TokenReviews. client-go's
// authenticationv1client.TokenReviewInterface implements it, and so does
// NewTokenReviewClient's result.
type TokenReviewCreator interface {
	Create(ctx context.Context, review *authenticationv1.TokenReview, opts metav1.CreateOptions) (*authenticationv1.TokenReview, error)
}

// Defaults of TokenReviewClientOptions: Kubernetes' delegated authentication
// client settings.
const (
	DefaultTokenClientQPS     = 200
	DefaultTokenClientBurst   = 400
	DefaultTokenClientTimeout = 10 * time.Second
)

// TokenReviewClientOptions configures the client NewTokenReviewClient builds.
type TokenReviewClientOptions struct {
	// QPS is the client-side rate limit of reviews per second. Default 200
	// (client-go's own default, 5, would throttle authentication).
	QPS float32
	// Burst is the client-side burst of reviews above QPS. Default 400.
	Burst int
	// Timeout bounds each review request. Default 10 s.
	Timeout time.Duration
	// RateLimiter, when set, replaces QPS and Burst; share one limiter between
	// clients to give them one budget (aggauth.New shares one between its
	// TokenReview and SubjectAccessReview clients). Default: a limiter of its
	// own built from QPS and Burst.
	RateLimiter flowcontrol.RateLimiter
}

// NewTokenReviewClient returns a TokenReview client for cfg (for example from
// rest.InClusterConfig), with the rate limits (or the rate limiter) and
// timeout of opts set explicitly, whatever cfg says. Unless cfg sets a content
// type, reviews are sent as JSON, as Kubernetes' webhook token authenticator
// sends them. cfg is not modified.
func NewTokenReviewClient(cfg *rest.Config, opts TokenReviewClientOptions) (authenticationv1client.TokenReviewInterface, error) {
	if cfg == nil {
		return nil, errors.New("authn: a rest.Config is required")
	}
	if opts.QPS == 0 {
		opts.QPS = DefaultTokenClientQPS
	}
	if opts.Burst == 0 {
		opts.Burst = DefaultTokenClientBurst
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTokenClientTimeout
	}
	c := rest.CopyConfig(cfg)
	c.QPS, c.Burst, c.Timeout = opts.QPS, opts.Burst, opts.Timeout
	c.RateLimiter = opts.RateLimiter // nil: QPS and Burst apply
	if c.ContentType == "" {
		c.ContentType = "application/json"
	}
	client, err := authenticationv1client.NewForConfig(c)
	if err != nil {
		return nil, fmt.Errorf("authn: building the TokenReview client: %w", err)
	}
	return client.TokenReviews(), nil
}
