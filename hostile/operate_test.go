//go:build hostile

package hostile

// The operational bounds of the serving package under attack, over real TLS
// through serving.New and the chain: the in-flight limit, whose flood must
// not starve the health endpoints, the aggregator's availability probe or a
// system:masters request, and the request metrics, whose series no client
// can multiply. Kubernetes' own filters (WithMaxInFlightLimit, its request
// metrics) are the control.

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/apis/apiserver"
	"k8s.io/apiserver/pkg/authentication/authenticatorfactory"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
	"k8s.io/apiserver/pkg/endpoints/filters"
	epmetrics "k8s.io/apiserver/pkg/endpoints/metrics"
	genericfilters "k8s.io/apiserver/pkg/server/filters"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/component-base/metrics/legacyregistry"

	"github.com/aggauth/aggauth/authn"
	"github.com/aggauth/aggauth/middleware"
	"github.com/aggauth/aggauth/serving"
)

const (
	widgetsGroupVersion = "/apis/widgets.example.com/v1"
	slowPath            = resourcePath + "/slow" // held by the handler for slowFor
	slowFor             = 300 * time.Millisecond
)

// tlsSource hands serving the suite's serving certificate and CAs.
type tlsSource struct{ t testing.TB }

func (s tlsSource) TLSConfig(string, string) (*tls.Config, error) {
	p := thePKI()
	return serving.TLSConfig(serving.TLSOptions{Certificate: &p.serving,
		ClientCAs: []func() []*x509.Certificate{authn.CACertificates(staticCA(s.t, p.proxyCA)), authn.CACertificates(staticCA(s.t, p.clientCA))}})
}

// apiHandler answers "ok", after slowFor for slowPath; inside counts the
// requests it serves at once, and most the highest count.
type apiHandler struct{ inside, most atomic.Int64 }

func (h *apiHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := h.inside.Add(1)
	defer h.inside.Add(-1)
	for m := h.most.Load(); n > m && !h.most.CompareAndSwap(m, n); m = h.most.Load() {
	}
	if r.URL.Path == slowPath {
		select {
		case <-time.After(slowFor):
		case <-r.Context().Done():
		}
	}
	_, _ = w.Write([]byte("ok"))
}

// widgetsDeclared is the API the servers declare: widgets.example.com/v1
// widgets.
func widgetsDeclared(group, version, resource, subresource string) bool {
	return group == "widgets.example.com" && version == "v1" && resource == "widgets" && subresource == ""
}

// servedByServing is aggauth's chain (front proxy and client certificates,
// every authenticated request allowed) in front of h, behind serving.New
// with opts, on loopback; it returns the server's base URL and collectors.
func servedByServing(t *testing.T, opts serving.Options, h http.Handler) (string, []prometheus.Collector) {
	t.Helper()
	union := aggauthUnion(t, thePKI())
	chain, err := middleware.NewChain(middleware.ChainOptions{
		Authentication: middleware.AuthenticationOptions{Authenticator: union, Logger: discard},
		Authorization:  middleware.AuthorizationOptions{Authorizer: authorizerfactory.NewAlwaysAllowAuthorizer()},
	})
	require.NoError(t, err)
	opts.CertDir, opts.Logger, opts.Resources = t.TempDir(), discard, widgetsDeclared
	opts.BindAddress, opts.SecurePort = nil, 0
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	opts.Listener = ln
	srv, err := serving.New(opts, tlsSource{t}, chain.Handler(h))
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		_ = srv.Close()
		<-done
	})
	return "https://" + srv.Addr().String(), srv.Collectors()
}

