package middleware_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/aggauth/aggauth/admission"
	"github.com/aggauth/aggauth/internal/testutil"
	"github.com/aggauth/aggauth/middleware"
)

// admitRequestInfo stands in for the Authenticate and RequestAttributes
// middlewares: it stores the user and kube-apiserver's RequestInfo.
func admitRequestInfo(u user.Info, next http.Handler) http.Handler {
	resolver := &request.RequestInfoFactory{
		APIPrefixes:          sets.NewString("api", "apis"),
		GrouplessAPIPrefixes: sets.NewString("api"),
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info, err := resolver.NewRequestInfo(r)
		if err != nil {
			middleware.WriteStatus(w, err)
			return
		}
		ctx := request.WithRequestInfo(r.Context(), info)
		if u != nil {
			ctx = request.WithUser(ctx, u)
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// admitServer serves check through Admit behind admitRequestInfo; the final
// handler answers 201 "handled".
func admitServer(t *testing.T, u user.Info, check admission.Interface) *httptest.Server {
	t.Helper()
	admit := admit(t, check)
	final := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, "handled")
	})
	srv := httptest.NewServer(admitRequestInfo(u, admit(final)))
	t.Cleanup(srv.Close)
	return srv
}

type admitResponse struct {
	code   int
	body   string
	status metav1.Status
	header http.Header
}

func admitDo(t *testing.T, srv *httptest.Server, method, path string) admitResponse {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader("{}"))
	require.NoError(t, err)
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	out := admitResponse{code: resp.StatusCode, body: string(body), header: resp.Header}
	if resp.StatusCode >= http.StatusBadRequest {
		out.status = testutil.Status(t, resp.StatusCode, resp.Header, body)
	}
	return out
}

func TestAdmitRunsCheckOnMutatingRequests(t *testing.T) {
	const widgets = "/apis/example.com/v1/namespaces/ns1/widgets"
	tests := []struct {
		method, path string
		wantChecked  bool
		wantVerb     string
		wantName     string
		wantSub      string
	}{
		{"POST", widgets, true, "create", "", ""},
		{"PUT", widgets + "/w1", true, "update", "w1", ""},
		{"PATCH", widgets + "/w1/status", true, "patch", "w1", "status"},
		{"DELETE", widgets + "/w1", true, "delete", "w1", ""},
		{"DELETE", widgets, true, "deletecollection", "", ""},
		{"GET", widgets + "/w1", false, "", "", ""},
		{"GET", widgets, false, "", "", ""},
		{"GET", widgets + "?watch=true", false, "", "", ""},
		{"POST", "/hooks/build", false, "", "", ""},
		{"POST", "/apis/example.com/v1", false, "", "", ""},
	}
	alice := &user.DefaultInfo{Name: "alice", Groups: []string{"devs"}}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			var got []authorizer.Attributes
			check := admission.Func(func(_ context.Context, a authorizer.Attributes) error {
				got = append(got, a)
				return nil
			})
			res := admitDo(t, admitServer(t, alice, check), tt.method, tt.path)
			assert.Equal(t, http.StatusCreated, res.code, "the next handler runs")
			assert.Equal(t, "handled", res.body)
			if !tt.wantChecked {
				assert.Empty(t, got, "check calls")
				return
			}
			require.Len(t, got, 1, "check calls")
			a := got[0]
			assert.Equal(t, alice, a.GetUser())
			assert.Equal(t, tt.wantVerb, a.GetVerb())
			assert.Equal(t, "ns1", a.GetNamespace())
			assert.Equal(t, "example.com", a.GetAPIGroup())
			assert.Equal(t, "v1", a.GetAPIVersion())
			assert.Equal(t, "widgets", a.GetResource())
			assert.Equal(t, tt.wantSub, a.GetSubresource())
			assert.Equal(t, tt.wantName, a.GetName())
			assert.True(t, a.IsResourceRequest())
			assert.Equal(t, strings.SplitN(tt.path, "?", 2)[0], a.GetPath())
		})
	}
}

