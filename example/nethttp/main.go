// Command nethttp serves the demo.aggauth.io/v1 widgets API with net/http's
// ServeMux, behind aggauth's chain, as an extension apiserver of a Kubernetes
// cluster. See routes.go for the API and ../README.md for how to run it.
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
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil && !errors.Is(err, pflag.ErrHelp) {
		slog.Error("nethttp: exiting", "err", err)
		os.Exit(1)
	}
}

// run parses the command line, connects to the cluster and serves until ctx is
// done.
func run(ctx context.Context, args []string) error {
	cfg, err := server.ParseFlags("nethttp", args)
	if err != nil {
		return err
	}
	chain, err := aggauth.New(ctx, *cfg.Auth)
	if err != nil {
		return err
	}
	metrics, err := server.Metrics(chain)
	if err != nil {
		return err
	}
	disc, err := demo.Discovery()
	if err != nil {
		return err
	}
	return server.Serve(ctx, cfg, chain, routes(chain, disc, demo.NewStore(), metrics))
}
