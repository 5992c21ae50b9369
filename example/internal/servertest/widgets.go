package servertest

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aggauth/aggauth/example/internal/demo"
	"github.com/aggauth/aggauth/internal/testutil"
)

// testWidgets runs a list/create/get/delete round trip as alice, in order:
// each step sees the state the steps before it left.
func (e *Env) testWidgets(t *testing.T) {
	const (
		ns   = demo.VersionPath + "/namespaces/default/widgets"
		w1   = ns + "/w1"
		blue = `{"apiVersion":"demo.aggauth.io/v1","kind":"Widget","metadata":{"name":"w1"},"spec":{"color":"blue","size":3}}`
	)
	var created demo.Widget
	steps := []struct {
		name   string
		method string
		path   string
		body   string
		code   int
		reason metav1.StatusReason // of the Status body, for failures
		ctype  string              // the body's Content-Type, when not application/json
		check  func(t *testing.T, body []byte)
		status func(t *testing.T, st metav1.Status) // checks a Status body
	}{
		{name: "list, empty", method: http.MethodGet, path: ns, code: http.StatusOK, check: func(t *testing.T, body []byte) {
			l := decode[demo.WidgetList](t, body)
			assert.Equal(t, demo.ListKind, l.Kind)
			assert.Empty(t, l.Items)
		}},
		{name: "create", method: http.MethodPost, path: ns, body: blue, code: http.StatusCreated, check: func(t *testing.T, body []byte) {
			created = decode[demo.Widget](t, body)
			assert.Equal(t, demo.GroupVersion, created.APIVersion)
			assert.Equal(t, demo.Kind, created.Kind)
			assert.Equal(t, "default", created.Namespace)
			assert.Equal(t, "w1", created.Name)
			assert.NotEmpty(t, created.UID)
			assert.NotEmpty(t, created.ResourceVersion)
			assert.False(t, created.CreationTimestamp.IsZero())
			assert.Equal(t, demo.WidgetSpec{Color: "blue", Size: 3}, created.Spec)
			assert.Equal(t, aliceInfo, created.Status.CreatedBy, "status.createdBy is the caller the server saw")
		}},
		{name: "create, name taken", method: http.MethodPost, path: ns, body: blue, code: http.StatusConflict, reason: metav1.StatusReasonAlreadyExists},
		{name: "create, bad JSON", method: http.MethodPost, path: ns, body: `{"metadata":`, code: http.StatusBadRequest, reason: metav1.StatusReasonBadRequest},
		{name: "create, spec not an object", method: http.MethodPost, path: ns, body: `{"metadata":{"name":"w2"},"spec":[1]}`, code: http.StatusBadRequest, reason: metav1.StatusReasonBadRequest},
		{name: "create, other kind", method: http.MethodPost, path: ns, body: `{"kind":"Gadget","metadata":{"name":"w2"}}`, code: http.StatusBadRequest, reason: metav1.StatusReasonBadRequest},
		{name: "create, other namespace in the body", method: http.MethodPost, path: ns, body: `{"metadata":{"name":"w2","namespace":"kube-system"}}`, code: http.StatusBadRequest, reason: metav1.StatusReasonBadRequest},
		{name: "create, no name", method: http.MethodPost, path: ns, body: `{"spec":{}}`, code: http.StatusUnprocessableEntity, reason: metav1.StatusReasonInvalid},
		{name: "create, dry run refused", method: http.MethodPost, path: ns + "?dryRun=All", body: `{"metadata":{"name":"dry"}}`, code: http.StatusBadRequest, reason: metav1.StatusReasonBadRequest},
		{name: "get, the dry run created nothing", method: http.MethodGet, path: ns + "/dry", code: http.StatusNotFound, reason: metav1.StatusReasonNotFound},
		{name: "create, invalid name", method: http.MethodPost, path: ns, body: `{"metadata":{"name":"Not_Valid"}}`, code: http.StatusUnprocessableEntity, reason: metav1.StatusReasonInvalid},
		{name: "create, generateName", method: http.MethodPost, path: ns, body: `{"metadata":{"generateName":"gen-"}}`, code: http.StatusCreated, check: func(t *testing.T, body []byte) {
			w := decode[demo.Widget](t, body)
			assert.True(t, strings.HasPrefix(w.Name, "gen-") && len(w.Name) > len("gen-"), "got name %q; want gen-<random>", w.Name)
			assert.Equal(t, "gen-", w.GenerateName)
		}},
		{name: "create, namespace does not exist", method: http.MethodPost, path: demo.VersionPath + "/namespaces/nowhere/widgets", body: blue, code: http.StatusNotFound, reason: metav1.StatusReasonNotFound},
		{name: "get", method: http.MethodGet, path: w1, code: http.StatusOK, check: func(t *testing.T, body []byte) {
			w := decode[demo.Widget](t, body)
			assert.Equal(t, created.UID, w.UID)
			assert.Equal(t, aliceInfo, w.Status.CreatedBy)
		}},
		{name: "patch, merge", method: http.MethodPatch, path: w1, ctype: "application/merge-patch+json",
			body: `{"metadata":{"labels":{"tier":"gold"}},"spec":{"size":7}}`, code: http.StatusOK, check: func(t *testing.T, body []byte) {
				w := decode[demo.Widget](t, body)
				assert.Equal(t, map[string]string{"tier": "gold"}, w.Labels)
				assert.Equal(t, "blue", w.Spec.Color, "a merge patch keeps what it does not name")
				assert.Equal(t, int32(7), w.Spec.Size)
				assert.Equal(t, created.UID, w.UID)
				assert.NotEqual(t, created.ResourceVersion, w.ResourceVersion)
			}},
		{name: "patch, JSON patch", method: http.MethodPatch, path: w1, ctype: "application/json-patch+json",
			body: `[{"op":"replace","path":"/spec/color","value":"red"}]`, code: http.StatusOK, check: func(t *testing.T, body []byte) {
				assert.Equal(t, "red", decode[demo.Widget](t, body).Spec.Color)
			}},
		{name: "patch, unknown field, strict", method: http.MethodPatch, path: w1 + "?fieldValidation=Strict", ctype: "application/merge-patch+json",
			body: `{"spec":{"shape":"round"}}`, code: http.StatusBadRequest, reason: metav1.StatusReasonBadRequest, status: func(t *testing.T, st metav1.Status) {
				assert.Contains(t, st.Message, `strict decoding error: unknown field "spec.shape"`)
			}},
		{name: "patch, unknown field, ignored", method: http.MethodPatch, path: w1, ctype: "application/merge-patch+json",
			body: `{"spec":{"shape":"round"}}`, code: http.StatusOK},
		{name: "patch, the name", method: http.MethodPatch, path: w1, ctype: "application/merge-patch+json",
			body: `{"metadata":{"name":"w9"}}`, code: http.StatusBadRequest, reason: metav1.StatusReasonBadRequest},
		{name: "patch, strategic merge", method: http.MethodPatch, path: w1, ctype: "application/strategic-merge-patch+json",
			body: `{"spec":{"size":1}}`, code: http.StatusUnsupportedMediaType, reason: metav1.StatusReasonUnsupportedMediaType},
		{name: "patch, missing", method: http.MethodPatch, path: ns + "/nothing", ctype: "application/merge-patch+json",
			body: `{}`, code: http.StatusNotFound, reason: metav1.StatusReasonNotFound},
		{name: "create, unknown field, strict", method: http.MethodPost, path: ns + "?fieldValidation=Strict",
			body: `{"metadata":{"name":"w3"},"spec":{"shape":"round"}}`, code: http.StatusBadRequest, reason: metav1.StatusReasonBadRequest},
		{name: "list", method: http.MethodGet, path: ns, code: http.StatusOK, check: func(t *testing.T, body []byte) {
			l := decode[demo.WidgetList](t, body)
			require.Len(t, l.Items, 2)
			assert.True(t, strings.HasPrefix(l.Items[0].Name, "gen-"), "sorted by name")
			assert.Equal(t, "w1", l.Items[1].Name)
		}},
		{name: "list, all namespaces", method: http.MethodGet, path: demo.VersionPath + "/widgets", code: http.StatusOK, check: func(t *testing.T, body []byte) {
			assert.Len(t, decode[demo.WidgetList](t, body).Items, 2)
		}},
		{name: "list, other namespace", method: http.MethodGet, path: demo.VersionPath + "/namespaces/kube-system/widgets", code: http.StatusOK, check: func(t *testing.T, body []byte) {
			assert.Empty(t, decode[demo.WidgetList](t, body).Items)
		}},
		{name: "delete", method: http.MethodDelete, path: w1, code: http.StatusOK, check: func(t *testing.T, body []byte) {
			st := decode[metav1.Status](t, body) // as kube-apiserver's registry writes it: no code
			assert.Equal(t, "Status", st.Kind)
			assert.Equal(t, metav1.StatusSuccess, st.Status)
			require.NotNil(t, st.Details)
			assert.Equal(t, "w1", st.Details.Name)
			assert.Equal(t, created.UID, st.Details.UID)
		}},
		{name: "get, deleted", method: http.MethodGet, path: w1, code: http.StatusNotFound, reason: metav1.StatusReasonNotFound},
		{name: "delete, deleted", method: http.MethodDelete, path: w1, code: http.StatusNotFound, reason: metav1.StatusReasonNotFound},
		{name: "unknown path", method: http.MethodGet, path: demo.VersionPath + "/gadgets", code: http.StatusNotFound, reason: metav1.StatusReasonNotFound},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			header := alice.Clone()
			if s.ctype != "" {
				header.Set("Content-Type", s.ctype)
			}
			resp, body := e.Do(t, e.Proxy, s.method, s.path, header, s.body)
			require.Equal(t, s.code, resp.StatusCode, "%s %s: got %d %s; want %d", s.method, s.path, resp.StatusCode, body, s.code)
			assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
			if s.reason != "" || s.status != nil {
				st := testutil.Status(t, resp.StatusCode, resp.Header, body) // kind Status, code s.code
				assert.Equal(t, s.reason, st.Reason, "body %s", body)
				if s.status != nil {
					s.status(t, st)
				}
			}
			if s.check != nil {
				s.check(t, body)
			}
		})
	}

	t.Run("reviews", func(t *testing.T) {
		extra := map[string]authorizationv1.ExtraValue{"scopes": {"widgets", "metrics"}}
		for _, verb := range []string{"list", "create", "get", "delete"} {
			spec := authorizationv1.SubjectAccessReviewSpec{
				User: "alice", Groups: aliceInfo.Groups, Extra: extra,
				ResourceAttributes: &authorizationv1.ResourceAttributes{
					Namespace: "default", Verb: verb, Group: demo.Group, Version: demo.Version, Resource: demo.Resource,
				},
			}
			if verb == "get" || verb == "delete" {
				spec.ResourceAttributes.Name = "w1"
			}
			want, _ := json.Marshal(spec)
			assert.True(t, e.reviewed(spec), "a review of alice's %s: %s", verb, want)
		}
	})
}
