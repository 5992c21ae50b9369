// Command chi serves the demo.aggauth.io/v1 widgets API with the chi router,
// behind aggauth's chain, as an extension apiserver of a Kubernetes cluster.
// See routes.go for the API and ../README.md for how to run it.
package main

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/aggauth/aggauth"
	"github.com/aggauth/aggauth/example/internal/demo"
	"github.com/aggauth/aggauth/example/internal/server"
	"github.com/aggauth/aggauth/serving"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil && !errors.Is(err, pflag.ErrHelp) {
		slog.Error("chi: exiting", "err", err)
		os.Exit(1)
	}
}

// run parses the command line, connects to the cluster and serves until ctx is
// done, then shuts down gracefully.
func run(ctx context.Context, args []string) error {
	cfg, err := server.ParseFlags("chi", args)
	if err != nil {
		return err
	}
	// The chain follows the cluster (the authentication ConfigMap, the
	// namespaces) until the server has stopped serving, past ctx's end: it
	// keeps serving for --shutdown-delay-duration and drains afterwards.
	chainCtx, stopChain := context.WithCancel(context.WithoutCancel(ctx))
	defer stopChain()
	chain, err := aggauth.New(chainCtx, *cfg.Auth)
	if err != nil {
		return err
	}
	registry, metrics := server.Metrics()
	disc, err := demo.Discovery()
	if err != nil {
		return err
	}
	// The request metrics (apiserver_request_total ...) name the declared
	// resources only: no client can make series of its own.
	cfg.Serving.Resources = func(g, v, r, s string) bool { return disc.Endpoint(g, v, r, s) != nil }
	srv, err := serving.New(*cfg.Serving, chain, routes(chain, disc, demo.NewStore(), metrics))
	if err != nil {
		return err
	}
	registry.MustRegister(srv.Collectors()...)
	// Until ctx ends (SIGTERM), then the graceful shutdown: /readyz fails at
	// once, everything is served for --shutdown-delay-duration, then the
	// requests in flight finish within --request-timeout. nil once done.
	return srv.Run(ctx)
}
