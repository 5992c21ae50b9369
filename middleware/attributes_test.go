package middleware_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/filters"
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/aggauth/aggauth/middleware"
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

func decodeStatus(t *testing.T, rec *httptest.ResponseRecorder) metav1.Status {
	t.Helper()
	assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
	var st metav1.Status
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &st))
	assert.Equal(t, "Status", st.Kind)
	assert.Equal(t, int32(rec.Code), st.Code)
	return st
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
	st := decodeStatus(t, rec)
	assert.Equal(t, metav1.StatusReasonBadRequest, st.Reason)
	assert.Contains(t, st.Message, "unable to determine kind and namespace")
}

func TestAttributesFromEmptyContext(t *testing.T) {
	_, ok := middleware.AttributesFrom(context.Background())
	assert.False(t, ok)
	_, _, ok = middleware.DecisionFrom(context.Background())
	assert.False(t, ok)
}
