package serving_test

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/authentication/user"
	genericapifilters "k8s.io/apiserver/pkg/endpoints/filters"
	"k8s.io/apiserver/pkg/endpoints/request"
	genericfilters "k8s.io/apiserver/pkg/server/filters"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"

	"github.com/aggauth/aggauth/pipeline"
	"github.com/aggauth/aggauth/requestinfo"
)

// testAuthn authenticates the user of the headers X-Test-User and
// X-Test-Group, in the place of the chain's authentication step.
type testAuthn struct{}

func (testAuthn) StepKind() pipeline.Kind { return pipeline.KindAuthentication }

func (testAuthn) Serve(_ http.ResponseWriter, r *http.Request, s *pipeline.State) *http.Request {
	if u := userOf(r); u != nil {
		s.SetUser(u)
	}
	return r
}

func userOf(r *http.Request) user.Info {
	if name := r.Header.Get("X-Test-User"); name != "" {
		return &user.DefaultInfo{Name: name, Groups: r.Header.Values("X-Test-Group")}
	}
	return nil
}

// testAuthz counts the requests that reach authorization.
type testAuthz struct{ seen *atomic.Int64 }

func (testAuthz) StepKind() pipeline.Kind { return pipeline.KindAuthorization }

func (a testAuthz) Serve(_ http.ResponseWriter, r *http.Request, _ *pipeline.State) *http.Request {
	a.seen.Add(1)
	return r
}

// holding answers "ok", after release is closed for a path ending in
// /block; held counts the requests waiting.
type holding struct {
	release chan struct{}
	held    atomic.Int64
}

func (b *holding) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, "/block") {
		b.held.Add(1)
		defer b.held.Add(-1)
		<-b.release
	}
	_, _ = io.WriteString(w, "ok")
}

// kubernetesMaxInFlight is Kubernetes' in-flight limit behind its
// RequestInfo filter, with the user of the test headers.
func kubernetesMaxInFlight(h http.Handler, readOnly, mutating int) http.Handler {
	lr := genericfilters.BasicLongRunningRequestCheck(sets.NewString("watch"), sets.NewString())
	h = genericfilters.WithMaxInFlightLimit(h, readOnly, mutating, lr)
	authn := h
	h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u := userOf(r); u != nil {
			r = r.WithContext(request.WithUser(r.Context(), u))
		}
		authn.ServeHTTP(w, r)
	})
	return genericapifilters.WithRequestInfo(h, requestinfo.Resolver{})
}

// answer is what a probe got.
type answer struct {
	code       int
	retryAfter string
	message    string // the Status's message, or the text
}

func probe(t *testing.T, c *http.Client, method, url string, groups ...string) answer {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	req.Header.Set("X-Test-User", "bob")
	for _, g := range groups {
		req.Header.Add("X-Test-Group", g)
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	body := readAll(t, resp)
	a := answer{code: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"), message: strings.TrimSpace(string(body))}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		a.message = status(t, body).Message
	}
	return a
}

// background sends a request as bob from a goroutine of its own, and reads
// its answer, whatever it is.
func background(c *http.Client, method, url string) {
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		return
	}
	req.Header.Set("X-Test-User", "bob")
	if resp, err := c.Do(req); err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
}

