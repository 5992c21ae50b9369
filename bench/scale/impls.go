//go:build scale

package scale

import (
	"fmt"
	"log/slog"
	"time"

	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/aggauth/aggauth/authz"
	"github.com/aggauth/aggauth/bench/load/fixture"
)

// kubernetesCacheSize is the size of the webhook authorizer's decision cache,
// fixed in k8s.io/apiserver v0.37.2 (plugin/pkg/authorizer/webhook:
// cache.NewLRUExpireCache(8192)): no option changes it.
const kubernetesCacheSize = 8192

// bytesPerEntry is the byte bound given to aggauth's cache per entry of its
// entry bound: DefaultMaxBytes / DefaultMaxEntries.
const bytesPerEntry = authz.DefaultMaxBytes / authz.DefaultMaxEntries

// authorizerImpl builds an implementation's authorizer, asking api, with a
// cache of size entries and ttl for allows and denials, with Kubernetes'
// client budget or, when unlimited, none.
type authorizerImpl struct {
	name  string
	build func(api *apiserver, size int, ttl time.Duration, unlimited bool) (authorizer.Authorizer, error)
}

var impls = []authorizerImpl{
	{"aggauth", buildAggauth},
	{"kubernetes", buildKubernetes},
}

func buildAggauth(api *apiserver, size int, ttl time.Duration, unlimited bool) (authorizer.Authorizer, error) {
	cfg := api.restConfig(unlimited)
	client, err := authz.NewReviewClient(cfg, authz.ReviewClientOptions{RateLimiter: cfg.RateLimiter})
	if err != nil {
		return nil, err
	}
	return authz.New(authz.Options{Client: client,
		AllowTTL: ttl, DenyTTL: ttl, MaxEntries: size, MaxBytes: int64(size) * bytesPerEntry,
		Logger: slog.New(slog.DiscardHandler),
	})
}

// buildKubernetes is the webhook authorizer of Kubernetes' delegated
// authorization, built as DelegatingAuthorizationOptions builds it (without
// the always-allow groups and paths, which no simulated request uses). Its
// cache size is kubernetesCacheSize whatever size says.
func buildKubernetes(api *apiserver, size int, ttl time.Duration, unlimited bool) (authorizer.Authorizer, error) {
	a, err := fixture.KubernetesAuthorizer(api.restConfig(unlimited), ttl, ttl)
	if err != nil {
		return nil, fmt.Errorf("webhook authorizer: %w", err)
	}
	return a, nil
}

// effectiveSize is the cache size an implementation really has.
func effectiveSize(impl string, size int) int {
	if impl == "kubernetes" {
		return kubernetesCacheSize
	}
	return size
}
