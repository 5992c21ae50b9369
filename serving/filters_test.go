package serving_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/warning"

	"github.com/aggauth/aggauth/serving"
)

func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

func TestRecover(t *testing.T) {
	var logged bytes.Buffer
	recov := serving.Recover(slog.New(slog.NewTextHandler(&logged, nil)))

	t.Run("panic is a 500 Status", func(t *testing.T) {
		logged.Reset()
		rec := serve(recov(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") })),
			httptest.NewRequest(http.MethodGet, "/apis/g/v1/things", nil))
		assert.Equal(t, http.StatusInternalServerError, rec.Code)
		s := status(t, rec.Body.Bytes())
		assert.Equal(t, "InternalError", string(s.Reason))
		assert.Equal(t, "This request caused apiserver to panic. Look in the logs for details.", s.Message)
		assert.Contains(t, logged.String(), `panic=boom`)
		assert.Contains(t, logged.String(), "filters_test.go", "the stack is logged")
	})
	t.Run("the log is bounded", func(t *testing.T) {
		logged.Reset()
		serve(recov(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(strings.Repeat("x\n", 100000)) })),
			httptest.NewRequest(http.MethodGet, "/"+strings.Repeat("p", 10000), nil))
		assert.Less(t, logged.Len(), 80<<10)
		assert.NotContains(t, logged.String(), strings.Repeat("p", 100))
	})
	t.Run("ErrAbortHandler goes to net/http", func(t *testing.T) {
		logged.Reset()
		h := recov(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) }))
		assert.PanicsWithValue(t, http.ErrAbortHandler, func() { serve(h, httptest.NewRequest(http.MethodGet, "/", nil)) })
		assert.Empty(t, logged.String())
	})
	t.Run("after the response started, the response is aborted", func(t *testing.T) {
		logged.Reset()
		h := recov(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, "partial")
			panic("late")
		}))
		assert.PanicsWithValue(t, http.ErrAbortHandler, func() { serve(h, httptest.NewRequest(http.MethodGet, "/", nil)) })
		assert.Contains(t, logged.String(), "late")
	})
	t.Run("no panic", func(t *testing.T) {
		rec := serve(recov(ok), httptest.NewRequest(http.MethodGet, "/", nil))
		assert.Equal(t, http.StatusOK, rec.Code)
		assert.Equal(t, "ok", rec.Body.String())
	})
}

func TestAuditID(t *testing.T) {
	var seen string
	h := serving.AuditID()(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		seen, _ = serving.AuditIDFrom(r.Context())
	}))
	tests := []struct {
		name, sent, want string // want "uuid": a new UUID
	}{
		{name: "forwarded", sent: "8c1d2f3e-aggregator", want: "8c1d2f3e-aggregator"},
		{name: "absent", sent: "", want: "uuid"},
		{name: "long", sent: strings.Repeat("a", 1000), want: strings.Repeat("a", serving.MaxAuditIDLength)},
		{name: "control character", sent: "a\x01b", want: "uuid"},
		{name: "not ASCII", sent: "café", want: "uuid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			if tt.sent != "" {
				r.Header.Set("Audit-ID", tt.sent)
			}
			rec := serve(h, r)
			got := rec.Header().Get("Audit-ID")
			if tt.want == "uuid" {
				_, err := uuid.Parse(got)
				assert.NoError(t, err, "got %q", got)
			} else {
				assert.Equal(t, tt.want, got)
			}
			assert.Equal(t, got, seen, "AuditIDFrom in the handler")
		})
	}
	t.Run("a response header already set is kept", func(t *testing.T) {
		rec := httptest.NewRecorder()
		rec.Header().Set("Audit-ID", "outer")
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("Audit-ID", "inner")
		h.ServeHTTP(rec, r)
		assert.Equal(t, "outer", rec.Header().Get("Audit-ID"))
		assert.Equal(t, "inner", seen)
	})
	_, found := serving.AuditIDFrom(context.Background())
	assert.False(t, found)
}

func TestCacheControl(t *testing.T) {
	cc := serving.CacheControl()
	rec := serve(cc(ok), httptest.NewRequest(http.MethodGet, "/", nil))
	assert.Equal(t, "no-cache, private", rec.Header().Get("Cache-Control"))
	rec = serve(cc(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Cache-Control", "max-age=5")
	})), httptest.NewRequest(http.MethodGet, "/", nil))
	assert.Equal(t, []string{"max-age=5"}, rec.Header().Values("Cache-Control"), "the handler's own wins")
}

