package pipeline

import (
	"context"
	"net/http"
	"runtime"
	"sync"
	"time"

	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/warning"

	"github.com/aggauth/aggauth/internal/reqattr"
)

// State is one request's state through a Pipeline, made once by the first
// pipeline the request meets, in one allocation with the request's copy and
// its Writer. It is also the request's context: the request the steps and the
// handler get has the State as its context, which answers
// request.UserFrom, request.RequestInfoFrom and the package's getters from
// its fields, and every other value from the context the request came with.
//
// Steps set its fields before the handler runs; the handler reads them
// through the getters. After the handler, the finishers read them. Fields are
// not safe for concurrent writes; a Runner hands the state to one goroutine
// at a time.
type State struct {
	parent context.Context // the context of the request the state was made for
	outer  *State          // the state of the pipeline this one is nested in, if any
	req    http.Request    // the request as the steps and the handler get it
	w      Writer          // the one writer wrapper of the request

	// AuditID is the request's audit ID: the Audit-ID header kube-apiserver
	// sent (the aggregator forwards its own), or one made up. Set by the
	// step that owns it (serving's); empty until then.
	AuditID string
	// Received is when the pipeline received the request.
	Received time.Time
	// LongRunning is set by the step that decides it (serving's): watches
	// and other requests without a deadline.
	LongRunning bool
	// MaxBodyBytes is the limit of the request's body, set by the step that
	// enforces it (serving's): reading the body past it answers 413. 0 when
	// no step set one; negative when the server sets no limit. A handler's
	// decoder that has a limit of its own defaults to this one.
	MaxBodyBytes int64

	user     user.Info            // who is calling (after impersonation, who it runs as)
	attrs    reqattr.Attributes   // the RequestInfo and authorizer attributes
	info     *request.RequestInfo // what the context answers: &attrs's, or one adopted
	infoErr  error                // why the request could not be resolved
	resolved bool                 // attrs holds the resolved request
	decision authorizer.Decision
	reason   string
	decided  bool // the request was authorized

	// Impersonator is the user who asked to act as User, when the request
	// was impersonated; nil otherwise.
	Impersonator user.Info

	// Authorized records the outcome of the authorization step, whatever it
	// was (AuthorizationResult), for the steps that report it (the audit).
	authorized    bool
	authzDecision authorizer.Decision
	authzReason   string
	authzErr      error
	wrapped       http.ResponseWriter // set by WrapWriter, taken by the pipeline
	// Audit is the audit's record of the request, set by the audit's step
	// for its finish; nil when the request is not audited.
	Audit any

	// values holds what steps publish under a key of their own (WithValue),
	// looked up before the parent context: two inline, more in extra.
	values  [2]keyValue
	nvalues int
	extra   []keyValue

	// The deadline a Runner set (deadline.go).
	hasDeadline bool
	deadline    time.Time
	dmu         sync.Mutex // guards the fields below
	done        chan struct{}
	err         error
	afterFuncs  []afterFunc
	nextID      uint64

	// The warnings of the response (warning.AddWarning): a recorder made by
	// newRecorder on the first one.
	newRecorder func(http.ResponseWriter) warning.Recorder
	recorder    warning.Recorder

	mu      sync.Mutex // guards the fields below: a late panic comes from another goroutine
	panic   any        // the recovered panic value, nil unless the request panicked
	stack   []byte
	recover bool // a step recovers panics (else the panic goes on to net/http)
	over    bool // the request is over: its answer is final
}

type keyValue struct{ key, value any }

// newState makes the state of r, answered on w. A pipeline nested in
// another (a chain behind a router that runs behind serving) makes a state of
// its own, starting from the outer one's; and a user or RequestInfo that
// filters before the pipeline (Kubernetes' own, or a router's middleware)
// put in r's context is adopted. A state never changes what it answers as a
// context once code other than its pipeline's steps holds it.
func newState(w http.ResponseWriter, r *http.Request) *State {
	ctx := r.Context()
	s := &State{parent: ctx, Received: time.Now()}
	if outer := stateFrom(ctx); outer != nil {
		s.outer = outer
		s.AuditID, s.Received, s.LongRunning, s.MaxBodyBytes = outer.AuditID, outer.Received, outer.LongRunning, outer.MaxBodyBytes
		s.decision, s.reason, s.decided, s.Impersonator = outer.decision, outer.reason, outer.decided, outer.Impersonator
	}
	s.req = *r.WithContext(s) // copied into the state: no allocation of its own
	s.w.init(w)
	if u, ok := ctx.Value(userKey).(user.Info); ok && u != nil {
		s.SetUser(u)
	}
	if info, ok := ctx.Value(requestInfoKey).(*request.RequestInfo); ok && info != nil {
		s.SetRequestInfo(info)
	}
	return s
}

type stateKey struct{}

// stateFrom returns the state in ctx, or nil.
func stateFrom(ctx context.Context) *State {
	if s, ok := ctx.(*State); ok {
		return s
	}
	s, _ := ctx.Value(stateKey{}).(*State)
	return s
}

