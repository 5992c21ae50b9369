package serving

import (
	"context"
	"net/http"
	"strings"

	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/aggauth/aggauth/pipeline"
)

// auditIDStep gives the request its audit ID, echoed in the response, as the
// generic apiserver's WithAuditInit.
type auditIDStep struct{}

func (auditIDStep) Serve(_ http.ResponseWriter, r *http.Request, s *pipeline.State) *http.Request {
	s.AuditID = auditIDOf(r)
	s.Writer().SetDefault(auditIDKey, s.AuditID)
	return r
}

// requestStep resolves the request's RequestInfo, once for every later step
// and the handler, as the generic apiserver's WithRequestInfo, and decides
// whether it is long-running.
type requestStep struct {
	longRunning request.LongRunningRequestCheck
}

func (st requestStep) Serve(_ http.ResponseWriter, r *http.Request, s *pipeline.State) *http.Request {
	s.LongRunning = isLongRunning(st.longRunning, r, requestInfoOf(r, s))
	return r
}

// AuditIDFrom returns the audit ID of the request whose context is ctx, as
// the Server (or the AuditID filter) set it: kube-apiserver's Audit-ID, or
// one made up.
func AuditIDFrom(ctx context.Context) (string, bool) {
	if s, ok := pipeline.From(ctx); ok && s.AuditID != "" {
		return s.AuditID, true
	}
	return "", false
}

// requestInfoOf returns r's RequestInfo: the one resolved for this request
// (by this package or by the chain), else the one resolved now and kept in s.
// A request Kubernetes cannot resolve (a path ending in a special verb such
// as /api/v1/watch) gets the non-resource RequestInfo of its path and method
// here; the chain answers it 400.
func requestInfoOf(r *http.Request, s *pipeline.State) *request.RequestInfo {
	if info := s.RequestInfo(); info != nil {
		return info
	}
	if info, ok := request.RequestInfoFrom(r.Context()); ok && info != nil {
		s.SetRequestInfo(info)
		return info
	}
	if info, err := s.Resolve(r); err == nil {
		return info
	}
	return &request.RequestInfo{Path: r.URL.Path, Verb: strings.ToLower(r.Method)}
}

// isLongRunning reports whether the request is long-running: a watch, a
// /debug/pprof/ path (as the generic apiserver's default check), or what also
// reports. As in Kubernetes, an Upgrade header alone does not make a request
// long-running (any client could add one to a create to skip the timeout and
// the in-flight limits): the endpoints that upgrade (exec, attach, a
// WebSocket) are declared in Options.LongRunning, from the RequestInfo.
func isLongRunning(also request.LongRunningRequestCheck, r *http.Request, info *request.RequestInfo) bool {
	if info.Verb == "watch" || !info.IsResourceRequest && strings.HasPrefix(info.Path, "/debug/pprof/") {
		return true
	}
	return also != nil && also(r, info)
}
