package audit

import (
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/aggauth/aggauth/pipeline"
	"github.com/aggauth/aggauth/status"
)

// Steps returns the audit as steps of a request pipeline, in Kubernetes'
// places (DefaultBuildHandlerChain): failed goes before authentication and
// audits a request authentication refused (WithFailedAuthenticationAudit);
// audited goes right after authentication (WithAudit): it starts the record
// of the request with its user, hands the handler a writer that records the
// response, and, once the request is over, records the impersonated user,
// the authorization decision and the response, or the panic. A nil Auditor
// returns nil steps: a pipeline skips them, and audit off costs nothing.
//
// serving.New puts them around the chain's authentication step when its
// options enable the audit.
func (a *Auditor) Steps() (failed, audited pipeline.Step) {
	if a == nil {
		return nil, nil
	}
	return failedStep{a}, auditedStep{a}
}

// failedStep audits a request authentication refused.
type failedStep struct{ a *Auditor }

func (failedStep) Serve(_ http.ResponseWriter, r *http.Request, _ *pipeline.State) *http.Request {
	return r
}

// Finish audits the request if authentication refused it: no user, a 401.
// The request's headers are as the client sent them (authentication removes
// nothing from a request it refuses).
func (st failedStep) Finish(s *pipeline.State) {
	if s.User() != nil || s.Writer().Code() != http.StatusUnauthorized {
		return
	}
	s.EnsureAuditID(s.Request())
	rec := st.a.FailedAuthentication(s.Request(), requestInfo(s.Request(), s), s.AuditID, s.Received)
	rec.SetResponseStatus(&unauthorized.ErrStatus)
	rec.ResponseStarted(http.StatusUnauthorized)
	rec.End()
}

// unauthorized is the 401 the authentication step answers.
var unauthorized = apierrors.NewUnauthorized("Unauthorized")

// auditedStep audits an authenticated request.
type auditedStep struct{ a *Auditor }

func (st auditedStep) Serve(w http.ResponseWriter, r *http.Request, s *pipeline.State) *http.Request {
	s.EnsureAuditID(r)
	rec, err := st.a.Begin(r, requestInfo(r, s), s.User(), s.AuditID, s.Received, s.LongRunning)
	if err != nil { // blocking-strict: the RequestReceived event was not stored
		status.Write(w, apierrors.NewInternalError(err))
		return nil
	}
	if rec == nil {
		return r
	}
	s.Audit = rec
	s.WrapWriter(&statusRecorder{rec.Writer(w).(*responseWriter)})
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = rec.Body(r.Body)
	}
	return r.WithContext(WithRecord(r.Context(), rec))
}

func (auditedStep) Finish(s *pipeline.State) {
	rec, _ := s.Audit.(*Record)
	if rec == nil {
		return
	}
	if s.Impersonator != nil {
		rec.SetImpersonatedUser(s.User(), "")
	}
	if d, reason, err, ok := s.AuthorizationResult(); ok {
		rec.Authorized(d, reason, err)
	}
	if p, _ := s.Panic(); p != nil && p != http.ErrAbortHandler {
		rec.Panic(p)
		return
	}
	rec.End()
}

// statusRecorder is the record's writer, which also takes the Status a step
// or the handler answers with (status.Write gives it before writing).
type statusRecorder struct{ *responseWriter }

// SetResponseStatus records s as the response's Status.
func (w *statusRecorder) SetResponseStatus(s *metav1.Status) { w.rec.SetResponseStatus(s) }

// requestInfo is the request's RequestInfo, resolved now when no step before
// did (the chain resolves it after authentication; serving before); a
// request Kubernetes cannot resolve is audited by its path and method (the
// chain answers it 400).
func requestInfo(r *http.Request, s *pipeline.State) *request.RequestInfo {
	if info, err := s.Resolve(r); err == nil {
		return info
	}
	return &request.RequestInfo{Path: r.URL.Path, Verb: strings.ToLower(r.Method)}
}