// stateOf returns the state of r, which a pipeline made.
func stateOf(r *http.Request) *State { return stateFrom(r.Context()) }

// From returns the state of the request whose context is ctx, if a pipeline
// made one.
func From(ctx context.Context) (*State, bool) {
	s := stateFrom(ctx)
	return s, s != nil
}

// Request returns the request as the pipeline hands it to the handler.
func (s *State) Request() *http.Request { return &s.req }

// Writer returns the request's writer wrapper.
func (s *State) Writer() *Writer { return &s.w }

// User returns who the request runs as, or nil before authentication.
func (s *State) User() user.Info { return s.user }

// SetUser sets who the request runs as.
func (s *State) SetUser(u user.Info) {
	s.user = u
	s.attrs.User = u
}

// RequestInfo returns the request's RequestInfo once resolved, else nil.
func (s *State) RequestInfo() *request.RequestInfo {
	if !s.resolved {
		return nil
	}
	return s.info
}

// Resolve resolves the RequestInfo and authorizer attributes of r (which
// must be the state's request or a copy of it), once: later calls return the
// first answer.
func (s *State) Resolve(r *http.Request) (*request.RequestInfo, error) {
	if !s.resolved && s.infoErr == nil {
		if err := s.attrs.Init(r, s.user); err != nil {
			s.infoErr = err
		} else {
			s.resolved, s.info = true, s.attrs.RequestInfo()
		}
	}
	if s.infoErr != nil {
		return nil, s.infoErr
	}
	return s.info, nil
}

// SetRequestInfo sets the resolved RequestInfo, when a filter before the
// pipeline (Kubernetes' WithRequestInfo) resolved it already.
func (s *State) SetRequestInfo(info *request.RequestInfo) {
	s.attrs = reqattr.Attributes{}
	s.attrs.InitFromRequestInfo(s.user, info)
	s.resolved, s.infoErr, s.info = true, nil, info
}

// Attributes returns the authorizer attributes once resolved.
func (s *State) Attributes() (*reqattr.Attributes, bool) { return &s.attrs, s.resolved }

// SetDecision records the authorization decision the request was let through
// with.
func (s *State) SetDecision(d authorizer.Decision, reason string) {
	s.decision, s.reason, s.decided = d, reason, true
}

// SetAuthorizationResult records what the authorizer answered, allowed or
// not.
func (s *State) SetAuthorizationResult(d authorizer.Decision, reason string, err error) {
	s.authorized, s.authzDecision, s.authzReason, s.authzErr = true, d, reason, err
}

// AuthorizationResult returns what the authorizer answered, and whether the
// request was authorized at all.
func (s *State) AuthorizationResult() (d authorizer.Decision, reason string, err error, ok bool) {
	return s.authzDecision, s.authzReason, s.authzErr, s.authorized
}

// WrapWriter makes the later steps and the handler write through w, which
// must write through the writer the calling step got (a step that records
// the response, as the audit does). Only from a step's Serve.
func (s *State) WrapWriter(w http.ResponseWriter) { s.wrapped = w }

// Decision returns the authorization decision, when there was one.
func (s *State) Decision() (authorizer.Decision, string, bool) {
	return s.decision, s.reason, s.decided
}

// WithValue makes value answer key in the request's context, as
// context.WithValue would, without a context layer. Only before a Runner:
// the steps before it read the values while the rest of the request runs on
// another goroutine.
func (s *State) WithValue(key, value any) {
	if s.w.bounded {
		panic("pipeline: WithValue after a Runner")
	}
	if kv := s.lookup(key); kv != nil {
		kv.value = value
		return
	}
	if s.nvalues < len(s.values) {
		s.values[s.nvalues] = keyValue{key, value}
		s.nvalues++
		return
	}
	s.extra = append(s.extra, keyValue{key, value})
}

// lookup returns the slot of key among the published values, or nil.
func (s *State) lookup(key any) *keyValue {
	for i := range s.nvalues {
		if s.values[i].key == key {
			return &s.values[i]
		}
	}
	for i := range s.extra {
		if s.extra[i].key == key {
			return &s.extra[i]
		}
	}
	return nil
}

// Parent returns the context the state answers Deadline, Done, Err and the
// values it does not hold from.
func (s *State) Parent() context.Context { return s.parent }

// SetParent replaces the parent context, for a step that bounds the rest of
// the request (a deadline, a cancellation) without a context layer over the
// state: ctx must be derived from Parent(). Only before the rest runs.
func (s *State) SetParent(ctx context.Context) { s.parent = ctx }

// RecoverPanics makes the pipeline answer a panic with a 500 Status (or
// abort the response already started) instead of letting it go on to
// net/http. The step that logs panics sets it.
func (s *State) RecoverPanics() { s.recover = true }

// Panic returns the value of the panic of the request, if it panicked, and
// its stack.
func (s *State) Panic() (value any, stack []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.panic, s.stack
}

