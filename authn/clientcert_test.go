package authn_test

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/aggauth/aggauth/authn"
	"github.com/aggauth/aggauth/internal/testpki"
)

func credID(c *testpki.Cert) string {
	fp := sha256.Sum256(c.Cert.Raw)
	return "X509SHA256=" + hex.EncodeToString(fp[:])
}

func TestClientCert(t *testing.T) {
	p := newPKI(t)
	noCN := p.clientCA.Issue(testpki.Spec{Organizations: []string{"dev"}})
	withUID := p.clientCA.Issue(testpki.Spec{CommonName: "dave", UIDs: []any{"u-1"}})
	twoUIDs := p.clientCA.Issue(testpki.Spec{CommonName: "dave", UIDs: []any{"u-1", "u-2"}})
	emptyUID := p.clientCA.Issue(testpki.Spec{CommonName: "dave", UIDs: []any{""}})

	tests := []struct {
		name    string
		cert    *testpki.Cert
		want    *user.DefaultInfo
		wantErr string
	}{
		{"user certificate", p.alice, info("alice", "", []string{"dev", "ops"}, map[string][]string{user.CredentialIDKey: {credID(p.alice)}}), ""},
		{"uid attribute", withUID, info("dave", "u-1", nil, map[string][]string{user.CredentialIDKey: {credID(withUID)}}), ""},
		{"empty CN is no opinion", noCN, nil, ""},
		{"proxy certificate from another CA", p.proxy, nil, "verifying certificate SN="},
		{"two UIDs", twoUIDs, nil, "expected 1 UID, but found multiple"},
		{"empty UID", emptyUID, nil, "UID cannot be an empty string"},
	}
	cc, err := authn.NewClientCert(authn.ClientCertOptions{CA: authn.StaticCA{Bundle: bundle(t, p.clientCA)}})
	require.NoError(t, err)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range 2 { // the second answer comes from the cache
				resp, ok, err := cc.AuthenticateRequest(newRequest(chain(tt.cert)))
				if tt.wantErr != "" {
					require.ErrorContains(t, err, tt.wantErr)
					continue
				}
				require.NoError(t, err)
				if tt.want == nil {
					require.False(t, ok)
					continue
				}
				require.True(t, ok)
				sameUser(t, tt.want, resp.User)
			}
		})
	}
}

// Each request gets its own user value: changing one must not change the next.
func TestClientCertUsersAreNotShared(t *testing.T) {
	p := newPKI(t)
	cc, err := authn.NewClientCert(authn.ClientCertOptions{CA: authn.StaticCA{Bundle: bundle(t, p.clientCA)}})
	require.NoError(t, err)
	resp, _, err := cc.AuthenticateRequest(newRequest(chain(p.alice)))
	require.NoError(t, err)
	u := resp.User.(*user.DefaultInfo)
	u.Groups[0] = "system:masters"
	u.Extra[user.CredentialIDKey][0] = "forged"
	resp, _, err = cc.AuthenticateRequest(newRequest(chain(p.alice)))
	require.NoError(t, err)
	assert.Equal(t, []string{"dev", "ops"}, resp.User.GetGroups())
	assert.Equal(t, credID(p.alice), resp.User.GetExtra()[user.CredentialIDKey][0])
}

func TestClientCertNoCA(t *testing.T) {
	p := newPKI(t)
	_, err := authn.NewClientCert(authn.ClientCertOptions{})
	require.ErrorContains(t, err, "CA is required")
	cc, err := authn.NewClientCert(authn.ClientCertOptions{CA: &authn.DynamicCA{}})
	require.NoError(t, err)
	_, ok, err := cc.AuthenticateRequest(newRequest(chain(p.alice)))
	require.NoError(t, err)
	require.False(t, ok, "no CA loaded must be no opinion")
}
