package testutil_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aggauth/aggauth/internal/testutil"
)

// recordingT records failures instead of failing the test.
type recordingT struct {
	testing.TB
	failed bool
}

func (r *recordingT) Errorf(string, ...any) { r.failed = true }
func (r *recordingT) FailNow()              { r.failed = true; panic(r) }
func (r *recordingT) Helper()               {}

func TestStatus(t *testing.T) {
	const forbidden = `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"no","reason":"Forbidden","code":403}`
	json := http.Header{"Content-Type": {"application/json"}}
	tests := []struct {
		name   string
		code   int
		header http.Header
		body   string
		ok     bool
	}{
		{"a Status", 403, json, forbidden, true},
		{"another code", 500, json, forbidden, false},
		{"another Content-Type", 403, http.Header{"Content-Type": {"text/plain"}}, forbidden, false},
		{"no Content-Type", 403, nil, forbidden, false},
		{"no kind", 403, json, `{"apiVersion":"v1","code":403}`, false},
		{"another apiVersion", 403, json, `{"kind":"Status","apiVersion":"v2","code":403}`, false},
		{"not JSON", 403, json, `forbidden`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &recordingT{TB: t}
			var st metav1.Status
			func() {
				defer func() {
					if p := recover(); p != nil && p != r {
						panic(p)
					}
				}()
				st = testutil.Status(r, tt.code, tt.header, []byte(tt.body))
			}()
			assert.Equal(t, !tt.ok, r.failed, "failed")
			if tt.ok {
				assert.Equal(t, metav1.StatusReasonForbidden, st.Reason)
			}
		})
	}
}
