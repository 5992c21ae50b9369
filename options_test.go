package aggauth_test

import (
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apiserver/pkg/server/options"

	"github.com/aggauth/aggauth"
)

// Every flag of Kubernetes' delegating authentication and authorization options
// exists here with the same type and default, so manifests written for a generic
// apiserver keep working.
func TestFlagsMatchKubernetes(t *testing.T) {
	theirs := pflag.NewFlagSet("kubernetes", pflag.ContinueOnError)
	options.NewDelegatingAuthenticationOptions().AddFlags(theirs)
	options.NewDelegatingAuthorizationOptions().AddFlags(theirs)
	ours := pflag.NewFlagSet("aggauth", pflag.ContinueOnError)
	aggauth.NewOptions().AddFlags(ours)

	n := 0
	theirs.VisitAll(func(f *pflag.Flag) {
		n++
		o := ours.Lookup(f.Name)
		if !assert.NotNil(t, o, "flag --%s missing", f.Name) {
			return
		}
		assert.Equal(t, f.Value.Type(), o.Value.Type(), "--%s type", f.Name)
		assert.Equal(t, f.DefValue, o.DefValue, "--%s default", f.Name)
	})
	assert.Greater(t, n, 10)
	assert.NotNil(t, ours.Lookup("kubeconfig"))
	// Ours alone: token audiences (kube-apiserver's flag) and the opt-out of
	// token reviews, which Kubernetes' delegating options do not have.
	assert.Nil(t, theirs.Lookup("api-audiences"))
	assert.Nil(t, theirs.Lookup("authentication-skip-token-review"))
	assert.Equal(t, "false", ours.Lookup("authentication-skip-token-review").DefValue, "tokens are reviewed by default")
}

func TestFlagsParse(t *testing.T) {
	o := aggauth.NewOptions()
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	o.AddFlags(fs)
	require.NoError(t, fs.Parse([]string{
		"--kubeconfig=/k", "--authorization-kubeconfig=/z", "--requestheader-client-ca-file=/ca",
		"--requestheader-allowed-names=front-proxy-client,other", "--requestheader-uid-headers=X-Remote-Uid",
		"--authorization-webhook-cache-authorized-ttl=1m", "--authorization-always-allow-paths=/healthz,/metrics",
		"--authentication-token-webhook-cache-ttl=30s", "--api-audiences=api,https://kubernetes.default.svc",
		"--authentication-skip-token-review",
	}))
	assert.Equal(t, 30*time.Second, o.TokenWebhookCacheTTL)
	assert.Equal(t, []string{"api", "https://kubernetes.default.svc"}, o.APIAudiences)
	assert.True(t, o.SkipTokenReview)
	assert.Equal(t, "/k", o.Kubeconfig)
	assert.Equal(t, "/z", o.AuthorizationKubeconfig)
	assert.Equal(t, "/ca", o.RequestHeader.ClientCAFile)
	assert.Equal(t, []string{"front-proxy-client", "other"}, o.RequestHeader.AllowedNames)
	assert.Equal(t, []string{"X-Remote-Uid"}, o.RequestHeader.UIDHeaders)
	assert.Equal(t, []string{"x-remote-user"}, o.RequestHeader.UsernameHeaders)
	assert.Equal(t, time.Minute, o.AllowCacheTTL)
	assert.Equal(t, 10*time.Second, o.DenyCacheTTL)
	assert.Equal(t, []string{"/healthz", "/metrics"}, o.AlwaysAllowPaths)
}
