package server_test

import (
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aggauth/aggauth"
	"github.com/aggauth/aggauth/example/internal/server"
)

func TestParseFlags(t *testing.T) {
	tls := []string{"--tls-cert-file=tls.crt", "--tls-private-key-file=tls.key"}
	tests := []struct {
		name    string
		args    []string
		wantErr string
		check   func(t *testing.T, c *server.Config)
	}{
		{name: "defaults", args: tls, check: func(t *testing.T, c *server.Config) {
			assert.Equal(t, "0.0.0.0:8443", c.Addr())
			assert.Equal(t, "tls.crt", c.CertFile)
			assert.Equal(t, "tls.key", c.KeyFile)
			assert.Equal(t, aggauth.NewOptions(), c.Auth, "aggauth's defaults, untouched")
		}},
		{name: "port and address", args: append([]string{"--secure-port=9443", "--bind-address=127.0.0.1"}, tls...), check: func(t *testing.T, c *server.Config) {
			assert.Equal(t, "127.0.0.1:9443", c.Addr())
		}},
		{name: "IPv6 address", args: append([]string{"--bind-address=::1"}, tls...), check: func(t *testing.T, c *server.Config) {
			assert.Equal(t, "[::1]:8443", c.Addr())
		}},
		{name: "aggauth's flags", args: append([]string{"--kubeconfig=/k", "--authorization-always-allow-paths=/healthz,/metrics",
			"--authorization-webhook-cache-authorized-ttl=1m", "--requestheader-allowed-names=aggregator"}, tls...), check: func(t *testing.T, c *server.Config) {
			assert.Equal(t, "/k", c.Auth.Kubeconfig)
			assert.Equal(t, []string{"/healthz", "/metrics"}, c.Auth.AlwaysAllowPaths)
			assert.Equal(t, time.Minute, c.Auth.AllowCacheTTL)
			assert.Equal(t, []string{"aggregator"}, c.Auth.RequestHeader.AllowedNames)
		}},
		{name: "no certificate", args: nil, wantErr: "--tls-cert-file and --tls-private-key-file are required"},
		{name: "no key", args: tls[:1], wantErr: "--tls-cert-file and --tls-private-key-file are required"},
		{name: "bad port", args: append([]string{"--secure-port=70000"}, tls...), wantErr: "is not a port"},
		{name: "bad address", args: append([]string{"--bind-address=nowhere"}, tls...), wantErr: "bind-address"},
		{name: "unknown flag", args: append([]string{"--nope"}, tls...), wantErr: "unknown flag: --nope"},
		{name: "argument", args: append([]string{"extra"}, tls...), wantErr: "unexpected arguments"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := server.ParseFlags("test", tt.args)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			tt.check(t, c)
		})
	}
}

func TestParseFlagsHelp(t *testing.T) {
	_, err := server.ParseFlags("test", []string{"--help"})
	assert.ErrorIs(t, err, pflag.ErrHelp)
}