func TestGoaway(t *testing.T) {
	h2 := func(target string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, target, nil)
		r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/2.0", 2, 0
		return r
	}
	always := serving.Goaway(1, func(r *http.Request, _ *request.RequestInfo) bool { return r.URL.Path == "/exec" })
	assert.Equal(t, "close", serve(always(ok), h2("/apis/g/v1/things")).Header().Get("Connection"))
	assert.Empty(t, serve(always(ok), httptest.NewRequest(http.MethodGet, "/apis/g/v1/things", nil)).Header().Get("Connection"), "HTTP/1.1")
	assert.Empty(t, serve(always(ok), h2("/apis/g/v1/things?watch=true")).Header().Get("Connection"), "a watch")
	assert.Empty(t, serve(always(ok), h2("/apis/g/v1/watch/things")).Header().Get("Connection"), "a watch")
	assert.Empty(t, serve(always(ok), h2("/exec")).Header().Get("Connection"), "long-running")
	assert.Empty(t, serve(serving.Goaway(0, nil)(ok), h2("/")).Header().Get("Connection"))

	n := 0
	half := serving.Goaway(0.5, nil)(ok)
	for range 1000 {
		if serve(half, h2("/")).Header().Get("Connection") == "close" {
			n++
		}
	}
	assert.InDelta(t, 500, n, 100)
}

func TestWarnings(t *testing.T) {
	h := serving.Warnings()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		warning.AddWarning(r.Context(), "", "widgets v1 is deprecated")
		warning.AddWarning(r.Context(), "", "widgets v1 is deprecated") // once
		warning.AddWarning(r.Context(), "widgets", `a "quoted" text`)
		warning.AddWarning(r.Context(), "", "")
		w.WriteHeader(http.StatusOK)
		warning.AddWarning(r.Context(), "", "too late")
	}))
	rec := serve(h, httptest.NewRequest(http.MethodGet, "/", nil))
	assert.Equal(t, []string{`299 - "widgets v1 is deprecated"`, `299 widgets "a \"quoted\" text"`}, rec.Result().Header.Values("Warning"), "what was sent")

	t.Run("bounded", func(t *testing.T) {
		h := serving.Warnings()(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			for i := range 10000 {
				warning.AddWarning(r.Context(), "", strings.Repeat("w", 1000)+string(rune('a'+i%26))+strings.Repeat("x", i))
			}
		}))
		rec := serve(h, httptest.NewRequest(http.MethodGet, "/", nil))
		total := 0
		for _, v := range rec.Header().Values("Warning") {
			total += len(v)
		}
		assert.LessOrEqual(t, total, 2*serving.MaxWarningRunes+len(rec.Header().Values("Warning"))*10)
		assert.Less(t, len(rec.Header().Values("Warning")), 40)
	})
}

func TestTimeout(t *testing.T) {
	type result struct {
		deadline time.Duration
		err      error
	}
	got := make(chan result, 1)
	wait := func(w http.ResponseWriter, r *http.Request) {
		d, _ := r.Context().Deadline()
		left := time.Until(d)
		<-r.Context().Done()
		got <- result{left, r.Context().Err()}
	}
	long := func(r *http.Request, _ *request.RequestInfo) bool { return r.URL.Path == "/exec" }
	filter := serving.Timeout(200*time.Millisecond, long, quietLogger)

	t.Run("504 at the bound, the handler's context ends", func(t *testing.T) {
		start := time.Now()
		rec := serve(filter(http.HandlerFunc(wait)), httptest.NewRequest(http.MethodGet, "/apis/g/v1/things", nil))
		assert.GreaterOrEqual(t, time.Since(start), 200*time.Millisecond)
		assert.Equal(t, http.StatusGatewayTimeout, rec.Code)
		s := status(t, rec.Body.Bytes())
		assert.Equal(t, "Timeout", string(s.Reason))
		assert.Equal(t, "Timeout: request did not complete within the allotted timeout", s.Message)
		assert.ErrorIs(t, (<-got).err, context.DeadlineExceeded)
	})
	t.Run("?timeout= shortens the bound", func(t *testing.T) {
		rec := serve(filter(http.HandlerFunc(wait)), httptest.NewRequest(http.MethodGet, "/apis/g/v1/things?timeout=50ms", nil))
		assert.Equal(t, http.StatusGatewayTimeout, rec.Code)
		assert.InDelta(t, 50*time.Millisecond, (<-got).deadline, float64(40*time.Millisecond))
	})
	for _, q := range []string{"timeout=0s", "timeout=1h", "timeout=-1s", "tim%65out=1h"} {
		t.Run("?"+q+" is the default bound", func(t *testing.T) {
			d := 0 * time.Second
			h := filter(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
				dl, _ := r.Context().Deadline()
				d = time.Until(dl)
			}))
			serve(h, httptest.NewRequest(http.MethodGet, "/apis/g/v1/things?"+q, nil))
			assert.InDelta(t, 200*time.Millisecond, d, float64(50*time.Millisecond))
		})
	}
	t.Run("a malformed ?timeout= is a 400", func(t *testing.T) {
		rec := serve(filter(ok), httptest.NewRequest(http.MethodGet, "/apis/g/v1/things?timeout=soon", nil))
		assert.Equal(t, http.StatusBadRequest, rec.Code)
		assert.Equal(t, `invalid timeout specified in the request URL - time: invalid duration "soon"`, status(t, rec.Body.Bytes()).Message)
	})
	for _, target := range []string{"/apis/g/v1/things?watch=true", "/apis/g/v1/watch/things", "/exec", "/debug/pprof/profile?timeout=soon"} {
		t.Run(target+" is long-running", func(t *testing.T) {
			var has bool
			rec := serve(filter(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, has = r.Context().Deadline()
			})), httptest.NewRequest(http.MethodGet, target, nil))
			assert.Equal(t, http.StatusOK, rec.Code)
			assert.False(t, has)
		})
	}
}

