package demo

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
)

func TestServeAPIs(t *testing.T) {
	get := func(accept, etag string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "/apis", nil)
		r.Header.Set("Accept", accept)
		if etag != "" {
			r.Header.Set("If-None-Match", etag)
		}
		w := httptest.NewRecorder()
		ServeAPIs(w, r)
		return w
	}

	// What kube-apiserver's aggregator asks for.
	w := get(discovery.AcceptV2, "")
	require.Equal(t, http.StatusOK, w.Code)
	v2 := schema.GroupVersionKind{Group: "apidiscovery.k8s.io", Version: "v2", Kind: "APIGroupDiscoveryList"}
	ok, err := discovery.ContentTypeIsGVK(w.Header().Get("Content-Type"), v2)
	require.NoError(t, err)
	require.True(t, ok, "the aggregator only uses the answer when the Content-Type names the v2 list")
	var list apidiscoveryv2.APIGroupDiscoveryList
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &list))
	require.Len(t, list.Items, 1)
	assert.Equal(t, Group, list.Items[0].Name)
	assert.Equal(t, Resource, list.Items[0].Versions[0].Resources[0].Resource)

	etag := w.Header().Get("ETag")
	require.NotEmpty(t, etag)
	assert.Equal(t, http.StatusNotModified, get(discovery.AcceptV2, etag).Code)

	// Everyone else gets the APIGroupList.
	w = get("application/json", "")
	require.Equal(t, http.StatusOK, w.Code)
	var groups metav1.APIGroupList
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &groups))
	assert.Equal(t, "APIGroupList", groups.Kind)
	assert.Contains(t, w.Header().Values("Vary"), "Accept")
}