func TestAdmitRefusals(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantCode   int
		wantReason metav1.StatusReason
		wantMsg    string
	}{
		{"status error keeps its code", apierrors.NewNotFound(schemaNamespaces, "ns1"),
			404, metav1.StatusReasonNotFound, `namespaces "ns1" not found`},
		{"plain error is 500", errors.New("quota service down"),
			500, metav1.StatusReasonInternalError, "Internal error occurred: quota service down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check := admission.Func(func(context.Context, authorizer.Attributes) error { return tt.err })
			res := admitDo(t, admitServer(t, nil, check), "POST", "/apis/example.com/v1/namespaces/ns1/widgets")
			assert.Equal(t, tt.wantCode, res.code)
			assert.Equal(t, "Status", res.status.Kind)
			assert.Equal(t, tt.wantReason, res.status.Reason)
			assert.Equal(t, tt.wantMsg, res.status.Message)
			assert.NotContains(t, res.body, "handled", "the next handler must not run")
		})
	}
}

func TestAdmitWithoutRequestInfo(t *testing.T) {
	h := admit(t, admission.Func(
		func(context.Context, authorizer.Attributes) error {
			t.Error("the check must not run")
			return nil
		}))(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { t.Error("the next handler must not run") }))

	for _, method := range []string{"GET", "POST"} {
		t.Run(method, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(method, "/apis/example.com/v1/namespaces/ns1/widgets", nil))
			assert.Equal(t, http.StatusInternalServerError, rec.Code)
			st := testutil.RecordedStatus(t, rec)
			assert.Equal(t, metav1.StatusReasonInternalError, st.Reason)
			assert.Equal(t, "Internal error occurred: admission: no RequestInfo in the request context; "+
				"the RequestAttributes step must run before admission", st.Message)
		})
	}
}

func TestAdmitWithoutUser(t *testing.T) {
	var got authorizer.Attributes
	check := admission.Func(func(_ context.Context, a authorizer.Attributes) error { got = a; return nil })
	res := admitDo(t, admitServer(t, nil, check), "POST", "/apis/example.com/v1/namespaces/ns1/widgets")
	assert.Equal(t, http.StatusCreated, res.code)
	require.NotNil(t, got)
	assert.Nil(t, got.GetUser())
}

func TestAdmitSelectors(t *testing.T) {
	tests := []struct {
		name, query          string
		wantFields, wantLbls int
		wantFieldErr         bool
		wantLabelErr         bool
	}{
		{"none", "", 0, 0, false, false},
		{"both", "?fieldSelector=metadata.name%3Dw1&labelSelector=app%3Dweb,tier", 1, 2, false, false},
		{"bad selectors", "?fieldSelector=x&labelSelector=a%3D%3D%3Db", 0, 0, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got authorizer.Attributes
			check := admission.Func(func(_ context.Context, a authorizer.Attributes) error { got = a; return nil })
			admitDo(t, admitServer(t, nil, check), "DELETE", "/apis/example.com/v1/namespaces/ns1/widgets"+tt.query)
			require.NotNil(t, got)
			require.Equal(t, "deletecollection", got.GetVerb())
			f, ferr := got.GetFieldSelector()
			l, lerr := got.GetLabelSelector()
			assert.Len(t, f, tt.wantFields)
			assert.Len(t, l, tt.wantLbls)
			assert.Equal(t, tt.wantFieldErr, ferr != nil, "field selector error: %v", ferr)
			assert.Equal(t, tt.wantLabelErr, lerr != nil, "label selector error: %v", lerr)
		})
	}
}

func TestAdmitOptionsErrors(t *testing.T) {
	_, err := middleware.NewAdmission(middleware.AdmissionOptions{})
	require.EqualError(t, err, "middleware: AdmissionOptions.Admission is required")
}

