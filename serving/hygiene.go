package serving

import (
	"math/rand/v2"
	"net/http"

	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/aggauth/aggauth/pipeline"
)

// CacheControl returns a filter that sets `Cache-Control: no-cache, private`
// on every response whose handler does not set one, as the generic
// apiserver's WithCacheControl: what an apiserver answers depends on who asks.
// The header is added when the response starts.
func CacheControl() func(http.Handler) http.Handler { return pipeline.Handler(cacheControl{}) }

type cacheControl struct{}

func (cacheControl) Serve(_ http.ResponseWriter, r *http.Request, s *pipeline.State) *http.Request {
	s.Writer().SetDefault("Cache-Control", "no-cache, private")
	return r
}

// Goaway returns a filter that answers a random fraction chance of HTTP/2
// requests with `Connection: close`, as the generic apiserver's
// WithProbabilisticGoaway: Go's HTTP/2 server then sends a GOAWAY, the
// client's requests in flight finish, and its next ones go over a new
// connection, likely to another replica behind the load balancer. Unlike
// Kubernetes, long-running requests (watches, and those longRunning reports)
// are never chosen. chance 0 (or less) returns next itself.
func Goaway(chance float64, longRunning request.LongRunningRequestCheck) func(http.Handler) http.Handler {
	if !(chance > 0) {
		return func(next http.Handler) http.Handler { return next }
	}
	return pipeline.Handler(requestStep{longRunning}, goaway{chance})
}

type goaway struct{ chance float64 }

func (g goaway) Serve(_ http.ResponseWriter, r *http.Request, s *pipeline.State) *http.Request {
	if r.ProtoMajor == 2 && !s.LongRunning && rand.Float64() < g.chance {
		s.Writer().SetDefault("Connection", "close")
	}
	return r
}
