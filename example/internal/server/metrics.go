package server

import (
	"fmt"
	"net/http"
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/aggauth/aggauth"
)

// Metrics returns a Prometheus registry of the server's own, holding the
// chain's collectors (authentication, bearer tokens, authorization cache and
// reviews) and the Go and process collectors, and the /metrics handler that
// serves it. The serving.Server is built after the routes, /metrics among
// them: register its collectors on the registry then
// (registry.MustRegister(srv.Collectors()...)); the handler reads the
// registry at every scrape.
func Metrics(chain *aggauth.Chain) (*prometheus.Registry, http.Handler, error) {
	reg := prometheus.NewRegistry()
	cs := []prometheus.Collector{collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})}
	for _, c := range slices.Concat(chain.Collectors(), cs) {
		if err := reg.Register(c); err != nil {
			return nil, nil, fmt.Errorf("registering metrics: %w", err)
		}
	}
	return reg, promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}), nil
}
