package middleware_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/filters"
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/aggauth/aggauth/internal/testutil"
	"github.com/aggauth/aggauth/middleware"
	"github.com/aggauth/aggauth/requestinfo"
)

var kubeResolver = &request.RequestInfoFactory{APIPrefixes: sets.NewString("api", "apis"), GrouplessAPIPrefixes: sets.NewString("api")}

// seen records what the next handler found in the request context.
type seen struct {
	called bool
	info   *request.RequestInfo
	attrs  authorizer.Attributes
	dec    authorizer.Decision
	reason string
	hasDec bool
}

func (s *seen) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.called = true
		s.info, _ = request.RequestInfoFrom(r.Context())
		s.attrs, _ = middleware.AttributesFrom(r.Context())
		s.dec, s.reason, s.hasDec = middleware.DecisionFrom(r.Context())
		w.WriteHeader(http.StatusNoContent)
	})
}

func withUser(r *http.Request, u user.Info) *http.Request {
	return r.WithContext(request.WithUser(r.Context(), u))
}

func TestRequestAttributes(t *testing.T) {
	alice := &user.DefaultInfo{Name: "alice", Groups: []string{"system:authenticated"}}
	for _, target := range []string{
		"/api/v1/namespaces/ns/pods?labelSelector=app%3Dweb&fieldSelector=spec.nodeName%3Dn",
		"/apis/apps/v1/namespaces/ns/deployments/web/scale",
		"/api/v1/namespaces/ns",
		"/openapi/v3",
		"/apis/g.io/v1?watch=1",
	} {
		for _, method := range []string{"GET", "POST", "DELETE", "HEAD"} {
			t.Run(method+" "+target, func(t *testing.T) {
				var s seen
				req := withUser(httptest.NewRequest(method, target, nil), alice)
				rec := httptest.NewRecorder()
				requestAttributes(s.handler()).ServeHTTP(rec, req)
				require.True(t, s.called)

				want, err := kubeResolver.NewRequestInfo(req)
				require.NoError(t, err)
				require.NotNil(t, s.info)
				assert.Equal(t, *want, *s.info)

				wantAttrs, err := filters.GetAuthorizerAttributes(request.WithRequestInfo(req.Context(), want))
				require.NoError(t, err)
				require.NotNil(t, s.attrs)
				assert.Equal(t, wantAttrs.GetUser(), s.attrs.GetUser())
				assert.Equal(t, wantAttrs.GetVerb(), s.attrs.GetVerb())
				assert.Equal(t, wantAttrs.GetResource(), s.attrs.GetResource())
				assert.Equal(t, wantAttrs.GetName(), s.attrs.GetName())
				assert.Equal(t, wantAttrs.GetNamespace(), s.attrs.GetNamespace())
				assert.Equal(t, wantAttrs.GetPath(), s.attrs.GetPath())
				wl, _ := wantAttrs.GetLabelSelector()
				gl, _ := s.attrs.GetLabelSelector()
				assert.Equal(t, wl, gl)
				assert.False(t, s.hasDec, "no decision before Authorize")
			})
		}
	}
}

func TestRequestAttributesUnresolvable(t *testing.T) {
	var s seen
	rec := httptest.NewRecorder()
	requestAttributes(s.handler()).ServeHTTP(rec, httptest.NewRequest("GET", "/api/v1/watch", nil))
	assert.False(t, s.called)
	assert.Equal(t, http.StatusBadRequest, rec.Code)
	st := testutil.RecordedStatus(t, rec)
	assert.Equal(t, metav1.StatusReasonBadRequest, st.Reason)
	assert.Contains(t, st.Message, "unable to determine kind and namespace")
}

func TestAttributesFromEmptyContext(t *testing.T) {
	_, ok := middleware.AttributesFrom(context.Background())
	assert.False(t, ok)
	_, _, ok = middleware.DecisionFrom(context.Background())
	assert.False(t, ok)
}

