package audit

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// Annotation keys of the authorization decision, Kubernetes' own.
const (
	AnnotationDecision = "authorization.k8s.io/decision"
	AnnotationReason   = "authorization.k8s.io/reason"
)

// Record is the audit of one request, from Begin (or FailedAuthentication)
// to End (or Panic). A nil *Record is a request not audited: every method
// does nothing. Its methods are safe for concurrent use; nothing is written
// after End or Panic.
type Record struct {
	a           *Auditor
	cfg         requestConfig
	longRunning bool
	failedAuthn bool
	bounded     bool        // an unauthenticated request: its client-chosen fields are bounded
	started     atomic.Bool // the response status code was recorded
	capture     *capture    // nil: bodies are not recorded

	mu     sync.Mutex // guards the fields below and the event
	ev     auditv1.Event
	ref    auditv1.ObjectReference // ev.ObjectRef points here
	status metav1.Status           // ev.ResponseStatus points here once set
	ann    annotations             // the event's annotations (ev.Annotations stays nil)
	ended  bool
	w      responseWriter // Writer's, allocated with the record

	// backing arrays of the common sizes, allocated with the record
	annBuf [4]annotation
	ipsBuf [2]string
}

// Level returns the level the policy gave the request (LevelNone for nil).
func (r *Record) Level() auditv1.Level {
	if r == nil {
		return auditv1.LevelNone
	}
	return r.cfg.level
}

// Annotate records an annotation, as Kubernetes' audit.AddAuditAnnotation:
// the first value of a key stays (a different one later is ignored).
func (r *Record) Annotate(key, value string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.annotate(key, value)
	r.mu.Unlock()
}

func (r *Record) annotate(key, value string) {
	if r.ann == nil {
		r.ann = r.annBuf[:0]
	}
	r.ann = r.ann.add(key, value)
}

// Authorized records the authorization decision as Kubernetes' authorization
// filter does: allowed, decision "allow" and the reason (even empty); else,
// on an error, reason "internal error" alone; else decision "forbid" and the
// reason.
func (r *Record) Authorized(d authorizer.Decision, reason string, err error) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case d == authorizer.DecisionAllow:
		r.annotate(AnnotationDecision, "allow")
		r.annotate(AnnotationReason, reason)
	case err != nil:
		r.annotate(AnnotationReason, "internal error")
	default:
		r.annotate(AnnotationDecision, "forbid")
		r.annotate(AnnotationReason, reason)
	}
}

// SetImpersonatedUser records the user the request acts as, once
// impersonation allowed it (Kubernetes' LogImpersonatedUser); constraint is
// the verb of constrained impersonation, "" for Kubernetes' legacy
// impersonation.
func (r *Record) SetImpersonatedUser(u user.Info, constraint string) {
	if r == nil || u == nil {
		return
	}
	info := userInfo(u)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ev.ImpersonatedUser = &info
	if constraint != "" {
		r.ev.AuthenticationMetadata = &auditv1.AuthenticationMetadata{ImpersonationConstraint: constraint}
	}
}

// SetResponseStatus records the Status the pipeline answers with, before it
// writes it, as Kubernetes' response writers do (LogResponseObject): its
// status, message, reason, details and code; at level RequestResponse, the
// Status itself as responseObject. Call it for every Status written (401,
// 403, 429, 503...), and from the handler's Status writer. For an
// unauthenticated request, the Status is bounded (MaxUnauthenticatedMessageLength,
// MaxUnauthenticatedFieldLength) and its causes left out.
func (r *Record) SetResponseStatus(s *metav1.Status) {
	if r == nil || s == nil {
		return
	}
	if r.bounded {
		s = boundedStatus(s)
	}
	var obj *runtime.Unknown
	if r.cfg.level == auditv1.LevelRequestResponse {
		c := metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, ListMeta: s.ListMeta,
			Status: s.Status, Message: s.Message, Reason: s.Reason, Details: s.Details, Code: s.Code}
		if raw, err := json.Marshal(&c); err == nil {
			obj = &runtime.Unknown{Raw: raw, ContentType: runtime.ContentTypeJSON}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.status = metav1.Status{Status: s.Status, Message: s.Message, Reason: s.Reason, Details: s.Details, Code: s.Code}
	r.ev.ResponseStatus = &r.status
	if obj != nil {
		r.ev.ResponseObject = obj
	}
}

// ResponseStarted records the response's status code, once: the first call
// counts (Writer calls it on the first WriteHeader, Write or Hijack, as
// Kubernetes' audit writer). For a long-running request, and for a refusal
// of authentication, it writes the ResponseStarted event.
func (r *Record) ResponseStarted(code int) {
	if r == nil || r.started.Load() || !r.started.CompareAndSwap(false, true) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended {
		return
	}
	if r.ev.ResponseStatus == nil {
		r.status = metav1.Status{}
		r.ev.ResponseStatus = &r.status
	}
	r.ev.ResponseStatus.Code = int32(code)
	if r.longRunning {
		r.process(auditv1.StageResponseStarted)
	}
}

// End writes the ResponseComplete event, after the handler returned (for a
// refusal of authentication, it writes nothing: its event was written when
// the response started). A response never started is recorded as
// Kubernetes records it: 200, "Connection closed early".
func (r *Record) End() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended {
		return
	}
	r.ended = true
	if r.failedAuthn {
		return
	}
	if r.ev.ResponseStatus == nil {
		r.status = metav1.Status{Code: http.StatusOK, Status: metav1.StatusSuccess, Message: "Connection closed early"}
		r.ev.ResponseStatus = &r.status
		if r.longRunning {
			r.process(auditv1.StageResponseStarted)
		}
	}
	r.process(auditv1.StageResponseComplete)
}

// Panic writes the Panic event instead of ResponseComplete, with the 500
// Status Kubernetes records; v is what the handler panicked with. Re-panic
// after it, as Kubernetes' audit filter does.
func (r *Record) Panic(v any) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ended || r.failedAuthn {
		r.ended = true
		return
	}
	r.ended = true
	r.status = metav1.Status{Code: http.StatusInternalServerError, Status: metav1.StatusFailure,
		Reason: metav1.StatusReasonInternalError, Message: fmt.Sprintf("APIServer panic'd: %v", v)}
	r.ev.ResponseStatus = &r.status
	r.process(auditv1.StagePanic)
}

// process writes the event at stage unless the policy omits it; r.mu is
// held. It reports false when the request must fail (blocking-strict).
func (r *Record) process(stage auditv1.Stage) bool {
	if r.cfg.omit&stageBit(stage) != 0 {
		return true
	}
	r.a.m.events.Inc()
	r.ev.Stage = stage
	if stage == auditv1.StageRequestReceived {
		r.ev.StageTimestamp = r.ev.RequestReceivedTimestamp
	} else {
		r.ev.StageTimestamp = metav1.NewMicroTime(r.a.clock())
		if r.capture != nil {
			r.capture.attach(r, stage)
		}
	}
	return r.a.emit(&r.ev, r.ann)
}
