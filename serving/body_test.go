package serving_test

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aggauth/aggauth/objects"
	"github.com/aggauth/aggauth/serving"
	kstatus "github.com/aggauth/aggauth/status"
)

// reader reads the whole body, then answers 201 with its length, or writes
// the read error as a Status (dropped when the server answered 413 in its
// place); it records the error.
type reader struct {
	calls atomic.Int64
	err   atomic.Value // error
}

func (h *reader) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.calls.Add(1)
	w.Header().Set("X-Handler", "set")
	n, err := io.Copy(io.Discard, r.Body)
	if err != nil {
		h.err.Store(err)
		kstatus.Write(w, apierrors.NewBadRequest("the handler's own answer: "+err.Error()))
		return
	}
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, strconv.FormatInt(n, 10))
}

// post sends n bytes, with a Content-Length unless chunked (over HTTP/1.1,
// Transfer-Encoding: chunked; over HTTP/2, DATA frames without a length).
func post(t *testing.T, c *http.Client, url string, n int, chunked bool) (*http.Response, []byte) {
	t.Helper()
	var body io.Reader = bytes.NewReader(bytes.Repeat([]byte("x"), n))
	if chunked {
		body = io.MultiReader(body) // hides the length
	}
	req, err := http.NewRequest(http.MethodPost, url, body)
	require.NoError(t, err)
	resp, err := c.Do(req)
	require.NoError(t, err)
	return resp, readAll(t, resp)
}

func TestBodyLimit(t *testing.T) {
	const limit = 64 << 10
	for _, h1 := range []bool{false, true} {
		for _, chunked := range []bool{false, true} {
			name := map[bool]string{false: "HTTP/2", true: "HTTP/1.1"}[h1] + map[bool]string{false: " with Content-Length", true: " streamed"}[chunked]
			t.Run(name, func(t *testing.T) {
				h := &reader{}
				opts := testOptions(t)
				opts.MaxRequestBodyBytes = limit
				r := start(t, opts, h)
				c := client(t, h1)
				url := r.url + "/apis/g/v1/namespaces/ns/things"

				resp, body := post(t, c, url, limit, chunked)
				assert.Equal(t, http.StatusCreated, resp.StatusCode, "a body of the limit exactly: %s", body)
				assert.Equal(t, strconv.Itoa(limit), string(body))

				calls := h.calls.Load()
				resp, body = post(t, c, url, limit+1, chunked)
				require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, "%s", body)
				st := status(t, body)
				assert.Equal(t, metav1.StatusReasonRequestEntityTooLarge, st.Reason)
				assert.Equal(t, "Request entity too large: limit is 65536", st.Message)
				assert.Empty(t, resp.Header.Get("X-Handler"), "the handler's headers are not the answer's")
				assert.NotEmpty(t, resp.Header.Get(serving.HeaderAuditID), "serving's headers are")
				if !chunked {
					assert.Equal(t, calls, h.calls.Load(), "a Content-Length over the limit: the handler does not run")
					return
				}
				assert.Equal(t, calls+1, h.calls.Load())
				err, _ := h.err.Load().(error)
				require.Error(t, err, "the handler's read failed")
				assert.True(t, apierrors.IsRequestEntityTooLargeError(err), "got %v; want a 413 Status error", err)
				var maxBytes *http.MaxBytesError
				require.True(t, errors.As(err, &maxBytes), "got %T; want an *http.MaxBytesError too", err)
				assert.Equal(t, int64(limit), maxBytes.Limit)
			})
		}
	}
}

func TestBodyLimitDefaultAndNone(t *testing.T) {
	for _, tc := range []struct {
		name  string
		limit int64
		size  int
		want  int
	}{
		{"the default is Kubernetes' 3 MiB", 0, serving.DefaultMaxRequestBodyBytes, http.StatusCreated},
		{"one byte over the default", 0, serving.DefaultMaxRequestBodyBytes + 1, http.StatusRequestEntityTooLarge},
		{"no limit", -1, 5 << 20, http.StatusCreated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := testOptions(t)
			opts.MaxRequestBodyBytes = tc.limit
			r := start(t, opts, &reader{})
			resp, _ := post(t, client(t, false), r.url+"/x", tc.size, true)
			assert.Equal(t, tc.want, resp.StatusCode)
		})
	}
	assert.Equal(t, objects.DefaultMaxBodyBytes, serving.DefaultMaxRequestBodyBytes, "serving and objects agree")
}

// TestBodyLimitAgreesWithObjects: objects.Decode bounds a body by the
// server's limit, larger or smaller than its own default.
func TestBodyLimitAgreesWithObjects(t *testing.T) {
	type thing struct {
		metav1.TypeMeta   `json:",inline"`
		metav1.ObjectMeta `json:"metadata"`
		Data              string `json:"data"`
	}
	decode := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var obj thing
		if err := objects.Decode(r, &obj); err != nil {
			kstatus.Write(w, err)
			return
		}
		w.WriteHeader(http.StatusCreated)
	})
	object := func(size int) string {
		return `{"apiVersion":"g/v1","kind":"Thing","metadata":{"name":"x"},"data":"` + strings.Repeat("x", size) + `"}`
	}
	for _, tc := range []struct {
		name  string
		limit int64
		size  int
		want  int
	}{
		{"a server limit above objects' default", 8 << 20, 5 << 20, http.StatusCreated},
		{"no server limit", -1, 5 << 20, http.StatusCreated},
		{"a server limit below it", 1 << 10, 2 << 10, http.StatusRequestEntityTooLarge},
		{"the default", 0, 4 << 20, http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := testOptions(t)
			opts.MaxRequestBodyBytes = tc.limit
			r := start(t, opts, decode)
			req, err := http.NewRequest(http.MethodPost, r.url+"/apis/g/v1/namespaces/ns/things", strings.NewReader(object(tc.size)))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/json")
			resp, err := client(t, false).Do(req)
			require.NoError(t, err)
			body := readAll(t, resp)
			assert.Equal(t, tc.want, resp.StatusCode, "%.200s", body)
		})
	}
}
