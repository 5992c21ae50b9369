package serving_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/sets"
	genericapifilters "k8s.io/apiserver/pkg/endpoints/filters"
	genericfilters "k8s.io/apiserver/pkg/server/filters"
	"k8s.io/apiserver/pkg/warning"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/aggauth/aggauth/requestinfo"
	"github.com/aggauth/aggauth/serving"
)

// The filters answer as Kubernetes' own (k8s.io/apiserver v0.37.2), run side
// by side on the same requests.

func TestWarningsMatchKubernetes(t *testing.T) {
	texts := func(n, size int) []string {
		var out []string
		for i := range n {
			out = append(out, fmt.Sprintf("%d:%s", i, strings.Repeat("é", size)))
		}
		return out
	}
	cases := map[string][]string{
		"none":         nil,
		"few":          {"a", "b", "a", "c"},
		"quotes":       {`say "hi"`, `back\slash`, "tab\there"},
		"near limit":   texts(4, 1020),
		"over limit":   texts(6, 1000),
		"many small":   texts(3000, 1),
		"many large":   texts(100, 300),
		"mixed":        append(texts(2, 3000), texts(40, 100)...),
		"invalid utf8": {"\xff\xfe", "ok"},
	}
	for name, warnings := range cases {
		t.Run(name, func(t *testing.T) {
			emit := http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
				for i, w := range warnings {
					warning.AddWarning(r.Context(), []string{"", "agent"}[i%2], w)
				}
			})
			theirs := serve(genericapifilters.WithWarningRecorder(emit), httptest.NewRequest(http.MethodGet, "/", nil))
			ours := serve(serving.Warnings()(emit), httptest.NewRequest(http.MethodGet, "/", nil))
			assert.Equal(t, theirs.Header().Values("Warning"), ours.Header().Values("Warning"))
		})
	}
}

func TestCacheControlMatchesKubernetes(t *testing.T) {
	for _, h := range []http.HandlerFunc{
		func(http.ResponseWriter, *http.Request) {},
		func(w http.ResponseWriter, _ *http.Request) { w.Header().Set("Cache-Control", "public") },
		func(w http.ResponseWriter, _ *http.Request) { w.Header()["Cache-Control"] = nil },
	} {
		theirs := serve(genericapifilters.WithCacheControl(h), httptest.NewRequest(http.MethodGet, "/", nil))
		ours := serve(serving.CacheControl()(h), httptest.NewRequest(http.MethodGet, "/", nil))
		assert.Equal(t, theirs.Header(), ours.Header())
	}
}

func TestAuditIDMatchesKubernetes(t *testing.T) {
	for _, sent := range []string{"", "0b5d1c9e-8a1e-4a55-8e32-3b8b9f0f2d11", "anything printable ~!"} {
		for _, preset := range []string{"", "preset"} {
			run := func(f func(http.Handler) http.Handler) *httptest.ResponseRecorder {
				rec := httptest.NewRecorder()
				if preset != "" {
					rec.Header().Set("Audit-ID", preset)
				}
				r := httptest.NewRequest(http.MethodGet, "/", nil)
				if sent != "" {
					r.Header.Set("Audit-ID", sent)
				}
				f(ok).ServeHTTP(rec, r)
				return rec
			}
			theirs, ours := run(genericapifilters.WithAuditInit), run(serving.AuditID())
			if sent == "" && preset == "" {
				assert.Len(t, ours.Header().Get("Audit-ID"), len(theirs.Header().Get("Audit-ID")), "a UUID")
				continue
			}
			assert.Equal(t, theirs.Header().Values("Audit-ID"), ours.Header().Values("Audit-ID"), "sent %q, preset %q", sent, preset)
		}
	}
}

func TestGoawayMatchesKubernetes(t *testing.T) {
	for _, major := range []int{1, 2} {
		r := httptest.NewRequest(http.MethodGet, "/apis/g/v1/things", nil)
		r.ProtoMajor, r.Proto = major, fmt.Sprintf("HTTP/%d.0", major)
		theirs := serve(genericfilters.WithProbabilisticGoaway(ok, 1), r)
		ours := serve(serving.Goaway(1, nil)(ok), r)
		assert.Equal(t, theirs.Header(), ours.Header(), "HTTP/%d", major)
	}
}

// kubernetesTimeout is the generic apiserver's deadline and timeout filters
// with its default long-running check.
func kubernetesTimeout(h http.Handler, max time.Duration) http.Handler {
	lr := genericfilters.BasicLongRunningRequestCheck(sets.NewString("watch"), sets.NewString())
	h = genericfilters.WithTimeoutForNonLongRunningRequests(h, lr)
	h = genericapifilters.WithRequestDeadline(h, nil, nil, lr, scheme.Codecs.WithoutConversion(), max)
	return genericapifilters.WithRequestInfo(h, requestinfo.Resolver{})
}

func TestTimeoutMatchesKubernetes(t *testing.T) {
	const max = 300 * time.Millisecond
	queries := []string{"", "timeout=50ms", "timeout=0s", "timeout=0", "timeout=-1s", "timeout=1h", "timeout=soon",
		"timeout=", "timeout=10", "timeout=1.5s", "tim%65out=40ms", "timeout=40ms&timeout=1h", "timeout=1h&timeout=40ms",
		"timeout=%zz", "watch=true&timeout=soon", "timeout=40ms;x=1", "timeout=40ms%3Bx", "TIMEOUT=40ms"}
	for _, q := range queries {
		t.Run(q, func(t *testing.T) {
			deadlineOf := func(wrap func(http.Handler) http.Handler) (*httptest.ResponseRecorder, time.Duration, bool) {
				var left time.Duration
				var has bool
				rec := serve(wrap(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
					var d time.Time
					d, has = r.Context().Deadline()
					left = time.Until(d)
				})), httptest.NewRequest(http.MethodGet, "/apis/g/v1/things?"+q, nil))
				return rec, left, has
			}
			theirs, theirLeft, theirHas := deadlineOf(func(h http.Handler) http.Handler { return kubernetesTimeout(h, max) })
			ours, ourLeft, ourHas := deadlineOf(serving.Timeout(max, nil, quietLogger))
			require.Equal(t, theirs.Code, ours.Code)
			assert.Equal(t, theirHas, ourHas)
			assert.InDelta(t, theirLeft, ourLeft, float64(30*time.Millisecond))
			if theirs.Code != http.StatusOK {
				assert.Equal(t, status(t, theirs.Body.Bytes()).Message, status(t, ours.Body.Bytes()).Message)
			}
		})
	}
	t.Run("504", func(t *testing.T) {
		slow := http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
		theirs := serve(kubernetesTimeout(slow, 50*time.Millisecond), httptest.NewRequest(http.MethodGet, "/apis/g/v1/things", nil))
		ours := serve(serving.Timeout(50*time.Millisecond, nil, quietLogger)(slow), httptest.NewRequest(http.MethodGet, "/apis/g/v1/things", nil))
		assert.Equal(t, theirs.Code, ours.Code)
		ts, os := status(t, theirs.Body.Bytes()), status(t, ours.Body.Bytes())
		assert.Equal(t, ts.Reason, os.Reason)
		assert.Equal(t, ts.Message, os.Message)
		assert.Equal(t, ts.Code, os.Code)
		assert.Equal(t, "Status", os.Kind, "a full Status, which Kubernetes' lacks")
	})
}