// kubernetesWithInflight is Kubernetes' filters in DefaultBuildHandlerChain's
// order with the in-flight limit: RequestInfo, authentication (front proxy,
// client certificates, and anonymous, as a generic apiserver enables it so
// that the kubelet's probes pass), the limit, authorization (allow all),
// then h, which also serves the health endpoints, as Kubernetes' mux does.
func kubernetesWithInflight(t *testing.T, h http.Handler, readOnly, mutating int) http.Handler {
	t.Helper()
	p := thePKI()
	rh, clientCA := kubernetesCAs(t, p)
	auth, _, err := authenticatorfactory.DelegatingAuthenticatorConfig{
		Anonymous: &apiserver.AnonymousAuthConfig{Enabled: true}, RequestHeaderConfig: rh, ClientCertificateCAContentProvider: clientCA}.New()
	require.NoError(t, err)
	lr := genericfilters.BasicLongRunningRequestCheck(sets.NewString("watch"), sets.NewString())
	k := filters.WithAuthorization(h, authorizerfactory.NewAlwaysAllowAuthorizer(), scheme.Codecs)
	k = genericfilters.WithMaxInFlightLimit(k, readOnly, mutating, lr)
	k = filters.WithAuthentication(k, auth, filters.Unauthorized(scheme.Codecs), nil, rh)
	return filters.WithRequestInfo(k, resolver)
}

// probeResult is what the probes of one kind got during a flood.
type probeResult struct {
	codes   codeCounts
	slowest atomic.Int64 // nanoseconds
}

func (r *probeResult) record(code int, took time.Duration) {
	r.codes.add(code)
	for s := r.slowest.Load(); int64(took) > s && !r.slowest.CompareAndSwap(s, int64(took)); s = r.slowest.Load() {
	}
}

func (r *probeResult) String() string {
	return fmt.Sprintf("%v, slowest %v", r.codes.String(), time.Duration(r.slowest.Load()).Round(time.Millisecond))
}

// sendAs sends one request as user (groups...) through the front proxy, or
// without a certificate and identity when user is "", and returns its code.
func sendAs(ctx context.Context, c *http.Client, url, user string, groups ...string) int {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0
	}
	if user != "" {
		req.Header.Set("X-Remote-User", user)
	}
	for _, g := range groups {
		req.Header.Add("X-Remote-Group", g)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0
	}
	drain(resp)
	return resp.StatusCode
}

