package authz_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/aggauth/aggauth/authz"
	"github.com/aggauth/aggauth/internal/fakekube"
	"github.com/aggauth/aggauth/status"
)

var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func newTestAuthorizer(t testing.TB, srv *fakekube.Server, opts authz.Options) *authz.Authorizer {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	opts.Client = sarClient(t, srv)
	a, err := authz.New(opts)
	require.NoError(t, err)
	return a
}

// podAttrs are the attributes of "get pods/<name> in <ns>" by alice.
func podAttrs(ns, name string) authorizer.AttributesRecord {
	return authorizer.AttributesRecord{
		User:      &user.DefaultInfo{Name: "alice", UID: "u1", Groups: []string{"dev", "system:authenticated"}},
		Verb:      "get",
		Namespace: ns, APIVersion: "v1", Resource: "pods", Name: name,
		ResourceRequest: true,
		Path:            "/api/v1/namespaces/" + ns + "/pods/" + name,
	}
}

// metricValue gathers the authorizer's collectors through a registry and
// returns the value of the counter (or sample count of the histogram) name.
func metricValue(t testing.TB, a *authz.Authorizer, name string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(a.Collectors()...)
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		m := f.GetMetric()[0]
		if h := m.GetHistogram(); h != nil {
			return float64(h.GetSampleCount())
		}
		return m.GetCounter().GetValue()
	}
	t.Fatalf("metric %s not found", name)
	return 0
}

func TestAuthorizeDecisions(t *testing.T) {
	tests := []struct {
		name       string
		status     authorizationv1.SubjectAccessReviewStatus
		want       authorizer.Decision
		wantReason string
		wantErr    bool
	}{
		{name: "allowed", status: authorizationv1.SubjectAccessReviewStatus{Allowed: true, Reason: "rbac"}, want: authorizer.DecisionAllow, wantReason: "rbac"},
		{name: "denied", status: authorizationv1.SubjectAccessReviewStatus{Denied: true, Reason: "no"}, want: authorizer.DecisionDeny, wantReason: "no"},
		{name: "no opinion", status: authorizationv1.SubjectAccessReviewStatus{Reason: "nobody"}, want: authorizer.DecisionNoOpinion, wantReason: "nobody"},
		{name: "allowed and denied", status: authorizationv1.SubjectAccessReviewStatus{Allowed: true, Denied: true}, want: authorizer.DecisionDeny, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newSARServer(t, func(authorizationv1.SubjectAccessReviewSpec) (authorizationv1.SubjectAccessReviewStatus, error) {
				return tt.status, nil
			})
			a := newTestAuthorizer(t, srv, authz.Options{})
			for i := 0; i < 2; i++ { // the second answer comes from the cache
				d, reason, err := a.Authorize(context.Background(), podAttrs("ns", "p"))
				assert.Equal(t, tt.want, d)
				assert.Equal(t, tt.wantReason, reason)
				assert.Equal(t, tt.wantErr, err != nil, "err = %v", err)
			}
			assert.Equal(t, int64(1), srv.SARCounts().Received)
		})
	}
}

func TestCacheHit(t *testing.T) {
	srv := newSARServer(t, allowAll)
	a := newTestAuthorizer(t, srv, authz.Options{})
	for i := 0; i < 5; i++ {
		d, _, err := a.Authorize(context.Background(), podAttrs("ns", "p"))
		require.NoError(t, err)
		require.Equal(t, authorizer.DecisionAllow, d)
	}
	assert.Equal(t, int64(1), srv.SARCounts().Received)
	assert.Equal(t, uint64(1), a.ReviewsSent())
	assert.Equal(t, 4.0, metricValue(t, a, "aggauth_authz_cache_hits_total"))
	assert.Equal(t, 1.0, metricValue(t, a, "aggauth_authz_cache_misses_total"))
	assert.Equal(t, 1.0, metricValue(t, a, "aggauth_authz_sar_duration_seconds"))
}

