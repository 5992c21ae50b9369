package e2e

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/aggauth/aggauth/e2e/cluster"
	"github.com/aggauth/aggauth/e2e/internal/demoapi"
	"github.com/aggauth/aggauth/internal/testpki"
)

// The identity every spoofing request claims in its headers: a cluster
// administrator, whom the extension would allow everything without a review.
const (
	spoofedUser  = "admin"
	spoofedGroup = "system:masters"
)

// TestScenario4Spoofing: identity headers count only on a request that
// presents the front-proxy client certificate. Sent straight to the extension
// without a certificate, with a user's client certificate from the cluster CA,
// or with a certificate the front proxy is not (a CN not allowed, or another
// CA), they never authenticate anyone as the header identity.
func TestScenario4Spoofing(t *testing.T) {
	e := sharedEnv(t)
	ctx := testContext(t)
	c, srv := e.c, e.srv
	const ns = "scenario4"
	createNamespace(ctx, t, c, ns)
	list := srv.URL() + demoapi.WidgetsPath(ns)

	unauthorized := func(t *testing.T, client *http.Client, user string, groups ...string) {
		t.Helper()
		defer client.CloseIdleConnections()
		r := mustSend(ctx, t, client, http.MethodGet, list, nil, user, groups...)
		require.Equal(t, http.StatusUnauthorized, r.code, "%s", r)
		assert.Equal(t, metav1.StatusReasonUnauthorized, r.status(t).Reason)
	}

	t.Run("headers without a certificate: 401", func(t *testing.T) {
		unauthorized(t, srv.HTTPClient(), spoofedUser, spoofedGroup)
	})

	t.Run("front-proxy CA, CN not allowed: 401", func(t *testing.T) {
		impostor := c.FrontProxyCA().Issue(testpki.Spec{CommonName: "impostor"})
		unauthorized(t, srv.HTTPClient(impostor.TLSCertificate()), spoofedUser, spoofedGroup)
	})

	t.Run("allowed CN from another CA: 401", func(t *testing.T) {
		other := testpki.NewCA("not-the-front-proxy-ca", testpki.ECDSA)
		forged := other.Issue(testpki.Spec{CommonName: cluster.FrontProxyClientCN})
		unauthorized(t, srv.HTTPClient(forged.TLSCertificate()), spoofedUser, spoofedGroup)
	})

	t.Run("front-proxy certificate without a user header: 401", func(t *testing.T) {
		unauthorized(t, srv.ProxyClient(), "", spoofedGroup)
	})

	t.Run("user certificate: authenticated as its user, with RBAC", func(t *testing.T) {
		mallory := newUser(t, c, "mallory")
		grantWidgets(ctx, t, c, ns, "scenario4-mallory", mallory.Name, "create")
		client := srv.HTTPClient(mallory.Cert.TLSCertificate())
		defer client.CloseIdleConnections()
		r := mustSend(ctx, t, client, http.MethodPost, list, demoapi.Widget(ns, "spoofed", "red").Object, spoofedUser, spoofedGroup)
		require.Equal(t, http.StatusCreated, r.code, "%s", r)
		var obj unstructured.Unstructured
		require.NoError(t, obj.UnmarshalJSON(r.body))
		by, err := demoapi.CreatedBy(&obj)
		require.NoError(t, err)
		assert.Equal(t, mallory.Name, by.Username, "the certificate's user, not the header's")
		assert.Equal(t, []string{"system:authenticated"}, by.Groups, "the certificate's groups, not the header's")
		assert.Equal(t, []string{demoapi.CredentialID(mallory.Cert.Cert)}, []string(by.Extra[demoapi.CredentialIDExtra]))
	})

	t.Run("user certificate: authenticated as its user, without RBAC", func(t *testing.T) {
		oscar := newUser(t, c, "oscar")
		client := srv.HTTPClient(oscar.Cert.TLSCertificate())
		defer client.CloseIdleConnections()
		r := mustSend(ctx, t, client, http.MethodGet, list, nil, spoofedUser, spoofedGroup)
		require.Equal(t, http.StatusForbidden, r.code, "%s", r)
		assert.Equal(t, `widgets.demo.aggauth.io is forbidden: User "oscar" cannot list resource "widgets" in API group "demo.aggauth.io" in the namespace "scenario4"`,
			r.status(t).Message)
	})
}
