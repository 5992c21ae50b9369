// Package reviewclient holds the settings of the clients that send
// kube-apiserver the reviews of delegated authentication and authorization
// (TokenReview, SubjectAccessReview): Kubernetes' delegating client limits,
// set explicitly whatever the caller's rest.Config says, and JSON bodies, as
// Kubernetes' webhooks send them.
package reviewclient

import (
	"cmp"
	"errors"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"

	"github.com/aggauth/aggauth/internal/fair"
)

// Defaults of Options: Kubernetes' delegated authentication and authorization
// client settings.
const (
	DefaultQPS     = 200
	DefaultBurst   = 400
	DefaultTimeout = 10 * time.Second
)

// Options configures a review client.
type Options struct {
	// QPS is the client-side rate limit of reviews per second. Default 200
	// (client-go's own default, 5, would throttle every review).
	QPS float32
	// Burst is the client-side burst of reviews above QPS. Default 400.
	Burst int
	// Timeout bounds each review request. Default 10 s.
	Timeout time.Duration
	// RateLimiter, when set, replaces QPS and Burst: the client waits for it
	// before each request. Default: a limiter of its own built from QPS and
	// Burst (a fair.Limiter: its tokens go in turn to the users, or client
	// addresses, whose reviews wait, instead of in arrival order).
	RateLimiter flowcontrol.RateLimiter
}

// Config returns a copy of cfg with the limits (or the limiter) and timeout
// of opts, defaults filled in, and JSON bodies unless cfg sets a content type
// (client-go's typed clients would otherwise send protobuf). cfg's own rate
// limiter is dropped: opts' one is used, else a fair.Limiter of QPS and
// Burst, so that no two clients share a budget unless the caller says so.
func Config(cfg *rest.Config, opts Options) (*rest.Config, error) {
	if cfg == nil {
		return nil, errors.New("a rest.Config is required")
	}
	c := rest.CopyConfig(cfg)
	c.QPS = cmp.Or(opts.QPS, DefaultQPS)
	c.Burst = cmp.Or(opts.Burst, DefaultBurst)
	c.Timeout = cmp.Or(opts.Timeout, DefaultTimeout)
	c.RateLimiter = opts.RateLimiter
	if c.RateLimiter == nil {
		c.RateLimiter = fair.NewLimiter(c.QPS, c.Burst)
	}
	if c.ContentType == "" {
		c.ContentType = "application/json"
	}
	return c, nil
}