// TestCacheExpiry checks that allows and denials expire after their own TTLs,
// on an injected clock.
func TestCacheExpiry(t *testing.T) {
	srv := newSARServer(t, func(spec authorizationv1.SubjectAccessReviewSpec) (authorizationv1.SubjectAccessReviewStatus, error) {
		if spec.ResourceAttributes.Name == "allowed" {
			return authorizationv1.SubjectAccessReviewStatus{Allowed: true}, nil
		}
		return authorizationv1.SubjectAccessReviewStatus{Reason: "no opinion"}, nil
	})
	clk := testingclock.NewFakeClock(epoch)
	a := newTestAuthorizer(t, srv, authz.Options{AllowTTL: 10 * time.Second, DenyTTL: 2 * time.Second, Clock: clk})
	sarsAfter := func(name string) int64 {
		_, _, err := a.Authorize(context.Background(), podAttrs("ns", name))
		require.NoError(t, err)
		return srv.SARCounts().Received
	}
	require.Equal(t, int64(1), sarsAfter("allowed"))
	require.Equal(t, int64(2), sarsAfter("denied"))

	clk.Step(1999 * time.Millisecond) // both still fresh
	require.Equal(t, int64(2), sarsAfter("allowed"))
	require.Equal(t, int64(2), sarsAfter("denied"))

	clk.Step(time.Millisecond) // the no-opinion expires at the deny TTL, the allow does not
	require.Equal(t, int64(3), sarsAfter("denied"))
	require.Equal(t, int64(3), sarsAfter("allowed"))

	clk.Step(8 * time.Second) // the allow expires at 10 s
	require.Equal(t, int64(4), sarsAfter("allowed"))
}

func TestNegativeTTLDisablesCaching(t *testing.T) {
	srv := newSARServer(t, allowAll)
	a := newTestAuthorizer(t, srv, authz.Options{AllowTTL: -1})
	for i := 0; i < 3; i++ {
		_, _, err := a.Authorize(context.Background(), podAttrs("ns", "p"))
		require.NoError(t, err)
	}
	assert.Equal(t, int64(3), srv.SARCounts().Received)
}

func TestErrorsAreNotCached(t *testing.T) {
	srv := newSARServer(t, func(authorizationv1.SubjectAccessReviewSpec) (authorizationv1.SubjectAccessReviewStatus, error) {
		return authorizationv1.SubjectAccessReviewStatus{}, statusError(http.StatusForbidden, false)
	})
	a := newTestAuthorizer(t, srv, authz.Options{})
	for i := 1; i <= 2; i++ {
		d, _, err := a.Authorize(context.Background(), podAttrs("ns", "p"))
		require.Error(t, err)
		require.Equal(t, authorizer.DecisionNoOpinion, d)
		require.Equal(t, int64(i), srv.SARCounts().Received)
	}
	assert.Equal(t, 2.0, metricValue(t, a, "aggauth_authz_sar_errors_total"))

	srv.SetAuthorize(allowAll)
	d, _, err := a.Authorize(context.Background(), podAttrs("ns", "p"))
	require.NoError(t, err)
	assert.Equal(t, authorizer.DecisionAllow, d)
}

// TestConcurrentIdenticalMissesShareOneSAR sends 1,000 identical requests at
// once against an empty cache: kube-apiserver must see exactly one review.
func TestConcurrentIdenticalMissesShareOneSAR(t *testing.T) {
	srv := newSARServer(t, allowAll)
	release := srv.Hold()
	a := newTestAuthorizer(t, srv, authz.Options{})

	const n = 1000
	var wg sync.WaitGroup
	decisions := make([]authorizer.Decision, n)
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			decisions[i], _, errs[i] = a.Authorize(context.Background(), podAttrs("ns", "p"))
		}()
	}
	// Hold the single review until every request has missed the cache.
	require.Eventually(t, func() bool { return metricValue(t, a, "aggauth_authz_cache_misses_total") == n },
		30*time.Second, time.Millisecond)
	release()
	wg.Wait()

	for i := 0; i < n; i++ {
		require.NoError(t, errs[i])
		require.Equal(t, authorizer.DecisionAllow, decisions[i])
	}
	assert.Equal(t, int64(1), srv.SARCounts().Received)
	assert.Equal(t, uint64(1), a.ReviewsSent())
}

