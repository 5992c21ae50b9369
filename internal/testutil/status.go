// Package testutil holds what the tests of the library, the example and the
// end-to-end tests share beyond a fake kube-apiserver (package fakekube) and
// certificates (package testpki): the decoding of the Status an apiserver
// answers.
package testutil

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Status decodes body, answered with the HTTP status code and header, as the
// metav1.Status kube-apiserver writes, and fails the test unless it is one:
// Content-Type application/json, kind Status, apiVersion v1, and code its
// code.
func Status(t testing.TB, code int, header http.Header, body []byte) metav1.Status {
	t.Helper()
	require.Equal(t, "application/json", header.Get("Content-Type"), "Content-Type of %d %s", code, body)
	var st metav1.Status
	require.NoError(t, json.Unmarshal(body, &st), "body %s", body)
	require.Equal(t, "Status", st.Kind, "kind of %s", body)
	require.Equal(t, "v1", st.APIVersion, "apiVersion of %s", body)
	require.Equal(t, int32(code), st.Code, "the Status's code is the HTTP status: %s", body)
	return st
}

// RecordedStatus is Status for a recorded response.
func RecordedStatus(t testing.TB, rec *httptest.ResponseRecorder) metav1.Status {
	t.Helper()
	return Status(t, rec.Code, rec.Header(), rec.Body.Bytes())
}
