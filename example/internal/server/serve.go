package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/aggauth/aggauth"
)

// ShutdownTimeout bounds the graceful shutdown: in-flight requests get this
// long to finish once the context is done.
const ShutdownTimeout = 30 * time.Second

// Metrics returns a /metrics handler for a registry of the server's own with
// the chain's collectors (authorization cache and reviews) and the Go and
// process collectors.
func Metrics(chain *aggauth.Chain) (http.Handler, error) {
	reg := prometheus.NewRegistry()
	cs := []prometheus.Collector{collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})}
	for _, c := range slices.Concat(chain.Collectors(), cs) {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering metrics: %w", err)
		}
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}), nil
}

// Serve serves handler over HTTPS on cfg.Addr(), with the chain's TLS
// configuration (HTTP/2 and HTTP/1.1, client certificates requested, the
// serving certificate reloaded when its files change), until ctx is done; it
// then stops accepting connections, lets in-flight requests finish within
// ShutdownTimeout and returns nil.
func Serve(ctx context.Context, cfg *Config, chain *aggauth.Chain, handler http.Handler) error {
	tlsCfg, err := chain.TLSConfig(cfg.CertFile, cfg.KeyFile)
	if err != nil {
		return err
	}
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	protocols.SetHTTP2(true)
	logger := slog.Default()
	srv := &http.Server{
		Handler:           handler,
		TLSConfig:         tlsCfg,
		Protocols:         protocols,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       90 * time.Second,
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelInfo),
	}
	ln, err := net.Listen("tcp", cfg.Addr())
	if err != nil {
		return err
	}
	logger.Info("serving HTTPS", "addr", ln.Addr().String())

	served := make(chan error, 1)
	go func() { served <- srv.ServeTLS(ln, "", "") }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	logger.Info("shutting down", "timeout", ShutdownTimeout)
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownTimeout)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return err
}
