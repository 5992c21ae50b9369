package servertest

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aggauth/aggauth/example/internal/demo"
	"github.com/aggauth/aggauth/internal/testutil"
)

// testPaths: the handler serves the path that was authorized. The chain
// authorizes and admits the decoded path, and clears URL.RawPath so that every
// router reads that path too (chi would otherwise route /namespaces/%64efault
// to the namespace "%64efault"); a path routers could read otherwise, such as
// an encoded / in a segment, is a 400 Status.
func (e *Env) testPaths(t *testing.T) {
	encoded := demo.VersionPath + "/namespaces/%64efault/widgets"
	plain := demo.VersionPath + "/namespaces/default/widgets"
	steps := []struct {
		name, method, path, body string
		code                     int
		check                    func(t *testing.T, body []byte)
	}{
		{"create through an encoded namespace", http.MethodPost, encoded, `{"metadata":{"name":"encoded-path"}}`, http.StatusCreated, func(t *testing.T, body []byte) {
			assert.Equal(t, "default", decode[demo.Widget](t, body).Namespace)
		}},
		{"get it in default", http.MethodGet, plain + "/encoded-path", "", http.StatusOK, nil},
		{"list it through the encoded namespace", http.MethodGet, encoded + "?fieldSelector=metadata.name%3Dencoded-path", "", http.StatusOK, func(t *testing.T, body []byte) {
			l := decode[demo.WidgetList](t, body)
			require.Len(t, l.Items, 1)
			assert.Equal(t, "default", l.Items[0].Namespace)
		}},
		{"delete it through an encoded name", http.MethodDelete, encoded + "/encoded%2Dpath", "", http.StatusOK, nil},
		{"gone from default", http.MethodGet, plain + "/encoded-path", "", http.StatusNotFound, nil},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			resp, body := e.Do(t, e.Proxy, s.method, s.path, alice, s.body)
			require.Equal(t, s.code, resp.StatusCode, "%s %s: got %d %s; want %d", s.method, s.path, resp.StatusCode, body, s.code)
			if s.check != nil {
				s.check(t, body)
			}
		})
	}
	for _, path := range []string{
		demo.VersionPath + "/namespaces/a%2Fb/widgets",
		demo.VersionPath + "/namespaces/default/widgets/a%2fb",
		demo.VersionPath + "/namespaces/default/widgets/%2E%2E",
		demo.VersionPath + "/namespaces/default//widgets",
		demo.VersionPath + "/namespaces/default/widgets/a%00b",
	} {
		for _, method := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
			t.Run(method+" "+path, func(t *testing.T) {
				resp, body := e.Do(t, e.Proxy, method, path, alice, `{"metadata":{"name":"x"}}`)
				require.Equal(t, http.StatusBadRequest, resp.StatusCode, "got %d %s; want 400", resp.StatusCode, body)
				assert.Equal(t, metav1.StatusReasonBadRequest, testutil.Status(t, resp.StatusCode, resp.Header, body).Reason)
			})
		}
	}
}

// testRedirects: no path is answered with a redirect. kube-apiserver's
// aggregator turns a 3xx with a Location from an extension apiserver into a
// 502 (--aggregator-reject-forwarding-redirect, default true), which kubectl
// users cannot diagnose; gin redirects a trailing slash by default, and a
// wrongly-cased path with RedirectFixedPath.
func (e *Env) testRedirects(t *testing.T) {
	for _, path := range []string{
		demo.VersionPath + "/namespaces/default/widgets/",
		demo.VersionPath + "/namespaces/default/widgets/w1/",
		demo.VersionPath + "/widgets/",
		demo.VersionPath + "/",
		demo.VersionPath + "/namespaces/default/WIDGETS",
		demo.VersionPath + "/Namespaces/default/widgets",
		"/APIS/demo.aggauth.io/v1/namespaces/default/widgets",
		"/Metrics",
		"/metrics/",
	} {
		t.Run(path, func(t *testing.T) {
			resp, body := e.Do(t, e.Proxy, http.MethodGet, path, alice, "")
			assert.Empty(t, resp.Header.Get("Location"), "got %d %s", resp.StatusCode, body)
			switch resp.StatusCode {
			case http.StatusOK:
			case http.StatusNotFound:
				assert.Equal(t, metav1.StatusReasonNotFound, testutil.Status(t, resp.StatusCode, resp.Header, body).Reason, "a 404 Status")
			default:
				t.Errorf("got %d %s; want 200 or a 404 Status, never a redirect", resp.StatusCode, body)
			}
		})
	}
}
