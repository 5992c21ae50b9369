package servertest

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aggauth/aggauth/example/internal/demo"
	"github.com/aggauth/aggauth/internal/testutil"
)

// apiPath is the collection the API tests use; their widgets are named api-*.
const apiPath = demo.VersionPath + "/namespaces/default/widgets"

// testKubernetesAPI: what kubectl and the cluster's controllers ask of any
// API, served as kube-apiserver serves a CustomResourceDefinition: update
// with resourceVersion conflicts, finalizers and owner references kept and
// deletion that waits for the finalizers, deletecollection, watch, the forms
// of an answer (Table, PartialObjectMetadataList, 406, 415) and 405 for an
// undeclared verb.
func (e *Env) testKubernetesAPI(t *testing.T) {
	t.Run("update", e.testUpdate)
	t.Run("finalizers", e.testFinalizers)
	t.Run("deletecollection", e.testDeleteCollection)
	t.Run("watch", e.testWatch)
	t.Run("forms", e.testForms)
	t.Run("verbs", e.testVerbs)
	t.Run("reviews", func(t *testing.T) {
		for _, verb := range []string{"update", "patch", "watch", "deletecollection"} {
			spec := authorizationv1.SubjectAccessReviewSpec{
				User: "alice", Groups: aliceInfo.Groups, Extra: map[string]authorizationv1.ExtraValue{"scopes": {"widgets", "metrics"}},
				ResourceAttributes: &authorizationv1.ResourceAttributes{
					Namespace: "default", Verb: verb, Group: demo.Group, Version: demo.Version, Resource: demo.Resource,
				},
			}
			switch verb {
			case "update", "patch":
				spec.ResourceAttributes.Name = "api-u"
			case "deletecollection": // authorized with its label selector, as kube-apiserver does
				spec.ResourceAttributes.LabelSelector = &authorizationv1.LabelSelectorAttributes{Requirements: []metav1.LabelSelectorRequirement{
					{Key: "suite", Operator: metav1.LabelSelectorOpIn, Values: []string{"api-dc"}},
				}}
			}
			assert.True(t, e.reviewed(spec), "a review of alice's %s", verb)
		}
	})
}

// call sends a request as alice with the Content-Type and Accept given
// (JSON when empty) and requires the status code.
func (e *Env) call(t *testing.T, method, path, contentType, accept, body string, code int) []byte {
	t.Helper()
	h := alice.Clone()
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	if accept != "" {
		h.Set("Accept", accept)
	}
	resp, data := e.Do(t, e.Proxy, method, path, h, body)
	require.Equal(t, code, resp.StatusCode, "%s %s: got %d %s; want %d", method, path, resp.StatusCode, data, code)
	return data
}

// status requires a Status answer with the code and reason.
func (e *Env) status(t *testing.T, method, path, contentType, accept, body string, code int, reason metav1.StatusReason) metav1.Status {
	t.Helper()
	h := alice.Clone()
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	if accept != "" {
		h.Set("Accept", accept)
	}
	resp, data := e.Do(t, e.Proxy, method, path, h, body)
	st := testutil.Status(t, resp.StatusCode, resp.Header, data)
	require.Equal(t, code, resp.StatusCode, "%s %s: got %s", method, path, data)
	assert.Equal(t, reason, st.Reason, "%s %s: got %s", method, path, data)
	return st
}