// TestInflightFloodSparesProbesAndMasters: one user, mallory, floods a slow
// path from 64 goroutines over HTTP/2 (each request holds a read-only slot
// for 300 ms; refused ones are sent again at once), against a limit of 16
// read-only requests in flight. Meanwhile the kubelet probes /healthz,
// /livez and /readyz without a certificate, the aggregator probes the API's
// group version as system:kube-aggregator in system:masters, an
// administrator in system:masters reads a widget, and alice (no special
// group) does too: each every 50 ms. With aggauth the probes and the
// administrator are all answered 200, well within a second, and the handler
// never serves more than 16 of mallory's requests at once; alice shares
// mallory's fate, as in Kubernetes, whose filter (the control) also answers
// the unauthenticated health probes 429.
func TestInflightFloodSparesProbesAndMasters(t *testing.T) {
	p := thePKI()
	const limit, flooders, floodFor = 16, 64, 3 * time.Second
	probes := []struct {
		name, path, user string
		groups           []string
	}{
		{"kubelet /healthz", "/healthz", "", nil},
		{"kubelet /livez", "/livez", "", nil},
		{"kubelet /readyz", "/readyz", "", nil},
		{"aggregator availability probe", widgetsGroupVersion, "system:kube-aggregator", []string{"system:masters"}},
		{"system:masters reads a widget", resourcePath + "/w1", "admin", []string{"system:masters", "system:authenticated"}},
		{"alice reads a widget", resourcePath + "/w1", "alice", []string{"system:authenticated"}},
	}
	type outcome struct {
		flood  codeCounts
		probes []*probeResult
		most   int64
	}
	results := map[string]*outcome{}
	for _, impl := range []string{"aggauth", "kubernetes"} {
		h := &apiHandler{}
		var url string
		if impl == "aggauth" {
			opts := serving.Options{MaxRequestsInFlight: limit, MaxMutatingRequestsInFlight: limit}
			url, _ = servedByServing(t, opts, h)
		} else {
			url = serve(t, p, kubernetesWithInflight(t, h, limit, limit)).URL
		}
		proxy := &http.Client{Transport: transport(p, &p.proxy, true)}
		anonymous := &http.Client{Transport: transport(p, nil, true)}
		t.Cleanup(proxy.CloseIdleConnections)
		t.Cleanup(anonymous.CloseIdleConnections)
		o := &outcome{}
		results[impl] = o
		ctx, cancel := context.WithTimeout(context.Background(), floodFor)
		wait := flood(ctx, flooders, func(int) {
			if code := sendAs(ctx, proxy, url+slowPath, "mallory", "system:authenticated"); ctx.Err() == nil {
				o.flood.add(code)
			}
		})
		time.Sleep(200 * time.Millisecond) // the slots are full
		for range probes {
			o.probes = append(o.probes, &probeResult{})
		}
		probeWait := flood(ctx, len(probes), func(i int) {
			c := proxy
			if probes[i].user == "" {
				c = anonymous
			}
			start := time.Now()
			code := sendAs(ctx, c, url+probes[i].path, probes[i].user, probes[i].groups...)
			if ctx.Err() == nil {
				o.probes[i].record(code, time.Since(start))
			}
			time.Sleep(50 * time.Millisecond)
		})
		probeWait()
		wait()
		cancel()
		o.most = h.most.Load()
	}

	for _, impl := range []string{"aggauth", "kubernetes"} {
		o := results[impl]
		t.Logf("%-10s mallory's flood: %v; the handler served at most %d requests at once", impl, o.flood.String(), o.most)
		for i, pr := range probes {
			t.Logf("%-10s %-32s %v", impl, pr.name, o.probes[i])
		}
	}
	ours := results["aggauth"]
	assert.Positive(t, codeCount(&ours.flood, http.StatusTooManyRequests), "mallory is refused beyond the limit")
	assert.LessOrEqual(t, ours.most, int64(limit+len(probes)), "mallory's requests hold at most the limit")
	for i, pr := range probes {
		codes := ours.probes[i]
		if pr.user == "alice" {
			assert.Positive(t, codeCount(&codes.codes, http.StatusTooManyRequests), "alice shares the limit, as in Kubernetes")
			continue
		}
		assert.Equal(t, codes.codes.total(), codeCount(&codes.codes, http.StatusOK), "%s: every probe answered 200: %v", pr.name, codes)
		assert.Positive(t, codes.codes.total(), pr.name)
		assert.Less(t, time.Duration(codes.slowest.Load()), time.Second, "%s answered within a second", pr.name)
	}
	theirs := results["kubernetes"]
	assert.Positive(t, codeCount(&theirs.probes[0].codes, http.StatusTooManyRequests), "the control: Kubernetes refuses /healthz in a flood")
}

func codeCount(c *codeCounts, code int) int64 {
	if n, ok := c.m.Load(code); ok {
		return n.(*atomic.Int64).Load()
	}
	return 0
}

func (c *codeCounts) total() int64 {
	var n int64
	c.m.Range(func(_, v any) bool { n += v.(*atomic.Int64).Load(); return true })
	return n
}

// junkRequest returns the i-th request of the cardinality attack: a path
// never seen before (random groups, versions, resources, namespaces, names,
// subresources, paths that are not resources, the deprecated watch paths),
// among methods, queries (watch, dryRun with junk values) and content types
// that cycle, sent as alice through the front proxy or without credentials.
func junkRequest(i int) (method, path, contentType string, authenticated bool) {
	methods := []string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "FROB" + fmt.Sprint(i%3)}
	queries := []string{"", "watch=true", "dryRun=All", fmt.Sprintf("dryRun=junk%d", i), fmt.Sprintf("watch=%d&x%d=1", i%2, i), "timeout=1s"}
	shapes := []string{
		fmt.Sprintf("/apis/g%d.example.com/v%d/namespaces/ns%d/r%d/n%d", i, i, i, i, i),
		fmt.Sprintf("/apis/widgets.example.com/v1/namespaces/ns%d/widgets/w%d/sub%d", i, i, i),
		fmt.Sprintf("/apis/widgets.example.com/v1/namespaces/ns%d/widgets/w%d", i, i),
		fmt.Sprintf("/api/v%d/watch/namespaces/ns%d/pods", i, i),
		fmt.Sprintf("/junk/%d/%x", i, i*7919),
		fmt.Sprintf("/healthz/check%d", i),
	}
	contentTypes := []string{"", "application/apply-patch+yaml", fmt.Sprintf("application/x-junk-%d", i)}
	path = shapes[i%len(shapes)]
	if q := queries[(i/len(shapes))%len(queries)]; q != "" {
		path += "?" + q
	}
	return methods[i%len(methods)], path, contentTypes[i%len(contentTypes)], i%5 != 0
}

