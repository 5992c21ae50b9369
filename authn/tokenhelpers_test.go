package authn_test

import (
	"context"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/aggauth/aggauth/authn"
)

// memReviewer answers TokenReviews in memory, counting them and recording
// their specs. With a gate, every answer waits until the gate is closed or
// the review's context ends.
type memReviewer struct {
	mu     sync.Mutex
	answer func(authenticationv1.TokenReviewSpec) (authenticationv1.TokenReviewStatus, error)
	gate   chan struct{}
	specs  []authenticationv1.TokenReviewSpec

	count, cancelled atomic.Int64
}

func newMemReviewer(answer func(authenticationv1.TokenReviewSpec) (authenticationv1.TokenReviewStatus, error)) *memReviewer {
	return &memReviewer{answer: answer}
}

func (m *memReviewer) Create(ctx context.Context, tr *authenticationv1.TokenReview, _ metav1.CreateOptions) (*authenticationv1.TokenReview, error) {
	m.count.Add(1)
	m.mu.Lock()
	m.specs = append(m.specs, tr.Spec)
	gate, answer := m.gate, m.answer
	m.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			m.cancelled.Add(1)
			return nil, ctx.Err()
		}
	}
	st, err := answer(tr.Spec)
	if err != nil {
		return nil, err
	}
	out := tr.DeepCopy()
	out.Status = st
	return out, nil
}

// hold makes every answer wait until the returned function is called (or
// the test ends).
func (m *memReviewer) hold(t testing.TB) (release func()) {
	gate := make(chan struct{})
	m.mu.Lock()
	m.gate = gate
	m.mu.Unlock()
	var once sync.Once
	release = func() {
		once.Do(func() {
			close(gate)
			m.mu.Lock()
			m.gate = nil
			m.mu.Unlock()
		})
	}
	t.Cleanup(release)
	return release
}

func (m *memReviewer) received() []authenticationv1.TokenReviewSpec {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]authenticationv1.TokenReviewSpec(nil), m.specs...)
}

// knownTokens authenticates "good-*" tokens as user alice and refuses the
// others without an error.
func knownTokens(spec authenticationv1.TokenReviewSpec) (authenticationv1.TokenReviewStatus, error) {
	if len(spec.Token) > 5 && spec.Token[:5] == "good-" {
		return authenticationv1.TokenReviewStatus{Authenticated: true, Audiences: spec.Audiences,
			User: authenticationv1.UserInfo{Username: "alice", UID: "uid-a", Groups: []string{"devs"},
				Extra: map[string]authenticationv1.ExtraValue{"scopes": {"read"}}}}, nil
	}
	return authenticationv1.TokenReviewStatus{}, nil
}

// fastBackoff retries at once, attempts times.
func fastBackoff(attempts int) wait.Backoff {
	return wait.Backoff{Duration: time.Microsecond, Factor: 1, Steps: attempts}
}

func newToken(t testing.TB, client authn.TokenReviewCreator, opts authn.TokenOptions) *authn.Token {
	t.Helper()
	opts.Client = client
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.RetryBackoff == (wait.Backoff{}) {
		opts.RetryBackoff = fastBackoff(3)
	}
	tok, err := authn.NewToken(opts)
	require.NoError(t, err)
	return tok
}

// bearer is a request carrying the Authorization header values given, from
// the client address addr ("" for httptest's default).
func bearer(addr string, authorization ...string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/apis/demo.aggauth.io/v1/widgets", nil)
	if addr != "" {
		r.RemoteAddr = addr
	}
	if len(authorization) > 0 {
		r.Header["Authorization"] = authorization
	}
	return r
}

// gatherValue returns the value of the counter name among collectors, for
// the series whose only label has the value label ("" for an unlabelled
// metric); 0 when there is none.
func gatherValue(t testing.TB, collectors []prometheus.Collector, name, label string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	for _, c := range collectors {
		require.NoError(t, reg.Register(c))
	}
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) == 0 && label == "" || len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == label {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// jwtToken is an unsigned JWT carrying claims (a JSON object).
func jwtToken(claims string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256","kid":"test"}`)) + "." + enc([]byte(claims)) + "." + enc([]byte("not a signature"))
}