// panicked records the panic p of the request: the first one counts. Unless
// the response has started, the request is answered 500.
func (s *State) panicked(p any) {
	s.mu.Lock()
	if s.panic != nil {
		s.mu.Unlock()
		return
	}
	s.panic = p
	if p != http.ErrAbortHandler {
		if ps, ok := p.(*panicWithStack); ok {
			s.panic, s.stack = ps.value, ps.stack
		} else {
			buf := make([]byte, maxPanicStack)
			s.stack = buf[:runtime.Stack(buf, false)]
		}
	}
	s.mu.Unlock()
	// The outermost state answers: a nested one passes the panic on.
	s.w.panicked(p != http.ErrAbortHandler && s.outer == nil)
}

// maxPanicStack bounds the stack recorded for a panic.
const maxPanicStack = 64 << 10

// panicWithStack is a panic carried from another goroutine with its stack.
type panicWithStack struct {
	value any
	stack []byte
}

// Repanic carries p, recovered on another goroutine that ran part of the
// request (a Runner's), with the stack it was recovered with, so that
// raising it again on the request's goroutine records that stack.
func Repanic(p any) {
	if p == http.ErrAbortHandler {
		panic(p)
	}
	buf := make([]byte, maxPanicStack)
	panic(&panicWithStack{value: p, stack: buf[:runtime.Stack(buf, false)]})
}

// end closes the request on the goroutine that received it: a panic no step
// recovers goes on to net/http, and a response already started when the
// request panicked is aborted.
func (s *State) end() {
	if p := recover(); p != nil {
		s.panicked(p)
	}
	s.mu.Lock()
	s.over = true
	recorded, stack, recovering := s.panic, s.stack, s.recover
	s.mu.Unlock()
	switch {
	case s.w.Aborted():
		panic(http.ErrAbortHandler)
	case recorded == nil || s.w.TimedOut():
		// A panic after the 504 came from the bounded part, late: its
		// Runner logs it; the client has its answer.
		s.w.end()
	case recorded == http.ErrAbortHandler:
		panic(http.ErrAbortHandler)
	case s.outer != nil: // the pipeline this one is nested in answers it
		panic(&panicWithStack{value: recorded, stack: stack})
	case !recovering:
		panic(recorded)
	default:
		s.w.end()
	}
}

// Over reports whether the request is over (its goroutine returned): a
// goroutine still running for it then writes nothing.
func (s *State) Over() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.over
}

// Context (Deadline, Done, Err and AfterFunc are in deadline.go).

// Value implements context.Context: the user, the RequestInfo, what steps
// published with WithValue, else the parent's values.
func (s *State) Value(key any) any {
	switch key {
	case any(stateKey{}):
		return s
	case userKey:
		if s.user != nil {
			return s.user
		}
	case requestInfoKey:
		if s.resolved {
			return s.info
		}
	case warningRecorderKey:
		if s.newRecorder != nil {
			return warningRecorder{s}
		}
	}
	if kv := s.lookup(key); kv != nil {
		return kv.value
	}
	return s.parent.Value(key)
}

// String implements fmt.Stringer, as contexts do.
func (s *State) String() string { return "aggauth request state" }

// RecordWarnings makes warning.AddWarning on the request's context record
// warnings with a recorder newRecorder makes, on the first warning, for the
// request's Writer.
func (s *State) RecordWarnings(newRecorder func(http.ResponseWriter) warning.Recorder) {
	s.newRecorder = newRecorder
}

// warningRecorder is the recorder the state's context answers: the state's.
type warningRecorder struct{ s *State }

// AddWarning implements warning.Recorder.
func (w warningRecorder) AddWarning(agent, text string) {
	s := w.s
	s.mu.Lock()
	if s.recorder == nil {
		s.recorder = s.newRecorder(&s.w)
	}
	r := s.recorder
	s.mu.Unlock()
	r.AddWarning(agent, text)
}

// userKey and requestInfoKey are k8s.io/apiserver's keys of the user and the
// RequestInfo in a context, found once by probing request.UserFrom and
// request.RequestInfoFrom (the keys are unexported).
var userKey, requestInfoKey = contextKeys()

type keyProbe struct {
	context.Context
	key any
}

func (p *keyProbe) Value(key any) any { p.key = key; return nil }

// warningRecorderKey is k8s.io/apiserver/pkg/warning's context key of the
// recorder, found by probing warning.AddWarning.
var warningRecorderKey = func() any {
	p := &keyProbe{Context: context.Background()}
	warning.AddWarning(p, "", "probe")
	if p.key == nil {
		panic("pipeline: cannot find k8s.io/apiserver's warning recorder context key")
	}
	return p.key
}()

func contextKeys() (userKey, infoKey any) {
	p := &keyProbe{Context: context.Background()}
	request.UserFrom(p)
	userKey = p.key
	p.key = nil
	request.RequestInfoFrom(p)
	infoKey = p.key
	if userKey == nil || infoKey == nil || userKey == infoKey {
		panic("pipeline: cannot find k8s.io/apiserver's request context keys")
	}
	return userKey, infoKey
}
