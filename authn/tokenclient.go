package authn

import (
	"context"
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	authenticationv1client "k8s.io/client-go/kubernetes/typed/authentication/v1"
	"k8s.io/client-go/rest"

	"github.com/aggauth/aggauth/internal/reviewclient"
)

// TokenReviewCreator creates TokenReviews. client-go's
// authenticationv1client.TokenReviewInterface implements it, and so does
// NewReviewClient's result.
type TokenReviewCreator interface {
	Create(ctx context.Context, review *authenticationv1.TokenReview, opts metav1.CreateOptions) (*authenticationv1.TokenReview, error)
}

// Defaults of ReviewClientOptions: Kubernetes' delegated authentication
// client settings.
const (
	DefaultReviewClientQPS     = reviewclient.DefaultQPS
	DefaultReviewClientBurst   = reviewclient.DefaultBurst
	DefaultReviewClientTimeout = reviewclient.DefaultTimeout
)

// ReviewClientOptions configures the client NewReviewClient builds:
// QPS (default 200), Burst (default 400), Timeout of each request (default
// 10 s), and RateLimiter, which replaces QPS and Burst and may be shared
// between clients to give them one budget.
type ReviewClientOptions = reviewclient.Options

// NewReviewClient returns a TokenReview client for cfg (for example from
// rest.InClusterConfig), with the rate limits (or the rate limiter) and
// timeout of opts set explicitly, whatever cfg says. Unless cfg sets a content
// type, reviews are sent as JSON, as Kubernetes' webhook token authenticator
// sends them. cfg is not modified.
func NewReviewClient(cfg *rest.Config, opts ReviewClientOptions) (authenticationv1client.TokenReviewInterface, error) {
	c, err := reviewclient.Config(cfg, opts)
	if err != nil {
		return nil, fmt.Errorf("authn: %w", err)
	}
	client, err := authenticationv1client.NewForConfig(c)
	if err != nil {
		return nil, fmt.Errorf("authn: building the TokenReview client: %w", err)
	}
	return client.TokenReviews(), nil
}
