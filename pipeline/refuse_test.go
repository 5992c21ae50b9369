package pipeline_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aggauth/aggauth/pipeline"
)

// defaults sets a default header, as serving's steps do.
type defaults struct{}

func (defaults) Serve(_ http.ResponseWriter, r *http.Request, s *pipeline.State) *http.Request {
	s.Writer().SetDefault("Audit-Id", "the-id")
	return r
}

// bounding runs the rest of the request bounded by a far deadline, on the
// request's goroutine: the Writer's locked mode, as under serving's timeout.
type bounding struct{}

func (bounding) Serve(_ http.ResponseWriter, r *http.Request, _ *pipeline.State) *http.Request {
	return r
}

func (bounding) Run(w http.ResponseWriter, r *http.Request, s *pipeline.State, rest func(http.ResponseWriter, *http.Request)) {
	s.SetDeadline(time.Now().Add(time.Hour))
	rest(w, r)
	p, _ := s.Panic()
	s.Writer().Finish(p == nil)
}

var tooLarge = apierrors.NewRequestEntityTooLargeError("limit is 3")

func TestRefuse(t *testing.T) {
	for _, steps := range map[string][]pipeline.Step{"unbounded": {defaults{}}, "bounded": {defaults{}, bounding{}}} {
		for name, tc := range map[string]struct {
			startFirst bool
			wantCode   int
			wantBody   string
		}{
			"before the response": {wantCode: http.StatusRequestEntityTooLarge},
			"after it started":    {startFirst: true, wantCode: http.StatusOK, wantBody: "started"},
		} {
			t.Run(name, func(t *testing.T) {
				var refused bool
				var writeErr error
				h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					s, ok := pipeline.From(r.Context())
					require.True(t, ok)
					w.Header().Set("X-Handler", "set before the refusal")
					if tc.startFirst {
						_, _ = w.Write([]byte("started"))
					}
					refused = s.Writer().Refuse(tooLarge)
					w.Header().Set("X-Late", "dropped")
					w.WriteHeader(http.StatusTeapot)
					_, writeErr = w.Write([]byte("late"))
					assert.Equal(t, refused, s.Writer().Refused())
				})
				rec := httptest.NewRecorder()
				pipeline.New(h, steps...).ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/", nil))
				assert.Equal(t, tc.wantCode, rec.Code)
				assert.Equal(t, "the-id", rec.Header().Get("Audit-Id"), "the steps' default headers")
				if tc.startFirst {
					assert.False(t, refused, "got refused; want false once the response started")
					assert.Equal(t, "startedlate", rec.Body.String())
					return
				}
				assert.True(t, refused)
				assert.Empty(t, rec.Header().Get("X-Late"))
				assert.True(t, errors.Is(writeErr, pipeline.ErrRefused), "got %v; want ErrRefused", writeErr)
				assert.Empty(t, rec.Header().Get("X-Handler"), "the handler's headers are not the refusal's")
				var st metav1.Status
				require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &st), "body %q", rec.Body)
				assert.Equal(t, metav1.StatusReasonRequestEntityTooLarge, st.Reason)
				assert.Equal(t, int32(http.StatusRequestEntityTooLarge), st.Code)
			})
		}
	}
}

func TestMaxBodyBytesPassesToNestedState(t *testing.T) {
	set := stepFunc(func(_ http.ResponseWriter, r *http.Request, s *pipeline.State) *http.Request {
		s.MaxBodyBytes = 42
		return r
	})
	var got int64
	inner := pipeline.New(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		s, _ := pipeline.From(r.Context())
		got = s.MaxBodyBytes
	}))
	// A pipeline behind other code makes a state of its own.
	outer := pipeline.New(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { inner.ServeHTTP(w, r) }), set)
	outer.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	assert.Equal(t, int64(42), got)
}

type stepFunc func(http.ResponseWriter, *http.Request, *pipeline.State) *http.Request

func (f stepFunc) Serve(w http.ResponseWriter, r *http.Request, s *pipeline.State) *http.Request {
	return f(w, r, s)
}
