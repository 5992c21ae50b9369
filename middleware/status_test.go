package middleware_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/aggauth/aggauth/internal/testutil"
	"github.com/aggauth/aggauth/middleware"
)

func TestWriteStatus(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantCode   int
		wantReason metav1.StatusReason
		wantMsg    string
		wantRetry  string
	}{
		{"unauthorized", apierrors.NewUnauthorized("Unauthorized"), 401, metav1.StatusReasonUnauthorized, "Unauthorized", ""},
		{"forbidden", apierrors.NewForbidden(schema.GroupResource{Group: "g", Resource: "r"}, "n", errors.New("no")), 403, metav1.StatusReasonForbidden, `r.g "n" is forbidden: no`, ""},
		{"plain error", errors.New("boom"), 500, metav1.StatusReasonInternalError, "Internal error occurred: boom", ""},
		{"nil error", nil, 500, metav1.StatusReasonInternalError, "Internal error occurred: unknown error", ""},
		{"retry after", apierrors.NewServiceUnavailable("later"), 503, metav1.StatusReasonServiceUnavailable, "later", ""},
		{"too many", apierrors.NewTooManyRequests("slow down", 7), 429, metav1.StatusReasonTooManyRequests, "slow down", "7"},
		{"wrapped", errors.Join(errors.New("ctx"), apierrors.NewNotFound(schema.GroupResource{Resource: "namespaces"}, "x")), 404, metav1.StatusReasonNotFound, `namespaces "x" not found`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			middleware.WriteStatus(rec, tt.err)
			assert.Equal(t, tt.wantCode, rec.Code)
			assert.Equal(t, "application/json", rec.Header().Get("Content-Type"))
			assert.Equal(t, "nosniff", rec.Header().Get("X-Content-Type-Options"))
			assert.Equal(t, tt.wantRetry, rec.Header().Get("Retry-After"))
			st := testutil.RecordedStatus(t, rec) // kind Status, apiVersion v1, code rec.Code
			assert.Equal(t, metav1.StatusFailure, st.Status)
			assert.Equal(t, int32(tt.wantCode), st.Code)
			assert.Equal(t, tt.wantReason, st.Reason)
			assert.Equal(t, tt.wantMsg, st.Message)
		})
	}
}

func TestWriteStatusUnauthorizedBodyMatchesKubeAPIServer(t *testing.T) {
	rec := httptest.NewRecorder()
	middleware.WriteStatus(rec, apierrors.NewUnauthorized("Unauthorized"))
	// The body kube-apiserver writes for a failed authentication.
	assert.JSONEq(t, `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}`, rec.Body.String())
	assert.Equal(t, http.StatusUnauthorized, rec.Code)
}
