package authz

import (
	"fmt"

	authorizationv1client "k8s.io/client-go/kubernetes/typed/authorization/v1"
	"k8s.io/client-go/rest"

	"github.com/aggauth/aggauth/internal/reviewclient"
)

// Defaults of ReviewClientOptions: Kubernetes' delegated authorization client settings.
const (
	DefaultReviewClientQPS     = reviewclient.DefaultQPS
	DefaultReviewClientBurst   = reviewclient.DefaultBurst
	DefaultReviewClientTimeout = reviewclient.DefaultTimeout
)

// ReviewClientOptions configures the SubjectAccessReview client NewClient builds:
// QPS (default 200), Burst (default 400), Timeout of each request (default
// 10 s), and RateLimiter, which replaces QPS and Burst and may be shared
// between clients to give them one budget.
type ReviewClientOptions = reviewclient.Options

// NewReviewClient returns a SubjectAccessReview client for cfg (for example from
// rest.InClusterConfig), with the rate limits (or the rate limiter) and
// timeout of opts set explicitly, whatever cfg says. Unless cfg sets a content
// type, reviews are sent as JSON, byte for byte what Kubernetes' webhook
// authorizer sends. cfg is not modified.
func NewReviewClient(cfg *rest.Config, opts ReviewClientOptions) (authorizationv1client.SubjectAccessReviewInterface, error) {
	c, err := reviewclient.Config(cfg, opts)
	if err != nil {
		return nil, fmt.Errorf("authz: %w", err)
	}
	client, err := authorizationv1client.NewForConfig(c)
	if err != nil {
		return nil, fmt.Errorf("authz: building the SubjectAccessReview client: %w", err)
	}
	return client.SubjectAccessReviews(), nil
}