// seriesCount is the number of series the gatherer exposes.
func seriesCount(t *testing.T, g prometheus.Gatherer) int {
	t.Helper()
	families, err := g.Gather()
	require.NoError(t, err)
	n := 0
	for _, f := range families {
		n += len(f.GetMetric())
	}
	return n
}

// TestMetricCardinality: 100,000 requests with distinct junk paths (and
// junk methods, queries and content types), 4 in 5 authenticated (over
// HTTP/2, through the front proxy, each as a user of its own), make no new series
// once the first 10,000 have been sent: aggauth's series are bounded by the
// declared API and fixed sets of values. The control, Kubernetes' in-flight
// filter refusing every request (its one slot held), labels each
// termination of a request that is not for a resource with its path: one
// series per junk path.
func TestMetricCardinality(t *testing.T) {
	p := thePKI()
	const total, warm, workers = 100_000, 10_000, 32
	url, collectors := servedByServing(t, serving.Options{}, &apiHandler{})
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors...)
	proxy := &http.Client{Transport: transport(p, &p.proxy, true)}
	// HTTP/1.1: over HTTP/2, a 401 closes the connection (and its other
	// streams wait for the GOAWAY's end).
	anonymous := &http.Client{Transport: transport(p, nil, false)}
	t.Cleanup(proxy.CloseIdleConnections)
	t.Cleanup(anonymous.CloseIdleConnections)
	var failed atomic.Int64
	send := func(base string) func(i int) {
		return func(i int) {
			method, path, contentType, authenticated := junkRequest(i)
			req, err := http.NewRequest(method, base+path, nil)
			if err != nil {
				failed.Add(1)
				return
			}
			if contentType != "" {
				req.Header.Set("Content-Type", contentType)
			}
			c := anonymous
			if authenticated {
				c = proxy
				req.Header.Set("X-Remote-User", fmt.Sprintf("user-%d", i)) // a user label would show it
			}
			resp, err := c.Do(req)
			if err != nil {
				failed.Add(1)
				return
			}
			drain(resp)
		}
	}
	start := time.Now()
	run(warm, workers, send(url))
	afterWarm := seriesCount(t, reg)
	run(total, workers, func(i int) {
		if i >= warm {
			send(url)(i)
		}
	})
	after := seriesCount(t, reg)
	t.Logf("aggauth:    %d series after %d junk requests, %d after %d (%v; %d transport errors)", afterWarm, warm, after, total,
		time.Since(start).Round(time.Millisecond), failed.Load())
	assert.Equal(t, afterWarm, after, "no new series after the first %d requests", warm)
	assert.Less(t, after, 2000, "a bound that does not depend on the paths")
	assert.Zero(t, failed.Load())

	// The control: Kubernetes' filter with its one slot held refuses every
	// junk request, and records each termination.
	epmetrics.Register()
	epmetrics.Reset()
	release := make(chan struct{})
	hold := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release })
	k := serve(t, p, kubernetesWithInflight(t, hold, 1, 1))
	go func() { _ = sendAs(context.Background(), proxy, k.URL+resourcePath+"/held", "holder") }()
	time.Sleep(100 * time.Millisecond)
	const kubeTotal = 20_000
	run(kubeTotal, workers, func(i int) {
		_, path, _, _ := junkRequest(i)
		if strings.HasPrefix(path, "/junk/") {
			_ = sendAs(context.Background(), proxy, k.URL+path, "mallory")
		}
	})
	close(release)
	kube := seriesCount(t, legacyregistry.DefaultGatherer)
	t.Logf("kubernetes: %d series after %d junk paths that are not resources (its terminations carry the path)", kube, kubeTotal/6)
	assert.Greater(t, kube, kubeTotal/6, "the control grows with the paths")
}
