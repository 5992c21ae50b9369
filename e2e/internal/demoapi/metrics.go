package demoapi

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
)

// MetricsUser and MetricsGroup are the identity /metrics is fetched as,
// through the front proxy: a member of system:masters, whom the chain allows
// without a SubjectAccessReview, so that reading the counters never moves them.
const (
	MetricsUser  = "e2e-metrics-reader"
	MetricsGroup = "system:masters"
)

// The authorizer's metrics.
const (
	MetricSARs      = "aggauth_authz_sar_duration_seconds_count" // SubjectAccessReviews sent, retries included
	MetricHits      = "aggauth_authz_cache_hits_total"
	MetricMisses    = "aggauth_authz_cache_misses_total"
	MetricCoalesced = "aggauth_authz_coalesced_waits_total"
	MetricErrors    = "aggauth_authz_sar_errors_total"
	MetricStale     = "aggauth_authz_stale_allows_total"
)

// Metrics are the unlabelled samples of a /metrics page, by name.
type Metrics map[string]float64

// SARs is the number of SubjectAccessReviews the server has sent.
func (m Metrics) SARs() float64 { return m[MetricSARs] }

// Hits and Misses are the authorization cache's lookups.
func (m Metrics) Hits() float64   { return m[MetricHits] }
func (m Metrics) Misses() float64 { return m[MetricMisses] }

// Authz returns the authorizer's samples, for messages.
func (m Metrics) Authz() string {
	var b strings.Builder
	for _, name := range []string{MetricSARs, MetricHits, MetricMisses, MetricCoalesced, MetricErrors, MetricStale} {
		fmt.Fprintf(&b, "%s %g\n", name, m[name])
	}
	return b.String()
}

// Metrics fetches the server's /metrics straight from it, as MetricsUser
// through the front proxy's client certificate.
func (s *Server) Metrics(ctx context.Context) (Metrics, error) {
	client := s.ProxyClient()
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Remote-User", MetricsUser)
	req.Header.Set("X-Remote-Group", MetricsGroup)
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return nil, fmt.Errorf("demoapi: GET /metrics: %d %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return ParseMetrics(resp.Body)
}

// ParseMetrics reads the unlabelled samples of Prometheus' text format.
func ParseMetrics(r io.Reader) (Metrics, error) {
	m := Metrics{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || strings.ContainsRune(line, '{') {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 {
			return nil, fmt.Errorf("demoapi: metrics line %q", line)
		}
		v, err := strconv.ParseFloat(f[1], 64)
		if err != nil {
			return nil, fmt.Errorf("demoapi: metrics line %q: %w", line, err)
		}
		m[f[0]] = v
	}
	return m, sc.Err()
}
