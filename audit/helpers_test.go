package audit_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/aggauth/aggauth/audit"
)

const metadataPolicy = "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n"

var alice = &user.DefaultInfo{Name: "alice", Groups: []string{"devs", "system:authenticated"}}

// serve audits one request of u to path as the pipeline does, the handler
// answering 200, and returns Begin's error.
func serve(a *audit.Auditor, u user.Info, path string) error {
	r := httptest.NewRequest(http.MethodGet, path, nil)
	info, err := resolver.NewRequestInfo(r)
	if err != nil {
		panic(err)
	}
	rec, err := a.Begin(r, info, u, auditID, received, false)
	if err != nil {
		return err
	}
	rec.Authorized(authorizer.DecisionAllow, "", nil)
	w := rec.Writer(httptest.NewRecorder())
	w.WriteHeader(http.StatusOK)
	rec.End()
	return nil
}

// infoOf resolves r's RequestInfo.
func infoOf(t testing.TB, r *http.Request) *request.RequestInfo {
	t.Helper()
	info, err := resolver.NewRequestInfo(r)
	require.NoError(t, err)
	return info
}

// metric returns the value of the counter name{labels} among a's collectors.
func metric(t testing.TB, a *audit.Auditor, name string, labels ...string) float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	for _, c := range a.Collectors() {
		require.NoError(t, reg.Register(c))
	}
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	next:
		for _, m := range f.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, l := range m.GetLabel() {
					found = found || l.GetName() == labels[i] && l.GetValue() == labels[i+1]
				}
				if !found {
					continue next
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// lines returns the lines of log.
func lines(log string) []string {
	if log == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(log, "\n"), "\n")
}

// stalledWriter blocks every Write until released, counting what it wrote.
type stalledWriter struct {
	release chan struct{}
	mu      sync.Mutex
	lines   int
	entered chan struct{} // receives when a Write starts waiting
}

func newStalledWriter() *stalledWriter {
	return &stalledWriter{release: make(chan struct{}), entered: make(chan struct{}, 1)}
}

func (w *stalledWriter) Write(p []byte) (int, error) {
	select {
	case w.entered <- struct{}{}:
	default:
	}
	<-w.release
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lines += strings.Count(string(p), "\n")
	return len(p), nil
}

func (w *stalledWriter) written() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lines
}

// failingWriter fails every Write.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }
