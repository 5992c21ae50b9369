package e2e

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"

	"github.com/aggauth/aggauth/e2e/cluster"
	"github.com/aggauth/aggauth/e2e/internal/demoapi"
)

// The serving flags of scenario 15's example server.
const (
	// scenario15RequestTimeout is its --request-timeout: shorter than
	// kubectl's, so that the server's own timeout fires first.
	scenario15RequestTimeout = 3 * time.Second
	// scenario15ShutdownDelay is its --shutdown-delay-duration.
	scenario15ShutdownDelay = 5 * time.Second
)

// TestScenario15TimeoutAndRollingRestart runs the example server with
// --request-timeout=3s, --shutdown-delay-duration=5s and
// --permit-port-sharing, on a control plane of its own.
//
//   - A slow handler (a get of the widget demo-slow, which waits for its
//     context) is answered by the server's Timeout at its 3s: kubectl, with
//     --request-timeout=20s (which it also sends as ?timeout=20s, so that
//     kube-apiserver's own deadline is 20s too), prints "Error from server
//     (Timeout): Timeout: request did not complete within the allotted
//     timeout" after about 3s.
//   - A rolling restart of the example server on its port (a new process
//     next to the old one; SIGTERM to the old one, which fails /readyz at once,
//     serves for 5s, then drains and exits 0) while client-go workers and a
//     kubectl loop send requests through kube-apiserver without pause: no
//     request is lost, but for a create that crosses the old process's
//     GOAWAY, which kube-apiserver's proxy cannot replay (crossedGoaway;
//     reported, at most one per worker, and created by neither process). A
//     request is lost when its caller gets an error or a
//     non-2xx answer after the retries Kubernetes clients make by themselves
//     (client-go retries a 429 or 5xx that carries Retry-After, up to 10
//     times; Go's HTTP/2 transport, the aggregator's included, replays a
//     request the server did not process after a GOAWAY); the loops make no
//     retries of their own. The attempts answered 429 or 5xx are counted and
//     reported. Each process logs the widgets it creates, in a log of its
//     own: the old one answered creates until its delay ended, the new one
//     from then on.
func TestScenario15TimeoutAndRollingRestart(t *testing.T) {
	e := newEnvOf(t, "nethttp", "--request-timeout="+scenario15RequestTimeout.String(),
		"--shutdown-delay-duration="+scenario15ShutdownDelay.String(), demoapi.PermitPortSharing)
	ctx := testContext(t)
	c := e.c
	require.NoError(t, e.srv.WaitAvailable(ctx))
	const ns = "scenario15"
	createNamespace(ctx, t, c, ns)
	rita := newUser(t, c, "rita")
	grantWidgets(ctx, t, c, ns, "scenario15-rita", rita.Name, "get", "list", "create")

	t.Run("a slow handler gets the server's 504 Timeout Status", func(t *testing.T) {
		start := time.Now()
		errOut := kubectlFails(ctx, t, c, rita.Kubeconfig, "get", "widget", demoapi.SlowWidget, "-n", ns, "--request-timeout=20s")
		took := time.Since(start)
		t.Logf("kubectl get widget %s --request-timeout=20s, after %s: %s", demoapi.SlowWidget, took.Round(time.Millisecond), errOut)
		// The Status is the generic apiserver's, word for word; kube-apiserver
		// would write the same at its own deadline: the time says whose it is.
		assert.Equal(t, "Error from server (Timeout): Timeout: request did not complete within the allotted timeout", errOut)
		assert.GreaterOrEqual(t, took, scenario15RequestTimeout, "not before the server's --request-timeout")
		assert.Less(t, took, 15*time.Second, "the server's timeout, not kubectl's or kube-apiserver's (20s)")
	})

	t.Run("rolling restart: no request lost", func(t *testing.T) {
		testRollingRestart(ctx, t, e, rita, ns)
	})
}

