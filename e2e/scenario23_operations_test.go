package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"

	"github.com/aggauth/aggauth/e2e/cluster"
	"github.com/aggauth/aggauth/e2e/internal/demoapi"
)

// The serving flags of scenario 23's example server.
const (
	scenario23InFlight     = 4     // --max-requests-inflight and --max-mutating-requests-inflight
	scenario23MaxBodyBytes = 65536 // --max-request-body-bytes
)

// TestScenario23Operations runs the example server with
// --max-requests-inflight=4, --max-mutating-requests-inflight=4 and
// --max-request-body-bytes=65536 on a control plane of its own, and checks
// through kube-apiserver what operators of a generic apiserver rely on:
//
//   - after a kubectl create, the server's /metrics counts it in
//     apiserver_request_total with Kubernetes' labels (verb POST, group
//     demo.aggauth.io, version v1, resource widgets, scope resource,
//     component apiserver, code 201), and times it in
//     apiserver_request_duration_seconds;
//   - a body over the limit is answered 413, which kubectl prints as
//     "Error from server (RequestEntityTooLarge): Request entity too large:
//     limit is 65536", and counted with code 413;
//   - one user holds every read-only slot with slow gets (the widget
//     demo-slow waits for its deadline) and floods: its further requests
//     get the 429 Status with Retry-After: 1 through the aggregator, while
//     kubectl as system:masters lists the widgets, the APIService stays
//     Available, and the same user's watch, long-running, streams the event
//     of a widget created meanwhile; the server counts the 429s in
//     apiserver_request_terminations_total and the watch in
//     apiserver_longrunning_requests.
func TestScenario23Operations(t *testing.T) {
	e := newEnvOf(t, "nethttp", "--max-requests-inflight="+strconv.Itoa(scenario23InFlight),
		"--max-mutating-requests-inflight="+strconv.Itoa(scenario23InFlight),
		"--max-request-body-bytes="+strconv.Itoa(scenario23MaxBodyBytes), "--request-timeout=40s")
	ctx := testContext(t)
	c := e.c
	require.NoError(t, e.srv.WaitAvailable(ctx))
	const ns = "scenario23"
	createNamespace(ctx, t, c, ns)
	flo := newUser(t, c, "flo")
	grantWidgets(ctx, t, c, ns, "scenario23-flo", flo.Name, "get", "list", "watch", "create")

	created := map[string]string{"verb": "POST", "dry_run": "", "group": demoapi.Group, "version": demoapi.Version,
		"resource": demoapi.Resource, "subresource": "", "scope": "resource", "component": "apiserver"}
	t.Run("a kubectl create is counted in apiserver_request_total", func(t *testing.T) {
		manifest := writeFile(t, "w1.yaml", demoapi.WidgetYAML(ns, "w1", "blue"))
		out, _ := kubectl(ctx, t, c, flo.Kubeconfig, "create", "-f", manifest)
		assert.Equal(t, "widget.demo.aggauth.io/w1 created\n", out)
		page := metricsPage(ctx, t, e)
		n, ok := sample(page, "apiserver_request_total", with(created, "code", "201"))
		require.True(t, ok, "no apiserver_request_total of the create in:\n%s", grepLines(page, "apiserver_request_total{"))
		assert.Equal(t, 1.0, n)
		n, _ = sample(page, "apiserver_request_duration_seconds_count", created)
		assert.Equal(t, 1.0, n, "the create is timed")
		t.Logf("%s", grepLines(page, `apiserver_request_total{code="201"`))
		// flo's create was authorized by a SubjectAccessReview that
		// kube-apiserver created (201): the delegated authorization metrics
		// count it, among the server's collectors.
		n, _ = sample(page, "apiserver_delegated_authz_request_total", map[string]string{"code": "201"})
		assert.GreaterOrEqual(t, n, 1.0, "SubjectAccessReviews sent: %s", grepLines(page, "apiserver_delegated_authz_request_total"))
		n, _ = sample(page, "apiserver_delegated_authz_request_duration_seconds_count", map[string]string{"code": "201"})
		assert.GreaterOrEqual(t, n, 1.0, "SubjectAccessReviews timed")
	})

	t.Run("a body over the limit is a 413 through kubectl", func(t *testing.T) {
		manifest := writeFile(t, "big.yaml", demoapi.WidgetYAML(ns, "big", strings.Repeat("b", scenario23MaxBodyBytes)))
		errOut := kubectlFails(ctx, t, c, flo.Kubeconfig, "create", "-f", manifest)
		t.Logf("kubectl create -f big.yaml: %s", errOut)
		assert.Equal(t, fmt.Sprintf("Error from server (RequestEntityTooLarge): error when creating %q: Request entity too large: limit is %d",
			manifest, scenario23MaxBodyBytes), errOut)
		n, _ := sample(metricsPage(ctx, t, e), "apiserver_request_total", with(created, "code", "413"))
		assert.Equal(t, 1.0, n)
	})

	t.Run("a flood from one user gets 429 while system:masters is served", func(t *testing.T) {
		floClient, err := rest.HTTPClientFor(flo.Config)
		require.NoError(t, err)
		t.Cleanup(floClient.CloseIdleConnections)
		// flo's slow gets are answered only when refused (429) or released:
		// those sent and not answered hold a slot or are on their way to one.
		// Other requests (the aggregator's availability checks, the metrics
		// scrapes of this test) take a slot for a moment too, and a slow get
		// that comes then is refused: so slow gets are added until as many
		// as the limit are unanswered, and flo's list is sent until it is
		// refused, with all slots held.
		slowCtx, release := context.WithCancel(ctx)
		var wg sync.WaitGroup
		const maxSlow = 8 * scenario23InFlight
		slow := make(chan int, maxSlow)
		sent, refusedSlow := 0, 0
		sendSlow := func() {
			sent++
			wg.Go(func() {
				code, _, _ := floGet(slowCtx, floClient, c.Host()+demoapi.WidgetsPath(ns)+"/"+demoapi.SlowWidget)
				slow <- code
			})
		}
		defer func() {
			release()
			wg.Wait()
		}()
		for range 2 * scenario23InFlight {
			sendSlow()
		}
		var (
			code   int
			header http.Header
			body   string
		)
		eventually(ctx, t, 30*time.Second, "flo's slow gets hold every read-only slot and flo's list is refused", func(ctx context.Context) error {
			for answered := true; answered; {
				select {
				case code := <-slow:
					refusedSlow++
					require.Equal(t, http.StatusTooManyRequests, code, "a slow get is answered only when refused")
				default:
					answered = false
				}
			}
			for sent-refusedSlow < scenario23InFlight && sent < maxSlow {
				sendSlow()
			}
			if refusedSlow == 0 {
				return errors.New("no slow get refused yet")
			}
			code, header, body = floGet(ctx, floClient, c.Host()+demoapi.WidgetsPath(ns))
			if code != http.StatusTooManyRequests {
				return fmt.Errorf("flo's list: %d (%d slow gets sent, %d refused)", code, sent, refusedSlow)
			}
			return nil
		})
		t.Logf("flo's list during the flood: %d Retry-After %q %s (%d slow gets sent, %d refused)",
			code, header.Get("Retry-After"), body, sent, refusedSlow)
		assert.Equal(t, "1", header.Get("Retry-After"))
		assert.Contains(t, body, `"message":"Too many requests, please try again later."`)
		assert.Contains(t, body, `"reason":"TooManyRequests"`)

		out, _ := kubectl(ctx, t, c, c.AdminKubeconfig(), "get", "widgets", "-n", ns, "-o", "name")
		assert.Equal(t, "widget.demo.aggauth.io/w1\n", out, "kubectl as system:masters")
		obj, err := c.Dynamic().Resource(cluster.APIServiceResource).Get(ctx, demoapi.APIServiceName, metav1.GetOptions{})
		require.NoError(t, err)
		status, reason, _ := cluster.APIServiceAvailable(obj)
		assert.Equal(t, "True", status, "the APIService stays Available (%s)", reason)

		// flo's watch is long-running: it takes no slot, and streams.
		w, err := dynamicFor(t, flo).Resource(demoapi.Widgets).Namespace(ns).Watch(ctx, metav1.ListOptions{})
		require.NoError(t, err, "flo's watch during the flood")
		defer w.Stop()
		n, _ := sample(metricsPage(ctx, t, e), "apiserver_longrunning_requests", map[string]string{"verb": "WATCH",
			"group": demoapi.Group, "resource": demoapi.Resource, "scope": "namespace"})
		assert.Equal(t, 1.0, n, "the watch in apiserver_longrunning_requests")
		_, err = c.Dynamic().Resource(demoapi.Widgets).Namespace(ns).Create(ctx, demoapi.Widget(ns, "w2", "green"), metav1.CreateOptions{})
		require.NoError(t, err, "the administrator creates w2")
		awaitAdded(t, w, "w2")

		page := metricsPage(ctx, t, e)
		var refused float64
		for _, line := range strings.Split(grepLines(page, "apiserver_request_terminations_total{"), "\n") {
			if strings.Contains(line, `code="429"`) {
				f := strings.Fields(line)
				v, _ := strconv.ParseFloat(f[len(f)-1], 64)
				refused += v
			}
		}
		assert.GreaterOrEqual(t, refused, float64(refusedSlow+1), "the 429s in apiserver_request_terminations_total")
		t.Logf("%s", grepLines(page, "apiserver_request_terminations_total{"))
	})
}

