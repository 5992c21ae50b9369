// Package server holds what the example servers share around their routes
// that is theirs alone: the command line (aggauth's flags and the serving
// package's, with the examples' port) and the /metrics registry. Serving
// itself is the library's serving package: each main calls serving.New and
// Server.Run.
package server

import (
	"errors"
	"fmt"

	"github.com/spf13/pflag"

	"github.com/aggauth/aggauth"
	"github.com/aggauth/aggauth/serving"
)

// DefaultSecurePort is the examples' --secure-port default. The generic
// apiserver's (serving.DefaultSecurePort, 443) needs a privilege the examples'
// non-root containers do not have.
const DefaultSecurePort = 8443

// Config is an example server's command line.
type Config struct {
	// Auth are aggauth's options: Kubernetes' delegating authentication and
	// authorization flags plus --kubeconfig.
	Auth *aggauth.Options
	// Serving are the serving package's options: Kubernetes' secure serving
	// and shutdown flags (--secure-port, default 8443 here, --bind-address,
	// --tls-cert-file, --tls-private-key-file, --cert-dir, --tls-*,
	// --request-timeout, --shutdown-delay-duration, ...).
	Serving *serving.Options
}

// ParseFlags parses args (without the program name) for the command name. It
// returns pflag.ErrHelp, after printing the usage, for --help.
//
// A serving certificate is required: --tls-cert-file and
// --tls-private-key-file, or an explicit --cert-dir. The serving package would
// otherwise write a self-signed pair into its default --cert-dir, which the
// examples refuse to do silently: kube-apiserver's aggregator checks the
// certificate against the APIService's caBundle, which cannot name a CA made
// at start-up (and each replica would make its own), so the APIService would
// only work with insecureSkipTLSVerify; and the Deployment's root file system
// is read-only. With --cert-dir the pair there is used, or generated there
// self-signed, as the generic apiserver does: a choice made on purpose.
func ParseFlags(name string, args []string) (*Config, error) {
	cfg := &Config{Auth: aggauth.NewOptions(), Serving: serving.NewOptions()}
	cfg.Serving.SecurePort = DefaultSecurePort // before AddFlags: the flag's default
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	cfg.Auth.AddFlags(fs)
	cfg.Serving.AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("%s: unexpected arguments %q", name, fs.Args())
	}
	if cfg.Serving.CertFile == "" && cfg.Serving.KeyFile == "" && !fs.Changed("cert-dir") {
		return nil, errors.New(name + ": --tls-cert-file and --tls-private-key-file are required " +
			"(a certificate the APIService's caBundle trusts), or --cert-dir for a pair read from, or generated self-signed in, a directory")
	}
	if err := cfg.Serving.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return cfg, nil
}