func TestDistinctRequestsSendDistinctSARs(t *testing.T) {
	srv := newSARServer(t, allowAll)
	release := srv.Hold()
	a := newTestAuthorizer(t, srv, authz.Options{})
	const n = 50
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d, _, err := a.Authorize(context.Background(), podAttrs("ns", fmt.Sprintf("pod-%d", i)))
			assert.NoError(t, err)
			assert.Equal(t, authorizer.DecisionAllow, d)
		}()
	}
	require.Eventually(t, func() bool { return srv.SARCounts().Received == n }, 30*time.Second, time.Millisecond)
	release()
	wg.Wait()
	names := map[string]bool{}
	for _, r := range srv.Reviews() {
		names[r.Spec.ResourceAttributes.Name] = true
	}
	assert.Len(t, names, n)
	assert.Equal(t, 0.0, metricValue(t, a, "aggauth_authz_coalesced_waits_total"))
}

// TestCancelledRequestDoesNotFailOthers cancels one of two requests waiting for
// the same review: it returns at once, and the other still gets the answer.
func TestCancelledRequestDoesNotFailOthers(t *testing.T) {
	srv := newSARServer(t, allowAll)
	release := srv.Hold()
	a := newTestAuthorizer(t, srv, authz.Options{})
	var waiting sync.WaitGroup
	waiting.Add(2)
	authz.SetOnWait(a, waiting.Done)

	ctx, cancel := context.WithCancel(context.Background())
	cancelled := make(chan error, 1)
	go func() {
		_, _, err := a.Authorize(ctx, podAttrs("ns", "p"))
		cancelled <- err
	}()
	other := make(chan authorizer.Decision, 1)
	go func() {
		d, _, _ := a.Authorize(context.Background(), podAttrs("ns", "p"))
		other <- d
	}()
	waiting.Wait() // both wait for the one review

	cancel()
	err := <-cancelled // returns while the review is still held
	require.ErrorIs(t, err, context.Canceled)

	release()
	assert.Equal(t, authorizer.DecisionAllow, <-other)
	assert.Equal(t, int64(1), srv.SARCounts().Received)
	assert.Equal(t, 1.0, metricValue(t, a, "aggauth_authz_coalesced_waits_total"))
}

// TestAbandonedReviewIsCancelled: when every request waiting for a review has
// gone, the review itself stops (kube-apiserver sees its request cancelled)
// and nothing of it remains in flight.
func TestAbandonedReviewIsCancelled(t *testing.T) {
	srv := newSARServer(t, allowAll)
	release := srv.Hold()
	a := newTestAuthorizer(t, srv, authz.Options{})
	var waiting sync.WaitGroup
	authz.SetOnWait(a, waiting.Done)
	var wg sync.WaitGroup
	cancels := make([]context.CancelFunc, 3)
	for i := range cancels {
		ctx, cancel := context.WithCancel(context.Background())
		cancels[i] = cancel
		waiting.Add(1)
		wg.Go(func() {
			_, _, err := a.Authorize(ctx, podAttrs("ns", "p"))
			assert.ErrorIs(t, err, context.Canceled)
		})
	}
	waiting.Wait()
	require.Eventually(t, func() bool { return srv.SARCounts().Received == 1 }, 10*time.Second, time.Millisecond)
	cancels[0]()
	cancels[1]()
	time.Sleep(20 * time.Millisecond)
	assert.Zero(t, srv.SARCounts().Cancelled, "a waiter remains: the review goes on")
	cancels[2]()
	wg.Wait()
	require.Eventually(t, func() bool { return srv.SARCounts().Cancelled == 1 && a.InFlight() == 0 }, 10*time.Second, time.Millisecond,
		"the abandoned review was not cancelled")
	assert.Equal(t, 0.0, metricValue(t, a, "aggauth_authz_sar_errors_total"), "an abandoned review is no failure")

	// The next request for the same key starts a review of its own.
	authz.SetOnWait(a, nil)
	release() // nothing is held any more: the review was cancelled
	d, _, err := a.Authorize(context.Background(), podAttrs("ns", "p"))
	require.NoError(t, err)
	assert.Equal(t, authorizer.DecisionAllow, d)
}

