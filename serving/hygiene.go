package serving

import (
	"math/rand/v2"
	"net/http"

	"k8s.io/apiserver/pkg/endpoints/request"
)

// CacheControl returns a filter that sets `Cache-Control: no-cache, private`
// on every response whose handler does not set one, as the generic
// apiserver's WithCacheControl: what an apiserver answers depends on who asks.
func CacheControl() func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if h := w.Header(); h["Cache-Control"] == nil {
				h.Set("Cache-Control", "no-cache, private")
			}
			next.ServeHTTP(w, r)
		})
	}
}

// Goaway returns a filter that answers a random fraction chance of HTTP/2
// requests with `Connection: close`, as the generic apiserver's
// WithProbabilisticGoaway: Go's HTTP/2 server then sends a GOAWAY, the
// client's requests in flight finish, and its next ones go over a new
// connection, likely to another replica behind the load balancer. Unlike
// Kubernetes, long-running requests (watches, and those longRunning reports)
// are never chosen. chance 0 (or less) returns next itself.
func Goaway(chance float64, longRunning request.LongRunningRequestCheck) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if !(chance > 0) {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ProtoMajor == 2 && rand.Float64() < chance && !isLongRunning(longRunning, r, requestInfoOf(r)) {
				w.Header().Set("Connection", "close")
			}
			next.ServeHTTP(w, r)
		})
	}
}
