package serving_test

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apiserver/pkg/server/options"

	"github.com/aggauth/aggauth/serving"
)

// Every flag defined here is Kubernetes' own, with the same type and default
// as an aggregated apiserver's (NewRecommendedOptions' secure serving options
// and ServerRunOptions), so that manifests written for a generic apiserver
// keep working; but --max-request-body-bytes, a field of ServerRunOptions
// without a flag there, whose default is its.
func TestFlagsMatchKubernetes(t *testing.T) {
	theirs := pflag.NewFlagSet("kubernetes", pflag.ContinueOnError)
	options.NewRecommendedOptions("/registry/test", nil).SecureServing.AddFlags(theirs)
	options.NewServerRunOptions().AddUniversalFlags(theirs)
	ours := pflag.NewFlagSet("serving", pflag.ContinueOnError)
	serving.NewOptions().AddFlags(ours)

	n := 0
	ours.VisitAll(func(f *pflag.Flag) {
		n++
		if f.Name == "max-request-body-bytes" {
			assert.Equal(t, strconv.FormatInt(options.NewServerRunOptions().MaxRequestBodyBytes, 10), f.DefValue)
			assert.Nil(t, theirs.Lookup(f.Name), "a flag of Kubernetes now")
			return
		}
		k := theirs.Lookup(f.Name)
		if !assert.NotNil(t, k, "--%s is not a Kubernetes flag", f.Name) {
			return
		}
		assert.Equal(t, k.Value.Type(), f.Value.Type(), "--%s type", f.Name)
		assert.Equal(t, k.DefValue, f.DefValue, "--%s default", f.Name)
	})
	assert.Equal(t, 19, n)
	for _, name := range []string{"max-requests-inflight", "max-mutating-requests-inflight", "secure-port", "bind-address", "tls-cert-file", "tls-private-key-file", "cert-dir",
		"tls-min-version", "tls-cipher-suites", "http2-max-streams-per-connection", "permit-port-sharing",
		"shutdown-delay-duration", "shutdown-send-retry-after", "goaway-chance", "request-timeout"} {
		assert.NotNil(t, ours.Lookup(name), "--%s", name)
	}
	// Of Kubernetes' secure serving flags, only --tls-sni-cert-key is missing.
	sso := pflag.NewFlagSet("sso", pflag.ContinueOnError)
	options.NewSecureServingOptions().AddFlags(sso)
	var missing []string
	sso.VisitAll(func(f *pflag.Flag) {
		if ours.Lookup(f.Name) == nil {
			missing = append(missing, f.Name)
		}
	})
	assert.Equal(t, []string{"tls-sni-cert-key"}, missing)
	assert.Equal(t, "443", ours.Lookup("secure-port").DefValue)
	assert.Equal(t, "1000", ours.Lookup("http2-max-streams-per-connection").DefValue)
}