func (e *Env) testUpdate(t *testing.T) {
	w := decode[demo.Widget](t, e.call(t, http.MethodPost, apiPath, "", "", `{"metadata":{"name":"api-u"},"spec":{"color":"blue"}}`, http.StatusCreated))
	stale, _ := json.Marshal(w)
	w.Spec.Color = "red"
	body, _ := json.Marshal(w)
	got := decode[demo.Widget](t, e.call(t, http.MethodPut, apiPath+"/api-u", "", "", string(body), http.StatusOK))
	assert.Equal(t, "red", got.Spec.Color)
	assert.Equal(t, int64(2), got.Generation)
	assert.NotEqual(t, w.ResourceVersion, got.ResourceVersion)
	assert.Equal(t, w.Status, got.Status, "status is the server's")

	e.status(t, http.MethodPut, apiPath+"/api-u", "", "", string(stale), http.StatusConflict, metav1.StatusReasonConflict)
	noRV := strings.Replace(string(body), `"resourceVersion":"`+w.ResourceVersion+`",`, "", 1)
	st := e.status(t, http.MethodPut, apiPath+"/api-u", "", "", noRV, http.StatusUnprocessableEntity, metav1.StatusReasonInvalid)
	assert.Equal(t, `widgets.demo.aggauth.io "api-u" is invalid: metadata.resourceVersion: Invalid value: 0: must be specified for an update`, st.Message)
	e.status(t, http.MethodPut, apiPath+"/api-v", "", "", string(body), http.StatusBadRequest, metav1.StatusReasonBadRequest)
	missing := strings.Replace(string(body), `"name":"api-u"`, `"name":"api-missing"`, 1)
	e.status(t, http.MethodPut, apiPath+"/api-missing", "", "", missing, http.StatusNotFound, metav1.StatusReasonNotFound)
	big := `{"metadata":{"annotations":{"a":"` + strings.Repeat("x", 256<<10) + `"}}}`
	e.status(t, http.MethodPatch, apiPath+"/api-u", "application/merge-patch+json", "", big, http.StatusUnprocessableEntity, metav1.StatusReasonInvalid)
	e.call(t, http.MethodDelete, apiPath+"/api-u", "", "", "", http.StatusOK)
}

func (e *Env) testFinalizers(t *testing.T) {
	const owner = `{"apiVersion":"v1","kind":"ConfigMap","name":"owner","uid":"5d3b0e8a-0000-4000-8000-000000000001"}`
	w := decode[demo.Widget](t, e.call(t, http.MethodPost, apiPath, "", "",
		`{"metadata":{"name":"api-f","finalizers":["demo.aggauth.io/hold"],"ownerReferences":[`+owner+`]}}`, http.StatusCreated))
	assert.Equal(t, []string{"demo.aggauth.io/hold"}, w.Finalizers)
	require.Len(t, w.OwnerReferences, 1)
	assert.Equal(t, "owner", w.OwnerReferences[0].Name)

	kept := decode[demo.Widget](t, e.call(t, http.MethodDelete, apiPath+"/api-f", "", "", "", http.StatusOK))
	assert.Equal(t, "api-f", kept.Name, "the widget, kept by its finalizer")
	require.NotNil(t, kept.DeletionTimestamp)
	got := decode[demo.Widget](t, e.call(t, http.MethodGet, apiPath+"/api-f", "", "", "", http.StatusOK))
	assert.Equal(t, kept.ResourceVersion, got.ResourceVersion)

	e.call(t, http.MethodPatch, apiPath+"/api-f", "application/merge-patch+json", "", `{"metadata":{"finalizers":null}}`, http.StatusOK)
	e.status(t, http.MethodGet, apiPath+"/api-f", "", "", "", http.StatusNotFound, metav1.StatusReasonNotFound)
}

func (e *Env) testDeleteCollection(t *testing.T) {
	for _, name := range []string{"api-d1", "api-d2"} {
		e.call(t, http.MethodPost, apiPath, "", "", `{"metadata":{"name":"`+name+`","labels":{"suite":"api-dc"}}}`, http.StatusCreated)
	}
	deleted := decode[demo.WidgetList](t, e.call(t, http.MethodDelete, apiPath+"?labelSelector=suite%3Dapi-dc", "", "", "", http.StatusOK))
	assert.Equal(t, demo.ListKind, deleted.Kind)
	assert.Len(t, deleted.Items, 2)
	left := decode[demo.WidgetList](t, e.call(t, http.MethodGet, apiPath+"?labelSelector=suite%3Dapi-dc", "", "", "", http.StatusOK))
	assert.Empty(t, left.Items)
}