// TestRequestAttributesCanonicalPath: the handler reads, however it reads the
// path, the one that was resolved; a path routers would read differently is
// refused.
func TestRequestAttributesCanonicalPath(t *testing.T) {
	tests := []struct {
		target   string
		wantCode int
		wantPath string // URL.Path = URL.EscapedPath() seen by the handler
		wantNS   string
	}{
		{"/apis/g.io/v1/namespaces/default/widgets", 204, "/apis/g.io/v1/namespaces/default/widgets", "default"},
		{"/apis/g.io/v1/namespaces/%64efault/widgets", 204, "/apis/g.io/v1/namespaces/default/widgets", "default"},
		{"/apis/g.io/v1/namespaces/default/widgets/a%20b", 204, "/apis/g.io/v1/namespaces/default/widgets/a%20b", "default"},
		{"/apis/g.io/v1/namespaces/default/widgets/", 204, "/apis/g.io/v1/namespaces/default/widgets/", "default"},
		{"/apis/g.io/v1/namespaces/a%2Fb/widgets", 400, "", ""},
		{"/apis/g.io/v1/namespaces/a%2fb/widgets", 400, "", ""},
		{"/apis/g.io/v1/namespaces/x/../default/widgets", 400, "", ""},
		{"/apis/g.io/v1/namespaces/x/%2e%2e/default/widgets", 400, "", ""},
		{"/apis/g.io/v1/namespaces/./default/widgets", 400, "", ""},
		{"/apis/g.io/v1//namespaces/default/widgets", 400, "", ""},
		{"//apis/g.io/v1/namespaces/default/widgets", 400, "", ""},
		{"/apis/g.io/v1/namespaces/de%00fault/widgets", 400, "", ""},
		{"/apis/g.io/v1/namespaces/de%0afault/widgets", 400, "", ""},
		{"/", 204, "/", ""},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			var s seen
			var path, escaped, raw string
			next := s.handler()
			h := requestAttributes(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				path, escaped, raw = r.URL.Path, r.URL.EscapedPath(), r.URL.RawPath
				next.ServeHTTP(w, r)
			}))
			req := withUser(httptest.NewRequest("GET", "/", nil), alice)
			u, err := url.Parse("http://h" + tt.target)
			require.NoError(t, err)
			req.URL = u
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			require.Equal(t, tt.wantCode, rec.Code, rec.Body.String())
			if tt.wantCode != 204 {
				assert.False(t, s.called)
				assert.Equal(t, metav1.StatusReasonBadRequest, testutil.RecordedStatus(t, rec).Reason)
				return
			}
			assert.Empty(t, raw, "RawPath is cleared")
			assert.Equal(t, tt.wantPath, escaped, "EscapedPath")
			want, _ := url.PathUnescape(tt.wantPath)
			assert.Equal(t, want, path, "Path")
			assert.Equal(t, tt.wantNS, s.info.Namespace)
			assert.Equal(t, "http://h"+tt.target, u.String(), "the caller's URL is not changed")
		})
	}
}

func TestSelectorsFrom(t *testing.T) {
	tests := []struct {
		query, wantErr string
		match          map[string]bool // object name -> selected
	}{
		{"", "", map[string]bool{"w1": true, "w2": true}},
		{"fieldSelector=metadata.name%3Dw1", "", map[string]bool{"w1": true, "w2": false}},
		{"fieldSelector=metadata.name!%3Dw1", "", map[string]bool{"w1": false, "w2": true}},
		{"fieldSelector=metadata.namespace%3Dother", "", map[string]bool{"w1": false, "w2": false}},
		{"labelSelector=app%3Dweb", "", map[string]bool{"w1": true, "w2": false}},
		{"labelSelector=app%20in%20(web%2Cdb)", "", map[string]bool{"w1": true, "w2": true}},
		{"fieldSelector=spec.color%3Dblue", `"spec.color" is not a known field selector: only "metadata.name", "metadata.namespace"`, nil},
		{"labelSelector=app%3D%3D%3D", "unable to parse requirement", nil},
		{"fieldSelector=a%3Db%3Dc", "invalid field selector", nil},
	}
	objs := []*metav1.ObjectMeta{
		{Name: "w1", Namespace: "ns", Labels: map[string]string{"app": "web"}},
		{Name: "w2", Namespace: "ns", Labels: map[string]string{"app": "db"}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			var sel requestinfo.Selectors
			var err error
			h := requestAttributes(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
				sel, err = middleware.SelectorsFrom(r.Context())
			}))
			h.ServeHTTP(httptest.NewRecorder(), withUser(httptest.NewRequest("GET", "/apis/g.io/v1/namespaces/ns/widgets?"+tt.query, nil), alice))
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.True(t, apierrors.IsBadRequest(err), "a 400 Status: %v", err)
				assert.Contains(t, err.Error(), tt.wantErr)
				return
			}
			require.NoError(t, err)
			for _, o := range objs {
				assert.Equal(t, tt.match[o.Name], sel.Matches(o), o.Name)
			}
		})
	}
	sel, err := middleware.SelectorsFrom(context.Background())
	require.NoError(t, err)
	assert.True(t, sel.Matches(objs[0]), "no resolved request: everything")
}
