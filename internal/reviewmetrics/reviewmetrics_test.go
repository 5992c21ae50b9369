package reviewmetrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWrapTransport: each round trip is counted by its answer's code, a
// failed one as "<error>", and each is observed once in the histogram.
func TestWrapTransport(t *testing.T) {
	m := NewAuthz()
	reg := prometheus.NewRegistry()
	reg.MustRegister(m.Collectors()...)
	kube := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/busy" {
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusCreated)
	}))
	defer kube.Close()
	c := &http.Client{Transport: m.WrapTransport(http.DefaultTransport)}
	for _, path := range []string{"/", "/", "/busy"} {
		resp, err := c.Get(kube.URL + path)
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
	_, err := c.Get("http://127.0.0.1:1/unreachable")
	require.Error(t, err)
	m.Record(418, time.Second)

	for code, want := range map[string]float64{"201": 2, "429": 1, "<error>": 1, "418": 1} {
		assert.Equal(t, want, testutil.ToFloat64(m.total.WithLabelValues(code)), "apiserver_delegated_authz_request_total{code=%q}", code)
	}
	assert.Equal(t, 4, testutil.CollectAndCount(m.total), "series")
	families, err := reg.Gather()
	require.NoError(t, err)
	var observed uint64
	for _, f := range families {
		if f.GetName() == "apiserver_delegated_authz_request_duration_seconds" {
			for _, s := range f.GetMetric() {
				observed += s.GetHistogram().GetSampleCount()
			}
		}
	}
	assert.Equal(t, uint64(5), observed, "observations")
}