// testWatch: a watch from a list's resourceVersion sees a create made
// meanwhile, through serving (a long-running request, flushed).
func (e *Env) testWatch(t *testing.T) {
	list := decode[demo.WidgetList](t, e.call(t, http.MethodGet, apiPath, "", "", "", http.StatusOK))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.BaseURL+apiPath+"?watch=true&timeoutSeconds=15&resourceVersion="+list.ResourceVersion, nil)
	require.NoError(t, err)
	for k, v := range alice {
		req.Header[k] = v
	}
	resp, err := e.Proxy.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))

	e.call(t, http.MethodPost, apiPath, "", "", `{"metadata":{"name":"api-w"}}`, http.StatusCreated)
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	require.NoError(t, err)
	var ev struct {
		Type   string
		Object demo.Widget
	}
	require.NoError(t, json.Unmarshal([]byte(line), &ev), "%s", line)
	assert.Equal(t, "ADDED", ev.Type)
	assert.Equal(t, "api-w", ev.Object.Name)
	e.call(t, http.MethodDelete, apiPath+"/api-w", "", "", "", http.StatusOK)
}

// testForms: the forms kubectl and the controllers ask for, and refusals
// worded as kube-apiserver's.
func (e *Env) testForms(t *testing.T) {
	e.call(t, http.MethodPost, apiPath, "", "", `{"metadata":{"name":"api-t"},"spec":{"color":"blue","size":3}}`, http.StatusCreated)
	defer e.call(t, http.MethodDelete, apiPath+"/api-t", "", "", "", http.StatusOK)

	table := decode[metav1.Table](t, e.call(t, http.MethodGet, apiPath+"/api-t", "", "application/json;as=Table;v=v1;g=meta.k8s.io,application/json", "", http.StatusOK))
	var columns []string
	for _, c := range table.ColumnDefinitions {
		columns = append(columns, c.Name)
	}
	assert.Equal(t, []string{"Name", "Color", "Size", "Age"}, columns)
	require.Len(t, table.Rows, 1)
	assert.Equal(t, []any{"api-t", "blue", float64(3)}, table.Rows[0].Cells[:3])

	meta := decode[metav1.PartialObjectMetadataList](t, e.call(t, http.MethodGet, apiPath, "",
		"application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json", "", http.StatusOK))
	assert.Equal(t, "PartialObjectMetadataList", meta.Kind)
	assert.NotEmpty(t, meta.Items)

	e.status(t, http.MethodGet, apiPath, "", "text/plain", "", http.StatusNotAcceptable, metav1.StatusReasonNotAcceptable)
	e.status(t, http.MethodPost, apiPath, "text/plain", "", "api-x", http.StatusUnsupportedMediaType, metav1.StatusReasonUnsupportedMediaType)
	st := e.status(t, http.MethodPatch, apiPath+"/api-t", "application/apply-patch+yaml", "", "spec: {}", http.StatusUnsupportedMediaType, metav1.StatusReasonUnsupportedMediaType)
	assert.Equal(t, "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json", st.Message)
}

// testVerbs: a verb the declaration does not list is kube-apiserver's 405
// for a CustomResourceDefinition, before any route.
func (e *Env) testVerbs(t *testing.T) {
	e.call(t, http.MethodPost, apiPath, "", "", `{"metadata":{"name":"api-s"}}`, http.StatusCreated)
	defer e.call(t, http.MethodDelete, apiPath+"/api-s", "", "", "", http.StatusOK)
	assert.Equal(t, "api-s", decode[demo.Widget](t, e.call(t, http.MethodGet, apiPath+"/api-s/status", "", "", "", http.StatusOK)).Name)
	st := e.status(t, http.MethodDelete, apiPath+"/api-s/status", "", "", "", http.StatusMethodNotAllowed, metav1.StatusReasonMethodNotAllowed)
	assert.Equal(t, `delete is not supported on resources of kind "widgets.demo.aggauth.io"`, st.Message)
	e.status(t, http.MethodPut, apiPath+"/api-s/status", "", "", `{}`, http.StatusMethodNotAllowed, metav1.StatusReasonMethodNotAllowed)
}
