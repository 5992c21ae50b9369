package server_test

import (
	"net"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aggauth/aggauth"
	"github.com/aggauth/aggauth/example/internal/server"
	"github.com/aggauth/aggauth/serving"
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
			want := serving.NewOptions()
			want.SecurePort = 8443
			want.CertFile, want.KeyFile = "tls.crt", "tls.key"
			assert.Equal(t, want, c.Serving, "serving's defaults but the port")
			assert.Equal(t, aggauth.NewOptions(), c.Auth, "aggauth's defaults, untouched")
		}},
		{name: "port and address", args: append([]string{"--secure-port=9443", "--bind-address=127.0.0.1"}, tls...), check: func(t *testing.T, c *server.Config) {
			assert.Equal(t, 9443, c.Serving.SecurePort)
			assert.Equal(t, net.IPv4(127, 0, 0, 1).String(), c.Serving.BindAddress.String())
		}},
		{name: "IPv6 address", args: append([]string{"--bind-address=::1"}, tls...), check: func(t *testing.T, c *server.Config) {
			assert.Equal(t, "::1", c.Serving.BindAddress.String())
		}},
		{name: "serving and shutdown flags", args: append([]string{"--request-timeout=20s", "--shutdown-delay-duration=10s",
			"--permit-port-sharing", "--tls-min-version=VersionTLS13", "--goaway-chance=0.001"}, tls...), check: func(t *testing.T, c *server.Config) {
			assert.Equal(t, 20*time.Second, c.Serving.RequestTimeout)
			assert.Equal(t, 10*time.Second, c.Serving.ShutdownDelayDuration)
			assert.True(t, c.Serving.PermitPortSharing)
			assert.Equal(t, "VersionTLS13", c.Serving.MinTLSVersion)
			assert.InDelta(t, 0.001, c.Serving.GoawayChance, 1e-12)
		}},
		{name: "aggauth's flags", args: append([]string{"--kubeconfig=/k", "--authorization-always-allow-paths=/healthz,/metrics",
			"--authorization-webhook-cache-authorized-ttl=1m", "--requestheader-allowed-names=aggregator"}, tls...), check: func(t *testing.T, c *server.Config) {
			assert.Equal(t, "/k", c.Auth.Kubeconfig)
			assert.Equal(t, []string{"/healthz", "/metrics"}, c.Auth.AlwaysAllowPaths)
			assert.Equal(t, time.Minute, c.Auth.AllowCacheTTL)
			assert.Equal(t, []string{"aggregator"}, c.Auth.RequestHeader.AllowedNames)
		}},
		{name: "--cert-dir instead of files", args: []string{"--cert-dir=/certs"}, check: func(t *testing.T, c *server.Config) {
			assert.Equal(t, "/certs", c.Serving.CertDir)
			assert.Empty(t, c.Serving.CertFile)
		}},
		{name: "no certificate", args: nil, wantErr: "--tls-cert-file and --tls-private-key-file are required"},
		{name: "no key", args: tls[:1], wantErr: "--tls-cert-file and --tls-private-key-file must be given together"},
		{name: "bad port", args: append([]string{"--secure-port=70000"}, tls...), wantErr: "--secure-port 70000 must be between 1 and 65535"},
		{name: "bad address", args: append([]string{"--bind-address=nowhere"}, tls...), wantErr: "bind-address"},
		{name: "bad shutdown delay", args: append([]string{"--shutdown-delay-duration=-1s"}, tls...), wantErr: "--shutdown-delay-duration can not be negative"},
		{name: "insecure TLS version", args: append([]string{"--tls-min-version=VersionTLS10"}, tls...), wantErr: "VersionTLS10"},
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
