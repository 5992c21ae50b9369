package serving

import (
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apiserver/pkg/endpoints/request"
)

// apiServerComponent is the component label of the generic apiserver's
// request metrics (metrics.APIServerComponent); its health checks report
// the empty component.
const apiServerComponent = "apiserver"

// maxDeclared bounds the resources labelTable labels by name, whatever
// Options.Resources reports: beyond, resources share the unlabelled entry.
const maxDeclared = 1024

// labelTable resolves each request to the series of its labels, without a
// label lookup once they exist (a lookup hashes every label value: about a
// microsecond for Kubernetes' nine labels).
//
// Labels are bounded whatever clients send: the verb comes from a fixed set
// (other for the rest), dry_run and scope from three and four values, the
// code from the status codes net/http can write; group, version, resource and
// subresource are those of a resource the server declares
// (Options.Resources), at most maxDeclared of them, or empty; the
// subresource of a request that is not for a resource is its path for the
// health endpoints and /apis, as in Kubernetes, else empty. No label holds
// a user, a namespace, a name or any other path.
type labelTable struct {
	m         *metrics
	resources func(group, version, resource, subresource string) bool

	other   *entry            // requests of no declared resource
	byPath  map[string]*entry // the instrumented paths that are not resources
	mu      sync.Mutex        // serializes the writers of declared
	declare atomic.Pointer[map[resourceKey]*entry]
}

type resourceKey struct{ group, version, resource, subresource string }

// nRows is the series of one entry: by verb, dry_run, scope and whether the
// response's size is recorded.
const nRows = len(metricVerbs) * len(dryRunValues) * len(scopeValues) * 2

// entry is one value of the labels group, version, resource, subresource
// and component, with its series.
type entry struct {
	group, version, resource, subresource, component string
	rows                                             [nRows]atomic.Pointer[series]
}

func newLabelTable(m *metrics, resources func(group, version, resource, subresource string) bool) *labelTable {
	t := &labelTable{m: m, resources: resources, other: &entry{component: apiServerComponent}, byPath: map[string]*entry{}}
	// Kubernetes' health checks are instrumented with the path as
	// subresource and no component (healthz.InstallPathHandler); its /apis
	// with the component (aggregated discovery).
	for _, p := range []string{"/healthz", "/livez", "/readyz"} {
		t.byPath[p] = &entry{subresource: p}
	}
	t.byPath["/apis"] = &entry{subresource: "/apis", component: apiServerComponent}
	empty := map[resourceKey]*entry{}
	t.declare.Store(&empty)
	return t
}

// seriesOf returns the series of r, whose RequestInfo is info.
func (t *labelTable) seriesOf(r *http.Request, info *request.RequestInfo) *series {
	scope := cleanScope(info)
	verb, sized := cleanVerb(r, info, scopeValues[scope])
	dryRun := cleanDryRun(r.URL)
	e := t.entryOf(info)
	i := ((verb*len(dryRunValues)+dryRun)*len(scopeValues)+scope)*2 + boolIndex(sized)
	if sr := e.rows[i].Load(); sr != nil {
		return sr
	}
	sr := t.m.newSeries(e, metricVerbs[verb], dryRunValues[dryRun], scopeValues[scope], sized)
	if e.rows[i].CompareAndSwap(nil, sr) {
		return sr
	}
	return e.rows[i].Load()
}

func boolIndex(b bool) int {
	if b {
		return 1
	}
	return 0
}

// entryOf returns the entry of the request's group, version, resource and
// subresource: its own for a declared resource, else the shared one.
func (t *labelTable) entryOf(info *request.RequestInfo) *entry {
	if !info.IsResourceRequest {
		if e := t.byPath[info.Path]; e != nil {
			return e
		}
		return t.other
	}
	if t.resources == nil {
		return t.other
	}
	k := resourceKey{info.APIGroup, info.APIVersion, info.Resource, info.Subresource}
	if e := (*t.declare.Load())[k]; e != nil {
		return e
	}
	if !t.resources(k.group, k.version, k.resource, k.subresource) {
		return t.other
	}
	return t.add(k)
}

