package serving

import (
	"crypto/tls"
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	cliflag "k8s.io/component-base/cli/flag"
)

// The cipher suite names are Kubernetes' (component-base/cli/flag), with the
// same IDs, except that the insecure ones are refused.
func TestCipherSuitesMatchKubernetes(t *testing.T) {
	secure := map[string]bool{}
	for _, n := range cliflag.PreferredTLSCipherNames() {
		secure[n] = true
	}
	assert.Equal(t, cliflag.PreferredTLSCipherNames(), preferredCipherNames())
	names := append(cliflag.TLSCipherPossibleValues(), "", "NOPE", "tls_aes_128_gcm_sha256", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 ")
	for _, name := range names {
		theirs, theirErr := cliflag.TLSCipherSuites([]string{name})
		ours, err := cipherSuites([]string{name})
		switch {
		case secure[name]:
			require.NoError(t, theirErr, name)
			if assert.NoError(t, err, name) {
				assert.Equal(t, theirs, ours, name)
			}
		case theirErr == nil:
			assert.ErrorContains(t, err, "is insecure", name)
		default:
			assert.ErrorContains(t, err, "not supported or doesn't exist", name)
		}
	}
	all := cliflag.PreferredTLSCipherNames()
	theirs, err := cliflag.TLSCipherSuites(all)
	require.NoError(t, err)
	ours, err := cipherSuites(all)
	require.NoError(t, err)
	assert.Equal(t, theirs, ours, "order is kept")
	ours, err = cipherSuites(nil)
	assert.NoError(t, err)
	assert.Nil(t, ours)
}

func TestTLSVersionMatchesKubernetes(t *testing.T) {
	for _, name := range append(cliflag.TLSPossibleVersions(), "", "VersionTLS14", "versiontls12", "1.2") {
		theirs, theirErr := cliflag.TLSVersion(name)
		ours, err := tlsVersion(name)
		switch {
		case theirErr != nil:
			assert.ErrorContains(t, err, "unknown tls version", name)
		case theirs < tls.VersionTLS12:
			assert.ErrorContains(t, err, "is insecure", name)
		default:
			if assert.NoError(t, err, name) {
				assert.Equal(t, theirs, ours, name)
			}
		}
	}
}

func TestCurvePreferencesMatchKubernetes(t *testing.T) {
	inputs := [][]int32{nil, {}, {23}, {29, 23, 24}, {25}, {4588}, {0}, {-1}, {math.MaxUint16 + 1}, {29, 29}, {1000}, {math.MaxInt32}}
	for id := int32(1); id < 0x12000; id += 7 {
		inputs = append(inputs, []int32{id})
	}
	for _, in := range inputs {
		theirs, theirErr := cliflag.TLSCurvePreferences(in)
		ours, err := curvePreferences(in)
		if theirErr != nil {
			assert.Error(t, err, "%v", in)
			continue
		}
		if assert.NoError(t, err, "%v", in) {
			assert.Equal(t, theirs, ours, "%v", in)
		}
	}
}