// floGet sends a GET through kube-apiserver with client, without retries,
// and returns the answer.
func floGet(ctx context.Context, client *http.Client, url string) (int, http.Header, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, nil, err.Error()
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return resp.StatusCode, resp.Header, strings.TrimSpace(string(body))
}

// awaitAdded waits for the ADDED event of the widget name on w.
func awaitAdded(t *testing.T, w watch.Interface, name string) {
	t.Helper()
	timeout := time.After(watchTimeout)
	for {
		select {
		case ev, ok := <-w.ResultChan():
			require.True(t, ok, "the watch ended before the event of %s", name)
			if m, err := meta.Accessor(ev.Object); err == nil && ev.Type == watch.Added && m.GetName() == name {
				return
			}
		case <-timeout:
			t.Fatalf("no ADDED event of %s within %s", name, watchTimeout)
		}
	}
}

// metricsPage returns the example server's /metrics, fetched straight from it
// through the front proxy as system:masters (exempt from the in-flight
// limits).
func metricsPage(ctx context.Context, t *testing.T, e *env) string {
	t.Helper()
	client := e.srv.ProxyClient()
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL()+"/metrics", nil)
	require.NoError(t, err)
	req.Header.Set("X-Remote-User", demoapi.MetricsUser)
	req.Header.Set("X-Remote-Group", demoapi.MetricsGroup)
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	return string(body)
}

// sampleLine is a line of Prometheus' text format: name{labels} value.
var sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\} (\S+)$`)

// sample returns the value of the series of name that has (at least) the
// labels, from a /metrics page.
func sample(page, name string, labels map[string]string) (float64, bool) {
	for sc := bufio.NewScanner(strings.NewReader(page)); sc.Scan(); {
		m := sampleLine.FindStringSubmatch(sc.Text())
		if m == nil || m[1] != name {
			continue
		}
		matches := true
		for k, v := range labels {
			if !strings.Contains(","+m[2]+",", ","+k+"="+strconv.Quote(v)+",") {
				matches = false
				break
			}
		}
		if matches {
			v, err := strconv.ParseFloat(m[3], 64)
			return v, err == nil
		}
	}
	return 0, false
}

// with returns labels with k=v added.
func with(labels map[string]string, k, v string) map[string]string {
	out := map[string]string{k: v}
	for key, val := range labels {
		out[key] = val
	}
	return out
}

// grepLines returns the lines of page that contain s.
func grepLines(page, s string) string {
	var out []string
	for _, line := range strings.Split(page, "\n") {
		if strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