func testRollingRestart(ctx context.Context, t *testing.T, e *env, u *cluster.User, ns string) {
	oldPid := e.srv.Process.Pid()
	load := startLoad(ctx, t, e.c, u, ns)
	time.Sleep(time.Second) // steady load before the restart
	before := load.total.Load()

	r, err := e.srv.RollingRestart(ctx)
	require.NoError(t, err)
	t.Logf("rolling restart: %s", r)
	time.Sleep(2 * time.Second) // and after it
	load.stop()

	t.Logf("requests through kube-apiserver: %s", load)
	assert.NotEqual(t, oldPid, e.srv.Process.Pid(), "a new process serves")
	assert.NoError(t, r.OldExit, "the old process exited 0, after a graceful shutdown")
	assert.Less(t, r.NewReady, scenario15ShutdownDelay, "the new process was ready while the old one still served")
	assert.GreaterOrEqual(t, r.OldExited, scenario15ShutdownDelay, "the old process served for --shutdown-delay-duration")
	assert.Greater(t, load.total.Load()-before, int64(100), "requests were sent during the restart")
	assert.Empty(t, load.lostList(), "lost requests")
	// A create that crossed the GOAWAY is lost by kube-apiserver's proxy, not
	// by the extension (crossedGoaway); each worker has one request at a
	// time, and the aggregator one connection to the old process: at most
	// one create per worker can cross its GOAWAY.
	crossed := load.crossedCreates()
	assert.LessOrEqual(t, len(crossed), loadWorkers, "creates that crossed the GOAWAY")

	// Which process created each widget: each logs its creates, in a log of
	// its own.
	byOld, byNew := createdIn(t, r.Old.LogFile, ns), createdIn(t, r.New.LogFile, ns)
	created := load.createdAt()
	var oldLast, newFirst time.Duration = -time.Hour, time.Hour
	for name, at := range created {
		switch since := at.Sub(r.SIGTERM); {
		case byOld[name] && byNew[name]:
			t.Errorf("widget %s created by both processes", name)
		case byOld[name]:
			oldLast = max(oldLast, since)
		case byNew[name]:
			newFirst = min(newFirst, since)
		default:
			t.Errorf("widget %s created (at t=%s) by neither process", name, since)
		}
	}
	for name, msg := range crossed {
		// The GOAWAY's last stream was before it: neither process took it.
		assert.False(t, byOld[name] || byNew[name], "a create that crossed the GOAWAY was processed: %s", msg)
	}
	t.Logf("%d creates: %d by the old process, the last answered at t=%s; %d by the new one, the first answered at t=%s",
		len(created), len(byOld), oldLast.Round(time.Millisecond), len(byNew), newFirst.Round(time.Millisecond))
	assert.Greater(t, oldLast, scenario15ShutdownDelay-time.Second, "the old process served during its shutdown delay")
	require.NoError(t, e.srv.WaitAvailable(ctx), "the APIService is Available")
}

// createdIn returns the names of the widgets a process's log says it created
// in namespace.
func createdIn(t *testing.T, logFile, namespace string) map[string]bool {
	t.Helper()
	data, err := os.ReadFile(logFile)
	require.NoError(t, err)
	re := regexp.MustCompile(`created widget namespace=` + regexp.QuoteMeta(namespace) + ` name=(\S+)`)
	names := map[string]bool{}
	for _, m := range re.FindAllStringSubmatch(string(data), -1) {
		names[m[1]] = true
	}
	return names
}

// load sends requests through kube-apiserver until stopped: client-go
// workers (list and create widgets, no rate limit) and a kubectl loop (get
// widgets). It counts every request and every attempt answered 429 or 5xx.
type load struct {
	total, kubectl atomic.Int64
	retried        sync.Map   // "<code>" -> *atomic.Int64, attempts client-go may retry
	mu             sync.Mutex // guards lost, crossed and created
	lost           []string
	crossed        map[string]string    // creates that crossed the old process's GOAWAY: name -> error
	created        map[string]time.Time // when each create was answered
	cancel         context.CancelFunc
	wg             sync.WaitGroup
}

const loadWorkers = 4