func TestOversizedAttributesAreNotCached(t *testing.T) {
	srv := newSARServer(t, allowAll)
	a := newTestAuthorizer(t, srv, authz.Options{MaxAttributeBytes: 100})
	small, big := podAttrs("ns", "p"), podAttrs("ns", string(make([]byte, 100)))
	for i := 0; i < 2; i++ {
		for _, attrs := range []authorizer.AttributesRecord{small, big} {
			_, _, err := a.Authorize(context.Background(), attrs)
			require.NoError(t, err)
		}
	}
	assert.Equal(t, int64(3), srv.SARCounts().Received) // small once, big twice
}

// TestMaxInFlight: beyond a user's bound a miss waits its turn in the user's
// queue; when the queues are full a newcomer takes the place of the newest
// miss of the longest queue; beyond that a miss is refused at once. Joining a
// review in flight is always possible.
func TestMaxInFlight(t *testing.T) {
	srv := newSARServer(t, allowAll)
	release := srv.Hold()
	a := newTestAuthorizer(t, srv, authz.Options{MaxInFlight: 4, MaxInFlightPerUser: 2})
	authz.SetMaxWaiting(a, 4)
	var waiting sync.WaitGroup
	authz.SetOnWait(a, waiting.Done)
	var wg sync.WaitGroup
	start := func(attrs authorizer.AttributesRecord, want error) {
		waiting.Add(1)
		wg.Go(func() {
			d, _, err := a.Authorize(context.Background(), attrs)
			if want != nil {
				assert.ErrorIs(t, err, want, "%s %s", attrs.User.GetName(), attrs.Name)
				return
			}
			assert.NoError(t, err)
			assert.Equal(t, authorizer.DecisionAllow, d)
		})
		waiting.Wait()
	}
	as := func(name string, attrs authorizer.AttributesRecord) authorizer.AttributesRecord {
		attrs.User = &user.DefaultInfo{Name: name}
		return attrs
	}
	start(podAttrs("ns", "p0"), nil)
	start(podAttrs("ns", "p1"), nil)
	start(podAttrs("ns", "p2"), nil)                      // waits: alice has 2 in flight
	start(podAttrs("ns", "p3"), authz.ErrTooManyInFlight) // waits, then loses its place to frank
	_, _, err := a.Authorize(context.Background(), podAttrs("ns", "p4"))
	require.ErrorIs(t, err, authz.ErrTooManyInFlight, "alice's queue holds 2")
	start(podAttrs("ns", "p0"), nil) // joins
	start(as("bob", podAttrs("ns", "p0")), nil)
	start(as("carol", podAttrs("ns", "p0")), nil)
	start(as("dave", podAttrs("ns", "p0")), nil) // waits: 4 in flight
	start(as("erin", podAttrs("ns", "p0")), nil) // waits: the queues are full
	start(as("frank", podAttrs("ns", "p0")), nil)
	_, _, err = a.Authorize(context.Background(), as("grace", podAttrs("ns", "p0")))
	require.ErrorIs(t, err, authz.ErrTooManyInFlight, "no queue is longer than grace's would be")
	release()
	wg.Wait()
	assert.Equal(t, 3.0, metricValue(t, a, "aggauth_authz_too_many_in_flight_total"))
	assert.Equal(t, int64(8), srv.SARCounts().Received)
	authz.SetOnWait(a, nil)
	_, _, err = a.Authorize(context.Background(), as("grace", podAttrs("ns", "p0")))
	require.NoError(t, err, "room again once the reviews ended")
}