func TestAdmitNamespaceLifecycle(t *testing.T) {
	client := fake.NewClientset(
		admitNamespace("live", corev1.NamespaceActive),
		admitNamespace("doomed", corev1.NamespaceTerminating),
	)
	lifecycle, err := admission.NewNamespaceLifecycle(admission.NamespaceLifecycleOptions{Client: client})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	lifecycle.Start(ctx)
	t.Cleanup(cancel)
	srv := admitServer(t, &user.DefaultInfo{Name: "alice"}, lifecycle)

	tests := []struct {
		method, ns string
		wantCode   int
		wantMsg    string
	}{
		{"POST", "live", 201, ""},
		{"POST", "missing", 404, `namespaces "missing" not found`},
		{"POST", "doomed", 403, `widgets.example.com "Unknown" is forbidden: unable to create new content in namespace doomed because it is being terminated`},
		{"PUT", "missing", 201, ""},
		{"DELETE", "missing", 201, ""},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.ns, func(t *testing.T) {
			path := "/apis/example.com/v1/namespaces/" + tt.ns + "/widgets"
			if tt.method != "POST" {
				path += "/w1"
			}
			res := admitDo(t, srv, tt.method, path)
			assert.Equal(t, tt.wantCode, res.code)
			assert.Equal(t, tt.wantMsg, res.status.Message)
			if tt.wantCode == 403 {
				require.NotNil(t, res.status.Details)
				assert.Equal(t, []metav1.StatusCause{{Type: corev1.NamespaceTerminatingCause,
					Message: "namespace doomed is being terminated", Field: "metadata.namespace"}}, res.status.Details.Causes)
			}
		})
	}
}

func TestAdmitNotSyncedRetryAfter(t *testing.T) {
	lifecycle, err := admission.NewNamespaceLifecycle(admission.NamespaceLifecycleOptions{
		Client: fake.NewClientset(), ReadyTimeout: -1, RetryAfter: 3 * time.Second,
	})
	require.NoError(t, err) // never started: never synced
	res := admitDo(t, admitServer(t, nil, lifecycle), "POST", "/apis/example.com/v1/namespaces/ns1/widgets")
	assert.Equal(t, http.StatusServiceUnavailable, res.code)
	assert.Equal(t, "3", res.header.Get("Retry-After"))
	assert.Equal(t, metav1.StatusReasonServiceUnavailable, res.status.Reason)
}

func ExampleAdmission() {
	client := fake.NewClientset(admitNamespace("team-a", corev1.NamespaceActive))
	lifecycle, err := admission.NewNamespaceLifecycle(admission.NamespaceLifecycleOptions{Client: client})
	if err != nil {
		panic(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	lifecycle.Start(ctx)

	step, err := middleware.NewAdmission(middleware.AdmissionOptions{Admission: lifecycle})
	if err != nil {
		panic(err)
	}
	admit := step.Handler
	// In a server: Authenticate, then RequestAttributes, then Authorize, then admit.
	handler := admitRequestInfo(nil, admit(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusCreated)
	})))

	for _, ns := range []string{"team-a", "team-b"} {
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, httptest.NewRequest("POST", "/apis/example.com/v1/namespaces/"+ns+"/widgets", nil))
		fmt.Println(strings.TrimSpace(fmt.Sprint(ns, " ", rec.Code, " ", admitMessage(rec.Body.String()))))
	}
	// Output:
	// team-a 201
	// team-b 404 namespaces "team-b" not found
}

var schemaNamespaces = schema.GroupResource{Resource: "namespaces"}

func admitNamespace(name string, phase corev1.NamespacePhase) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NamespaceStatus{Phase: phase}}
}

// admitMessage returns the message of a Status body, or "" for any other body.
func admitMessage(body string) string {
	var st metav1.Status
	if json.Unmarshal([]byte(body), &st) != nil {
		return ""
	}
	return st.Message
}