func startLoad(ctx context.Context, t *testing.T, c *cluster.Cluster, u *cluster.User, ns string) *load {
	t.Helper()
	l := &load{created: map[string]time.Time{}, crossed: map[string]string{}}
	ctx, l.cancel = context.WithCancel(ctx)
	t.Cleanup(l.stop)
	cfg := rest.CopyConfig(u.Config)
	cfg.QPS = -1 // no client-side rate limit
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { return &attempts{rt: rt, l: l} })
	dyn, err := dynamic.NewForConfig(cfg)
	require.NoError(t, err)
	widgets := dyn.Resource(demoapi.Widgets).Namespace(ns)
	for w := range loadWorkers {
		l.wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				rctx, cancel := context.WithTimeout(ctx, time.Minute)
				var err error
				name, what := fmt.Sprintf("load-%d-%d", w, i), "list"
				if i%2 == 1 {
					what = "create " + name
					_, err = widgets.Create(rctx, demoapi.Widget(ns, name, "blue"), metav1.CreateOptions{})
				} else {
					_, err = widgets.List(rctx, metav1.ListOptions{})
				}
				cancel()
				if ctx.Err() != nil {
					return // stopped: a request cut short is not lost
				}
				l.total.Add(1)
				if err != nil {
					msg := fmt.Sprintf("%s: %s: %v", time.Now().Format(time.StampMilli), what, err)
					if i%2 == 1 && crossedGoaway(err) {
						l.cross(name, msg)
					} else {
						l.lose(msg)
					}
				} else if i%2 == 1 {
					l.mu.Lock()
					l.created[name] = time.Now()
					l.mu.Unlock()
				}
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	l.wg.Go(func() {
		for ctx.Err() == nil {
			_, errOut, err := c.Kubectl(ctx, u.Kubeconfig, "get", "widgets", "-n", ns, "-o", "name")
			if ctx.Err() != nil {
				return
			}
			l.total.Add(1)
			l.kubectl.Add(1)
			if err != nil {
				l.lose(fmt.Sprintf("%s: kubectl get widgets: %v: %s", time.Now().Format(time.StampMilli), err, strings.TrimSpace(errOut)))
			}
		}
	})
	return l
}

func (l *load) lose(msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lost = append(l.lost, msg)
}

// cross records the create of the widget name that crossed the old
// process's GOAWAY (crossedGoaway).
func (l *load) cross(name, msg string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.crossed[name] = msg
}

// crossedGoawayCause is what kube-apiserver's proxy answers (503, the error
// as text) when its HTTP/2 transport (golang.org/x/net/http2) cannot replay
// a request the server refused by its GOAWAY: the body was a stream, already
// sent.
var crossedGoawayCause = regexp.MustCompile(`http2: Transport: cannot retry err \[[^\]]*GOAWAY[^\]]*\] after Request\.Body was written`)

// crossedGoaway reports whether err is kube-apiserver's answer to a request
// with a body that crossed the extension's GOAWAY. A graceful HTTP/2
// shutdown by Go's server (net/http's, the generic apiserver's too) sends
// one GOAWAY with the last stream it took, and discards the streams the
// client opened before the GOAWAY reached it (RFC 9113 section 6.8 allows a
// first GOAWAY announcing the shutdown, then the last stream after a round
// trip; Go's server does not send it). Go's HTTP/2 client replays such a
// request only when it can rewind its body: client-go can, kube-apiserver's
// proxy, which streams the caller's body, cannot. A caller may then lose a
// create in the instant of the GOAWAY, behind an aggauth server as behind a
// generic apiserver.
func crossedGoaway(err error) bool {
	var s apierrors.APIStatus
	if !errors.As(err, &s) || s.Status().Code != http.StatusServiceUnavailable || s.Status().Details == nil {
		return false
	}
	for _, c := range s.Status().Details.Causes {
		if c.Type == metav1.CauseTypeUnexpectedServerResponse && crossedGoawayCause.MatchString(c.Message) {
			return true
		}
	}
	return false
}

func (l *load) lostList() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.lost)
}

func (l *load) crossedCreates() map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.crossed)
}

func (l *load) createdAt() map[string]time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.created)
}

func (l *load) stop() {
	l.cancel()
	l.wg.Wait()
}

func (l *load) String() string {
	var retried []string
	l.retried.Range(func(k, v any) bool {
		retried = append(retried, fmt.Sprintf("%s: %d", k, v.(*atomic.Int64).Load()))
		return true
	})
	slices.Sort(retried)
	l.mu.Lock()
	lost, crossed := len(l.lost), slices.Sorted(maps.Values(l.crossed))
	l.mu.Unlock()
	return fmt.Sprintf("%d requests (%d by kubectl), %d lost, %d creates crossed the GOAWAY %q; attempts answered 429 or 5xx (client-go retries those with Retry-After): %v",
		l.total.Load(), l.kubectl.Load(), lost, len(crossed), crossed, retried)
}

// attempts counts the client-go workers' attempts answered 429 or 5xx.
type attempts struct {
	rt http.RoundTripper
	l  *load
}

func (a *attempts) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := a.rt.RoundTrip(req)
	if err == nil && (resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500) {
		key := strconv.Itoa(resp.StatusCode)
		if resp.Header.Get("Retry-After") != "" {
			key += " with Retry-After"
		}
		v, _ := a.l.retried.LoadOrStore(key, new(atomic.Int64))
		v.(*atomic.Int64).Add(1)
	}
	return resp, err
}