// TestCachedKeysOutliveTheirBuffers interleaves requests whose keys have the
// same length (and so reuse the same pooled buffer) but different answers.
func TestCachedKeysOutliveTheirBuffers(t *testing.T) {
	srv := newSARServer(t, func(spec authorizationv1.SubjectAccessReviewSpec) (authorizationv1.SubjectAccessReviewStatus, error) {
		return authorizationv1.SubjectAccessReviewStatus{Allowed: spec.ResourceAttributes.Name == "pod-a"}, nil
	})
	a := newTestAuthorizer(t, srv, authz.Options{})
	for i := 0; i < 3; i++ {
		for name, want := range map[string]authorizer.Decision{"pod-a": authorizer.DecisionAllow, "pod-b": authorizer.DecisionNoOpinion} {
			d, _, err := a.Authorize(context.Background(), podAttrs("ns", name))
			require.NoError(t, err)
			require.Equal(t, want, d, name)
		}
	}
	assert.Equal(t, int64(2), srv.SARCounts().Received)
}

// panickyClient is a SubjectAccessReview client whose transport panics for
// the user "boom".
type panickyClient struct {
	authz.SubjectAccessReviewCreator
}

func (c panickyClient) Create(ctx context.Context, sar *authorizationv1.SubjectAccessReview, opts metav1.CreateOptions) (*authorizationv1.SubjectAccessReview, error) {
	if sar.Spec.User == "boom" {
		panic("transport exploded")
	}
	return c.SubjectAccessReviewCreator.Create(ctx, sar, opts)
}

// TestReviewPanic: a client that panics fails the requests waiting for that
// review with ErrReviewPanicked (the middleware answers 500); the panic is
// logged, and the authorizer goes on serving.
func TestReviewPanic(t *testing.T) {
	srv := newSARServer(t, allowAll)
	var logBuf bytes.Buffer // written on the review's goroutine before Authorize returns
	a, err := authz.New(authz.Options{Client: panickyClient{sarClient(t, srv)}, Logger: slog.New(slog.NewTextHandler(&logBuf, nil))})
	require.NoError(t, err)
	boom := podAttrs("ns", "p")
	boom.User = &user.DefaultInfo{Name: "boom"}
	d, _, err := a.Authorize(context.Background(), boom)
	assert.Equal(t, authorizer.DecisionNoOpinion, d)
	require.ErrorIs(t, err, authz.ErrReviewPanicked)
	assert.Contains(t, logBuf.String(), "transport exploded")
	d, _, err = a.Authorize(context.Background(), podAttrs("ns", "p"))
	require.NoError(t, err)
	assert.Equal(t, authorizer.DecisionAllow, d)
	assert.Equal(t, 0, a.InFlight())
}

// TestRefusalsCarryTheirStatus: the refusals of Authorize carry the Status
// the middleware answers (status.Refusal).
func TestRefusalsCarryTheirStatus(t *testing.T) {
	srv := newSARServer(t, allowAll)
	release := srv.Hold()
	defer release()
	a := newTestAuthorizer(t, srv, authz.Options{MaxInFlight: 1, MaxInFlightPerUser: 1})
	authz.SetMaxWaiting(a, 1)
	waiting := make(chan struct{}, 2)
	authz.SetOnWait(a, func() { waiting <- struct{}{} })
	bob := podAttrs("ns", "waiting")
	bob.User = &user.DefaultInfo{Name: "bob"}
	go func() { _, _, _ = a.Authorize(context.Background(), podAttrs("ns", "held")) }()
	<-waiting
	go func() { _, _, _ = a.Authorize(context.Background(), bob) }()
	<-waiting
	carol := podAttrs("ns", "refused")
	carol.User = &user.DefaultInfo{Name: "carol"}
	_, _, err := a.Authorize(context.Background(), carol)
	ref := status.RefusalOf(err)
	require.NotNil(t, ref, "got %v", err)
	assert.ErrorIs(t, err, authz.ErrTooManyInFlight)
	assert.Equal(t, int32(429), ref.Status.ErrStatus.Code)
	assert.Equal(t, "too many requests are waiting for their authorization check; retry later", ref.Status.ErrStatus.Message)
}
