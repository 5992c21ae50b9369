package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/aggauth/aggauth/e2e/internal/demoapi"
)

// cacheAttempts is how many times the tour repeats alice's request to show a
// cache hit: the aggregator's own periodic requests (OpenAPI and discovery
// refreshes, about once a minute each) may send a review at the same moment.
const cacheAttempts = 3

// cache shows the authorization cache at work: the count of reviews the
// example server sent, from its /metrics, before and after a new request (one
// review) and its repetition (none: a cache hit).
func (d *demo) cache(ctx context.Context) error {
	d.n++
	fmt.Fprintf(d.out, "\n%d. The authorization cache at work. The example server's /metrics counts the SubjectAccessReviews "+
		"it sent (%s), read straight from it as admin (system:masters: allowed without a review; the %s lines shown):\n",
		d.n, demoapi.MetricSARs, "aggauth_authz_")
	before, err := d.metrics(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintln(d.out, "\n   alice lists the widgets of kube-public, a request not made before: a cache miss, one review.")
	list := step{kubeconfig: d.alice.Kubeconfig, args: []string{"get", "widgets", "-n", "kube-public"},
		check: matches(`^No resources found in kube-public namespace\.\n$`)}
	if err := d.command(ctx, list); err != nil {
		return err
	}
	missed, err := d.metrics(ctx)
	if err != nil {
		return err
	}
	if missed.SARs() < before.SARs()+1 || missed.Misses() < before.Misses()+1 {
		return fmt.Errorf("step %d: a new request sent no review:\nbefore:\n%safter:\n%s", d.n, before.Authz(), missed.Authz())
	}
	for attempt := 1; ; attempt++ {
		fmt.Fprintln(d.out, "\n   alice repeats it within the cache's 10 s: answered from the cache, no review.")
		if err := d.command(ctx, list); err != nil {
			return err
		}
		hit, err := d.metrics(ctx)
		if err != nil {
			return err
		}
		if hit.SARs() == missed.SARs() && hit.Hits() > missed.Hits() {
			fmt.Fprintf(d.out, "   (%s stayed at %g: the repetition cost kube-apiserver nothing.)\n", demoapi.MetricSARs, hit.SARs())
			return nil
		}
		if attempt == cacheAttempts {
			return fmt.Errorf("step %d: every repetition sent a review or missed the cache:\nbefore:\n%safter:\n%s", d.n, missed.Authz(), hit.Authz())
		}
		fmt.Fprintln(d.out, "   (Meanwhile a request of the aggregator's own sent a review; once more.)")
		missed = hit
	}
}

// metrics shows and returns the example server's authorization metrics, read
// with kubectl straight from the server as the administrator.
func (d *demo) metrics(ctx context.Context) (demoapi.Metrics, error) {
	shown := map[string]bool{demoapi.MetricSARs: true, demoapi.MetricHits: true, demoapi.MetricMisses: true}
	var m demoapi.Metrics
	s := step{
		kubeconfig: d.c.AdminKubeconfig(),
		args:       []string{"--server=" + d.srv.URL(), "--certificate-authority=" + d.srv.CAFile, "get", "--raw", "/metrics"},
		filter: func(line string) bool {
			name, _, _ := strings.Cut(line, " ")
			return shown[name]
		},
		check: func(stdout, stderr string, err error) error {
			if err != nil {
				return fmt.Errorf("kubectl failed (%v): %s", err, stderr)
			}
			m, err = demoapi.ParseMetrics(strings.NewReader(stdout))
			if _, ok := m[demoapi.MetricSARs]; err == nil && !ok {
				err = fmt.Errorf("no %s in the metrics", demoapi.MetricSARs)
			}
			return err
		},
	}
	return m, d.command(ctx, s)
}