// add makes the entry of a declared resource, copying the map (declared
// resources are few and made once: readers never lock).
func (t *labelTable) add(k resourceKey) *entry {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.declare.Load()
	if e := old[k]; e != nil {
		return e
	}
	if len(old) >= maxDeclared {
		return t.other
	}
	// The label values are copies: k's strings are slices of the request's path.
	e := &entry{group: clone(k.group), version: clone(k.version), resource: clone(k.resource),
		subresource: clone(k.subresource), component: apiServerComponent}
	next := make(map[resourceKey]*entry, len(old)+1)
	for key, v := range old {
		next[key] = v
	}
	next[resourceKey{e.group, e.version, e.resource, e.subresource}] = e
	t.declare.Store(&next)
	return e
}

func clone(s string) string { return string(append([]byte(nil), s...)) }

// series is the children of one set of labels (but the code): those every
// request records made with it, the others on first use.
type series struct {
	m                   *metrics
	e                   *entry
	verb, dryRun, scope string
	sized               bool

	duration prometheus.Observer
	sli      prometheus.Observer // nil for a dry run, as in Kubernetes

	codes       [len(metricCodes)]atomic.Pointer[prometheus.Counter]
	sizes       atomic.Pointer[prometheus.Observer]
	longRunning atomic.Pointer[prometheus.Gauge]
	aborts      atomic.Pointer[prometheus.Counter]
}

func (m *metrics) newSeries(e *entry, verb, dryRun, scope string, sized bool) *series {
	sr := &series{m: m, e: e, verb: verb, dryRun: dryRun, scope: scope, sized: sized,
		duration: m.duration.WithLabelValues(verb, dryRun, e.group, e.version, e.resource, e.subresource, scope, e.component)}
	if dryRun == "" {
		sr.sli = m.sli.WithLabelValues(sr.plain()...)
	}
	return sr
}

// plain returns the label values of the metrics without dry_run and code.
func (sr *series) plain() []string {
	e := sr.e
	return []string{sr.verb, e.group, e.version, e.resource, e.subresource, sr.scope, e.component}
}

// requestCounter returns the apiserver_request_total child of code.
func (sr *series) requestCounter(code int) prometheus.Counter {
	i := codeIndex(code)
	if i < 0 {
		return sr.newRequestCounter(code)
	}
	return loadOr(&sr.codes[i], func() prometheus.Counter { return sr.newRequestCounter(code) })
}

func (sr *series) newRequestCounter(code int) prometheus.Counter {
	e := sr.e
	return sr.m.requests.WithLabelValues(sr.verb, sr.dryRun, e.group, e.version, e.resource, e.subresource, sr.scope, e.component, codeLabel(code))
}

func (sr *series) sizeObserver() prometheus.Observer {
	return loadOr(&sr.sizes, func() prometheus.Observer { return sr.m.sizes.WithLabelValues(sr.plain()...) })
}

func (sr *series) longRunningGauge() prometheus.Gauge {
	return loadOr(&sr.longRunning, func() prometheus.Gauge { return sr.m.longRunning.WithLabelValues(sr.plain()...) })
}

func (sr *series) abortCounter() prometheus.Counter {
	return loadOr(&sr.aborts, func() prometheus.Counter {
		e := sr.e
		return sr.m.aborts.WithLabelValues(sr.verb, e.group, e.version, e.resource, e.subresource, sr.scope)
	})
}

// terminated counts a request the server answered in self-defense with code
// (429 beyond the in-flight limit, 504 at the deadline): rare, looked up.
func (sr *series) terminated(code int) {
	sr.m.terminations.WithLabelValues(append(sr.plain(), codeLabel(code))...).Inc()
}

// loadOr returns *p, made by newValue on first use.
func loadOr[T any](p *atomic.Pointer[T], newValue func() T) T {
	if v := p.Load(); v != nil {
		return *v
	}
	v := newValue()
	if p.CompareAndSwap(nil, &v) {
		return v
	}
	return *p.Load()
}

// metricCodes are the status codes with a slot in a series.
var metricCodes = [...]int{101, 200, 201, 202, 204, 304, 400, 401, 403, 404, 405, 406, 409, 410, 413, 415, 422, 429, 500, 503, 504}

func codeIndex(code int) int {
	for i, c := range metricCodes {
		if c == code {
			return i
		}
	}
	return -1
}

// codeLabel is code in decimal (Kubernetes' codeToString).
func codeLabel(code int) string { return strconv.Itoa(code) }
