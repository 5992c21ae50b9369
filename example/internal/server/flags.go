// Package server holds what the example servers share around their routes:
// the command line, the /metrics handler and HTTPS serving with graceful
// shutdown.
package server

import (
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/spf13/pflag"

	"github.com/aggauth/aggauth"
)

// Config is an example server's command line.
type Config struct {
	// Auth are aggauth's options: Kubernetes' delegating authentication and
	// authorization flags plus --kubeconfig.
	Auth *aggauth.Options
	// SecurePort is the HTTPS port (--secure-port, default 8443).
	SecurePort int
	// BindAddress is the address to listen on (--bind-address, default 0.0.0.0).
	BindAddress net.IP
	// CertFile and KeyFile are the serving certificate and key
	// (--tls-cert-file, --tls-private-key-file). Required.
	CertFile, KeyFile string
}

// Addr is the host:port to listen on.
func (c *Config) Addr() string {
	return net.JoinHostPort(c.BindAddress.String(), strconv.Itoa(c.SecurePort))
}

// ParseFlags parses args (without the program name) for the command name. It
// returns pflag.ErrHelp, after printing the usage, for --help.
func ParseFlags(name string, args []string) (*Config, error) {
	cfg := &Config{Auth: aggauth.NewOptions()}
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	cfg.Auth.AddFlags(fs)
	fs.IntVar(&cfg.SecurePort, "secure-port", 8443, "The port on which to serve HTTPS with authentication and authorization.")
	fs.IPVar(&cfg.BindAddress, "bind-address", net.IPv4zero, "The IP address on which to listen for the --secure-port port.")
	fs.StringVar(&cfg.CertFile, "tls-cert-file", "", "File containing the x509 serving certificate (PEM), followed by any intermediate certificates.")
	fs.StringVar(&cfg.KeyFile, "tls-private-key-file", "", "File containing the x509 private key matching --tls-cert-file (PEM).")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("%s: unexpected arguments %q", name, fs.Args())
	}
	if cfg.CertFile == "" || cfg.KeyFile == "" {
		return nil, errors.New(name + ": --tls-cert-file and --tls-private-key-file are required")
	}
	if cfg.SecurePort < 0 || cfg.SecurePort > 65535 {
		return nil, fmt.Errorf("%s: --secure-port %d is not a port", name, cfg.SecurePort)
	}
	return cfg, nil
}