func TestFlagsParse(t *testing.T) {
	o := serving.NewOptions()
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	o.AddFlags(fs)
	require.NoError(t, fs.Parse([]string{
		"--secure-port=8443", "--bind-address=::1", "--tls-cert-file=/c", "--tls-private-key-file=/k", "--cert-dir=/d",
		"--tls-min-version=VersionTLS13", "--tls-cipher-suites=TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
		"--tls-curve-preferences=29,23", "--http2-max-streams-per-connection=250", "--permit-port-sharing", "--permit-address-sharing",
		"--disable-http2-serving", "--request-timeout=30s", "--goaway-chance=0.001", "--shutdown-delay-duration=5s",
		"--shutdown-send-retry-after", "--max-requests-inflight=10", "--max-mutating-requests-inflight=0",
		"--max-request-body-bytes=-1",
	}))
	want := serving.Options{
		SecurePort: 8443, BindAddress: net.ParseIP("::1"), CertFile: "/c", KeyFile: "/k", CertDir: "/d",
		MinTLSVersion: "VersionTLS13", CipherSuites: []string{"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305"},
		CurvePreferences: []int32{29, 23}, HTTP2MaxStreamsPerConnection: 250, PermitPortSharing: true, PermitAddressSharing: true,
		DisableHTTP2: true, RequestTimeout: 30 * time.Second, GoawayChance: 0.001, ShutdownDelayDuration: 5 * time.Second,
		ShutdownSendRetryAfter: true, MaxRequestsInFlight: 10, MaxMutatingRequestsInFlight: 0, MaxRequestBodyBytes: -1,
	}
	assert.Equal(t, want, *o)
	assert.NoError(t, o.Validate())
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		change  func(o *serving.Options)
		wantErr string
	}{
		{name: "defaults", change: func(*serving.Options) {}},
		{name: "port", change: func(o *serving.Options) { o.SecurePort = 70000 }, wantErr: "--secure-port 70000 must be between 1 and 65535"},
		{name: "negative port", change: func(o *serving.Options) { o.SecurePort = -1 }, wantErr: "--secure-port -1"},
		{name: "cert without key", change: func(o *serving.Options) { o.CertFile = "c" }, wantErr: "must be given together"},
		{name: "key without cert", change: func(o *serving.Options) { o.KeyFile = "k" }, wantErr: "must be given together"},
		{name: "empty name", change: func(o *serving.Options) { o.SelfSignedNames = []string{""} }, wantErr: "empty name"},
		{name: "TLS 1.0", change: func(o *serving.Options) { o.MinTLSVersion = "VersionTLS10" }, wantErr: "VersionTLS10 is insecure"},
		{name: "TLS 1.1", change: func(o *serving.Options) { o.MinTLSVersion = "VersionTLS11" }, wantErr: "VersionTLS11 is insecure"},
		{name: "unknown version", change: func(o *serving.Options) { o.MinTLSVersion = "tls1.2" }, wantErr: `unknown tls version "tls1.2"`},
		{name: "insecure cipher", change: func(o *serving.Options) { o.CipherSuites = []string{"TLS_RSA_WITH_RC4_128_SHA"} },
			wantErr: "cipher suite TLS_RSA_WITH_RC4_128_SHA is insecure"},
		{name: "unknown cipher", change: func(o *serving.Options) { o.CipherSuites = []string{"NOPE"} }, wantErr: "cipher suite NOPE not supported"},
		{name: "no HTTP/2 cipher", change: func(o *serving.Options) { o.CipherSuites = []string{"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"} },
			wantErr: "which HTTP/2 requires"},
		{name: "no HTTP/2 cipher, HTTP/1.1 only", change: func(o *serving.Options) {
			o.CipherSuites, o.DisableHTTP2 = []string{"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"}, true
		}},
		{name: "no HTTP/2 cipher, TLS 1.3", change: func(o *serving.Options) {
			o.CipherSuites, o.MinTLSVersion = []string{"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"}, "VersionTLS13"
		}},
		{name: "bad curve", change: func(o *serving.Options) { o.CurvePreferences = []int32{0} }, wantErr: "out of range"},
		{name: "unknown curve", change: func(o *serving.Options) { o.CurvePreferences = []int32{1000} }, wantErr: "not supported"},
		{name: "duplicate curve", change: func(o *serving.Options) { o.CurvePreferences = []int32{29, 29} }, wantErr: "duplicate"},
		{name: "streams", change: func(o *serving.Options) { o.HTTP2MaxStreamsPerConnection = -1 }, wantErr: "--http2-max-streams-per-connection -1"},
		{name: "request timeout", change: func(o *serving.Options) { o.RequestTimeout = -time.Second }, wantErr: "--request-timeout can not be negative"},
		{name: "goaway", change: func(o *serving.Options) { o.GoawayChance = 0.03 }, wantErr: "--goaway-chance can not be less than 0 or greater than 0.02"},
		{name: "negative goaway", change: func(o *serving.Options) { o.GoawayChance = -0.01 }, wantErr: "--goaway-chance"},
		{name: "in flight", change: func(o *serving.Options) { o.MaxRequestsInFlight = -1 }, wantErr: "--max-requests-inflight can not be negative"},
		{name: "mutating in flight", change: func(o *serving.Options) { o.MaxMutatingRequestsInFlight = -1 },
			wantErr: "--max-mutating-requests-inflight can not be negative"},
		{name: "no limits", change: func(o *serving.Options) {
			o.MaxRequestsInFlight, o.MaxMutatingRequestsInFlight, o.MaxRequestBodyBytes = 0, 0, -1
		}},
		{name: "delay", change: func(o *serving.Options) { o.ShutdownDelayDuration = -time.Second }, wantErr: "--shutdown-delay-duration can not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := serving.NewOptions()
			tt.change(o)
			err := o.Validate()
			if tt.wantErr == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.wantErr)
		})
	}
	t.Run("zero value", func(t *testing.T) { assert.NoError(t, new(serving.Options).Validate()) })
	t.Run("all errors", func(t *testing.T) {
		o := serving.Options{SecurePort: -1, GoawayChance: 1}
		err := o.Validate()
		require.Error(t, err)
		assert.Contains(t, err.Error(), "--secure-port")
		assert.Contains(t, err.Error(), "--goaway-chance")
	})
}
