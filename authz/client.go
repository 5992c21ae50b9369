package authz

import (
	"errors"
	"fmt"
	"time"

	authorizationv1client "k8s.io/client-go/kubernetes/typed/authorization/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"
)

// Defaults of ClientOptions: Kubernetes' delegated authorization client settings.
const (
	DefaultClientQPS     = 200
	DefaultClientBurst   = 400
	DefaultClientTimeout = 10 * time.Second
)

// ClientOptions configures the SubjectAccessReview client NewClient builds.
type ClientOptions struct {
	// QPS is the client-side rate limit of reviews per second. Default 200
	// (client-go's own default, 5, would throttle authorization).
	QPS float32
	// Burst is the client-side burst of reviews above QPS. Default 400.
	Burst int
	// Timeout bounds each review request. Default 10 s.
	Timeout time.Duration
	// RateLimiter, when set, replaces QPS and Burst: the client waits for it
	// before each request. Pass one limiter to several clients to give them
	// one budget together (aggauth.New shares one between its
	// SubjectAccessReview and TokenReview clients). Default: a limiter of its
	// own built from QPS and Burst.
	RateLimiter flowcontrol.RateLimiter
}

// NewClient returns a SubjectAccessReview client for cfg (for example from
// rest.InClusterConfig), with the rate limits (or the rate limiter) and
// timeout of opts set explicitly, whatever cfg says. Unless cfg sets a content type, reviews are
// sent as JSON, byte for byte what Kubernetes' webhook authorizer sends
// (client-go's typed clients would otherwise send protobuf). cfg is not
// modified.
func NewClient(cfg *rest.Config, opts ClientOptions) (authorizationv1client.SubjectAccessReviewInterface, error) {
	if cfg == nil {
		return nil, errors.New("authz: a rest.Config is required")
	}
	if opts.QPS == 0 {
		opts.QPS = DefaultClientQPS
	}
	if opts.Burst == 0 {
		opts.Burst = DefaultClientBurst
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultClientTimeout
	}
	c := rest.CopyConfig(cfg)
	c.QPS, c.Burst, c.Timeout = opts.QPS, opts.Burst, opts.Timeout
	// QPS and Burst apply only without an explicit limiter, so cfg's own is
	// dropped unless opts gives one.
	c.RateLimiter = opts.RateLimiter
	if c.ContentType == "" {
		c.ContentType = "application/json"
	}
	client, err := authorizationv1client.NewForConfig(c)
	if err != nil {
		return nil, fmt.Errorf("authz: building the SubjectAccessReview client: %w", err)
	}
	return client.SubjectAccessReviews(), nil
}