// What the handler under Timeout writes, and when.
func TestTimeoutResponse(t *testing.T) {
	filter := serving.Timeout(200*time.Millisecond, nil, quietLogger)
	t.Run("after the response started, it is aborted", func(t *testing.T) {
		h := filter(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "partial")
			<-r.Context().Done()
			time.Sleep(50 * time.Millisecond) // returns well after the bound
		}))
		assert.PanicsWithValue(t, http.ErrAbortHandler, func() { serve(h, httptest.NewRequest(http.MethodGet, "/", nil)) })
	})
	t.Run("writes after the timeout fail", func(t *testing.T) {
		werr := make(chan error, 1)
		answered := make(chan struct{})
		h := filter(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			<-answered
			w.Header().Set("X-Late", "1")
			_, err := io.WriteString(w, "late")
			werr <- errors.Join(err, http.NewResponseController(w).SetWriteDeadline(time.Now()))
		}))
		rec := serve(h, httptest.NewRequest(http.MethodGet, "/", nil))
		close(answered)
		err := <-werr
		assert.ErrorIs(t, err, http.ErrHandlerTimeout)
		assert.NotContains(t, err.Error(), "not supported", "no way to the connection")
		assert.Equal(t, http.StatusGatewayTimeout, rec.Code)
		assert.Empty(t, rec.Header().Get("X-Late"))
		assert.NotContains(t, rec.Body.String(), "late")
	})
	t.Run("a response started right after the deadline is the 504", func(t *testing.T) {
		// The handler writes as soon as its context ends, racing Timeout's
		// own goroutine: whichever gets there first, the client gets the 504
		// (as gin does, which writes its status when its handlers return).
		short := serving.Timeout(time.Millisecond, nil, quietLogger)
		for name, write := range map[string]func(http.ResponseWriter){
			"WriteHeader": func(w http.ResponseWriter) { w.WriteHeader(http.StatusOK) },
			"Write":       func(w http.ResponseWriter) { _, _ = io.WriteString(w, "late") },
			"Flush":       func(w http.ResponseWriter) { http.NewResponseController(w).Flush() }, //nolint:errcheck
			"return":      func(http.ResponseWriter) {},
		} {
			h := short(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				<-r.Context().Done()
				write(w)
			}))
			for range 200 {
				rec := serve(h, httptest.NewRequest(http.MethodGet, "/", nil))
				if !assert.Equal(t, http.StatusGatewayTimeout, rec.Code, name) || !assert.NotContains(t, rec.Body.String(), "late", name) {
					break
				}
			}
		}
	})
	t.Run("a fast handler is served as it is", func(t *testing.T) {
		rec := httptest.NewRecorder()
		rec.Header().Set("Audit-ID", "outer")
		filter(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Only-Header", "1")
			http.NewResponseController(w).Flush() //nolint:errcheck
		})).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		assert.Equal(t, http.StatusOK, rec.Code)
		assert.True(t, rec.Flushed)
		assert.Equal(t, "1", rec.Header().Get("X-Only-Header"))
		assert.Equal(t, "outer", rec.Header().Get("Audit-ID"))
		rec = serve(filter(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("X-Only-Header", "2") // and nothing written
		})), httptest.NewRequest(http.MethodGet, "/", nil))
		assert.Equal(t, "2", rec.Header().Get("X-Only-Header"))
	})
	t.Run("a panic goes to the request's goroutine, with its stack", func(t *testing.T) {
		var logged bytes.Buffer
		h := serving.Recover(slog.New(slog.NewTextHandler(&logged, nil)))(filter(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
			panic(errors.New("inner"))
		})))
		rec := serve(h, httptest.NewRequest(http.MethodGet, "/", nil))
		assert.Equal(t, http.StatusInternalServerError, rec.Code)
		assert.Contains(t, logged.String(), "inner")
		assert.Contains(t, logged.String(), "filters_test.go", "the stack of the handler's goroutine")
	})
	t.Run("a late panic is logged", func(t *testing.T) {
		var logged serving.SyncBuffer
		answered, done := make(chan struct{}), make(chan struct{})
		h := serving.Timeout(20*time.Millisecond, nil, slog.New(slog.NewTextHandler(&logged, nil)))(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
			defer close(done)
			<-answered
			panic("late panic")
		}))
		assert.Equal(t, http.StatusGatewayTimeout, serve(h, httptest.NewRequest(http.MethodGet, "/", nil)).Code)
		close(answered)
		<-done
		assert.Eventually(t, func() bool { return strings.Contains(logged.String(), "late panic") }, 5*time.Second, 5*time.Millisecond)
	})
}
