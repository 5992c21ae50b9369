package serving

import (
	"context"
	"net/http"
	"strings"

	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/aggauth/aggauth/requestinfo"
)

// requestState is what the filters of this package know of one request, in
// one context value. It is written before the filters after it run and only
// read afterwards.
type requestState struct {
	auditID string
	info    *request.RequestInfo // nil until a filter of the Server resolved it
}

type stateKey struct{}

func stateFrom(ctx context.Context) *requestState {
	s, _ := ctx.Value(stateKey{}).(*requestState)
	return s
}

func withState(r *http.Request, s *requestState) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), stateKey{}, s))
}

// AuditIDFrom returns the request's audit ID, set by the AuditID filter: the
// Audit-ID the client (kube-apiserver's aggregator) sent, or a generated one.
// It is also the Audit-ID response header. (Kubernetes' audit.AuditIDFrom is
// not used: its package imports OpenTelemetry.)
func AuditIDFrom(ctx context.Context) (string, bool) {
	if s := stateFrom(ctx); s != nil && s.auditID != "" {
		return s.auditID, true
	}
	return "", false
}

// requestInfoOf returns r's RequestInfo: the one resolved for this request by
// the Server, or by Kubernetes' WithRequestInfo, else a new one. A request
// Kubernetes cannot resolve (such as a path ending in /watch) gets the
// RequestInfo as far as it was resolved, or a non-resource one: the chain
// answers it.
func requestInfoOf(r *http.Request) *request.RequestInfo {
	if s := stateFrom(r.Context()); s != nil && s.info != nil {
		return s.info
	}
	if info, ok := request.RequestInfoFrom(r.Context()); ok && info != nil {
		return info
	}
	return resolve(r)
}

func resolve(r *http.Request) *request.RequestInfo {
	info, err := requestinfo.New(r)
	if err != nil && info == nil {
		info = &request.RequestInfo{Path: r.URL.Path, Verb: strings.ToLower(r.Method)}
	}
	return info
}

// isLongRunning reports whether the request is long-running: a watch, a
// non-resource path under /debug/pprof/ (Kubernetes' generic default,
// BasicLongRunningRequestCheck({"watch"}, {})), or what also reports.
func isLongRunning(also request.LongRunningRequestCheck, r *http.Request, info *request.RequestInfo) bool {
	if info.Verb == "watch" || !info.IsResourceRequest && strings.HasPrefix(info.Path, "/debug/pprof/") {
		return true
	}
	return also != nil && also(r, info)
}