// TestInflightMatchesKubernetes holds every slot of a server with 2
// read-only and 1 mutating slots, and of Kubernetes' filter with the same
// limits, and sends each the same requests: the same answers, but that ours
// is a Status. system:masters and watches pass; a refused request never
// reaches authorization.
func TestInflightMatchesKubernetes(t *testing.T) {
	const things = "/apis/g/v1/namespaces/ns/things"
	ourHandler, theirHandler := &holding{release: make(chan struct{})}, &holding{release: make(chan struct{})}
	var authorized atomic.Int64
	opts := testOptions(t)
	opts.MaxRequestsInFlight, opts.MaxMutatingRequestsInFlight = 2, 1
	opts.Resources = declared
	ours := start(t, opts, pipeline.New(ourHandler, testAuthn{}, testAuthz{&authorized}))
	reg := prometheus.NewRegistry()
	reg.MustRegister(ours.Collectors()...)
	theirs := httptest.NewUnstartedServer(kubernetesMaxInFlight(theirHandler, 2, 1))
	theirs.EnableHTTP2 = true
	theirs.StartTLS()
	t.Cleanup(theirs.Close)
	c := client(t, false)

	for _, impl := range []struct {
		name string
		url  string
		h    *holding
		c    *http.Client
	}{{"aggauth", ours.url, ourHandler, c}, {"kubernetes", theirs.URL, theirHandler, theirs.Client()}} {
		var wg sync.WaitGroup
		for _, method := range []string{http.MethodGet, http.MethodGet, http.MethodPost} {
			wg.Go(func() { background(impl.c, method, impl.url+things+"/block") })
		}
		require.Eventually(t, func() bool { return impl.h.held.Load() == 3 }, 10*time.Second, time.Millisecond, impl.name)
		t.Cleanup(func() {
			close(impl.h.release)
			wg.Wait()
		})
	}
	before := authorized.Load()
	for _, tc := range []struct {
		name, method, path string
		groups             []string
		want               int
	}{
		{"a read beyond the limit", http.MethodGet, things + "/x", nil, http.StatusTooManyRequests},
		{"a list beyond the limit", http.MethodGet, things, nil, http.StatusTooManyRequests},
		{"a create beyond the limit", http.MethodPost, things, nil, http.StatusTooManyRequests},
		{"a delete beyond the limit", http.MethodDelete, things + "/x", nil, http.StatusTooManyRequests},
		{"system:masters reads", http.MethodGet, things + "/x", []string{"system:authenticated", user.SystemPrivilegedGroup}, http.StatusOK},
		{"system:masters creates", http.MethodPost, things, []string{user.SystemPrivilegedGroup}, http.StatusOK},
		{"another group does not pass", http.MethodGet, things, []string{"system:authenticated"}, http.StatusTooManyRequests},
		{"a watch is long-running", http.MethodGet, things + "?watch=true", nil, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := probe(t, c, tc.method, ours.url+tc.path, tc.groups...)
			want := probe(t, theirs.Client(), tc.method, theirs.URL+tc.path, tc.groups...)
			assert.Equal(t, tc.want, want.code, "Kubernetes")
			assert.Equal(t, want, got)
		})
	}
	assert.Equal(t, int64(3), authorized.Load()-before, "only the requests let through are authorized")
	got := samples(t, reg)
	assert.Equal(t, 2.0, got.values[`apiserver_current_inflight_requests{request_kind="readOnly"}`])
	assert.Equal(t, 1.0, got.values[`apiserver_current_inflight_requests{request_kind="mutating"}`])
	var terminated float64
	for k, v := range got.values {
		if strings.HasPrefix(k, "apiserver_request_terminations_total{") && strings.Contains(k, `code="429"`) {
			terminated += v
		}
	}
	assert.Equal(t, 5.0, terminated, "each 429 is a termination")
}

// TestInflightRefusalReadByClientGo: client-go reads our 429 Status and
// Kubernetes' plain text as the same error: TooManyRequests, retry after 1s.
func TestInflightRefusalReadByClientGo(t *testing.T) {
	for name, h := range map[string]func(*holding) (url string, tr *http.Transport){
		"aggauth": func(b *holding) (string, *http.Transport) {
			opts := testOptions(t)
			opts.MaxRequestsInFlight = 1
			r := start(t, opts, pipeline.New(b, testAuthn{}))
			return r.url, &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.roots, ServerName: "localhost"}}
		},
		"kubernetes": func(b *holding) (string, *http.Transport) {
			s := httptest.NewTLSServer(kubernetesMaxInFlight(b, 1, 1))
			t.Cleanup(s.Close)
			return s.URL, s.Client().Transport.(*http.Transport)
		},
	} {
		t.Run(name, func(t *testing.T) {
			b := &holding{release: make(chan struct{})}
			url, tr := h(b)
			go func() {
				resp, err := (&http.Client{Transport: tr}).Get(url + "/apis/g/v1/namespaces/ns/things/block")
				if err == nil {
					_ = resp.Body.Close()
				}
			}()
			require.Eventually(t, func() bool { return b.held.Load() == 1 }, 10*time.Second, time.Millisecond)
			defer close(b.release)
			rc, err := rest.UnversionedRESTClientFor(&rest.Config{Host: url, Transport: tr,
				ContentConfig: rest.ContentConfig{NegotiatedSerializer: scheme.Codecs.WithoutConversion()}})
			require.NoError(t, err)
			err = rc.Get().AbsPath("/apis/g/v1/namespaces/ns/things/x").MaxRetries(0).Do(context.Background()).Error()
			t.Logf("client-go: %v", err)
			assert.True(t, apierrors.IsTooManyRequests(err), "got %v; want TooManyRequests", err)
			delay, ok := apierrors.SuggestsClientDelay(err)
			assert.True(t, ok)
			assert.Equal(t, 1, delay)
		})
	}
}
