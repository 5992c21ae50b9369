package audit

import (
	"github.com/prometheus/client_golang/prometheus"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// Plugin names of apiserver_audit_error_total, Kubernetes' own.
const (
	pluginLog      = "log"
	pluginBuffered = "buffered"
	pluginTruncate = "truncate"
)

// metrics are Kubernetes' audit metrics (pkg/audit/metrics.go), with its
// names, help and labels, per Auditor. Labels take fixed values only.
type metrics struct {
	events   prometheus.Counter
	errors   *prometheus.CounterVec
	levels   *prometheus.CounterVec
	rejected prometheus.Counter

	// the children of the vectors, resolved once
	errLog, errBuffered, errTruncate prometheus.Counter
	level                            map[auditv1.Level]prometheus.Counter
}

func newMetrics() *metrics {
	opts := func(name, help string) prometheus.CounterOpts {
		return prometheus.CounterOpts{Subsystem: "apiserver_audit", Name: name, Help: help}
	}
	m := &metrics{
		events: prometheus.NewCounter(opts("event_total", "Counter of audit events generated and sent to the audit backend.")),
		errors: prometheus.NewCounterVec(opts("error_total", "Counter of audit events that failed to be audited properly. "+
			"Plugin identifies the plugin affected by the error."), []string{"plugin"}),
		levels: prometheus.NewCounterVec(opts("level_total",
			"Counter of policy levels for audit events (1 per request)."), []string{"level"}),
		rejected: prometheus.NewCounter(opts("requests_rejected_total",
			"Counter of apiserver requests rejected due to an error in audit logging backend.")),
		level: map[auditv1.Level]prometheus.Counter{},
	}
	m.errLog = m.errors.WithLabelValues(pluginLog)
	m.errBuffered = m.errors.WithLabelValues(pluginBuffered)
	m.errTruncate = m.errors.WithLabelValues(pluginTruncate)
	for _, l := range []auditv1.Level{auditv1.LevelNone, auditv1.LevelMetadata, auditv1.LevelRequest, auditv1.LevelRequestResponse} {
		m.level[l] = m.levels.WithLabelValues(string(l))
	}
	return m
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.events, m.errors, m.levels, m.rejected}
}
