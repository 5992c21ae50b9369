package server

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics returns a Prometheus registry of the server's own, holding the Go
// and process collectors, and the /metrics handler that serves it. The
// serving.Server is built after the routes, /metrics among them: register
// its collectors on the registry then (registry.MustRegister(srv.Collectors()...):
// Kubernetes' request metrics, and the chain's: authentication, bearer
// tokens, authorization cache and reviews, the audit log); the handler reads
// the registry at every scrape.
func Metrics() (*prometheus.Registry, http.Handler) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg, promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
}
