package pipeline

import (
	"net/http"
)

// Step is one step of a Pipeline: serving's filters (audit ID, metrics,
// shutdown answers, timeout ...) and the chain's (authentication,
// authorization, admission ...) are all Steps.
type Step interface {
	// Serve runs the step before the handler, on the request r whose state
	// is s. It returns the request the next steps and the handler get (r
	// itself, unless the step had to change it), or nil when it answered the
	// request on w itself: the later steps and the handler then do not run.
	Serve(w http.ResponseWriter, r *http.Request, s *State) *http.Request
}

// Finisher is a Step that also runs once the request is over, when its Serve
// passed the request on: after the handler returned, after a later step
// answered, or after a panic (with s.Panic set and, when nothing was written
// yet, the 500 the Pipeline answered in the Writer). Finishers run innermost
// first, on the goroutine that ran the step. A step that holds something for
// the request (a slot, a count) releases it here.
type Finisher interface {
	Step
	Finish(s *State)
}

// Runner is a Step that runs the rest of the pipeline (the later steps and
// the handler) itself, instead of returning to the Pipeline: the timeout,
// which runs it on another goroutine and answers 504 when its time is up. It
// must call rest at most once, with a request whose context is still s (or a
// context over s).
type Runner interface {
	Step
	Run(w http.ResponseWriter, r *http.Request, s *State, rest func(http.ResponseWriter, *http.Request))
}

// Pipeline composes steps and a handler once. It is an http.Handler that
// makes the request's State and Writer and runs every step on them. A
// pipeline given as a step, or as the handler of serving's, is flattened into
// one; a pipeline nested behind other code (a chain behind a router's
// middlewares) makes a state of its own, starting from the outer one.
type Pipeline struct {
	steps []Step
	next  http.Handler
	// index of each Runner in steps, and the continuation it gets
	resume []func(http.ResponseWriter, *http.Request)
	// finishers holds, for each step, whether it is a Finisher
	finishers []Finisher
}

// New returns the pipeline of steps, in order, in front of next.
func New(next http.Handler, steps ...Step) *Pipeline {
	p := &Pipeline{next: next}
	for _, st := range steps {
		if st == nil {
			continue
		}
		if inner, ok := st.(*Pipeline); ok { // flatten
			p.steps = append(p.steps, inner.steps...)
			continue
		}
		p.steps = append(p.steps, st)
	}
	p.resume = make([]func(http.ResponseWriter, *http.Request), len(p.steps))
	p.finishers = make([]Finisher, len(p.steps))
	for i, st := range p.steps {
		if f, ok := st.(Finisher); ok {
			p.finishers[i] = f
		}
		if _, ok := st.(Runner); ok {
			p.resume[i] = func(w http.ResponseWriter, r *http.Request) { p.from(i+1, w, r, stateOf(r)) }
		}
	}
	return p
}

// Steps returns the pipeline's steps, in order.
func (p *Pipeline) Steps() []Step { return p.steps }

// Next returns the handler behind the steps.
func (p *Pipeline) Next() http.Handler { return p.next }

// Serve runs p's steps and handler as a step of an enclosing pipeline.
func (p *Pipeline) Serve(w http.ResponseWriter, r *http.Request, s *State) *http.Request {
	p.from(0, w, r, s)
	return nil
}

// ServeHTTP runs the steps, then the handler, on a new state of the request.
func (p *Pipeline) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := newState(w, r)
	defer s.end()
	p.from(0, &s.w, &s.req, s)
}

// from runs the steps from index i on, the handler, then the finishers of
// those steps.
func (p *Pipeline) from(i int, w http.ResponseWriter, r *http.Request, s *State) {
	n := len(p.steps)
	defer p.finish(i, s, &n)
	for ; i < len(p.steps); i++ {
		st := p.steps[i]
		if run := p.resume[i]; run != nil {
			n = i + 1
			st.(Runner).Run(w, r, s, run)
			return
		}
		if r = st.Serve(w, r, s); r == nil {
			n = i // a step that answered holds nothing to finish
			return
		}
		if s.wrapped != nil {
			w, s.wrapped = s.wrapped, nil
		}
	}
	p.next.ServeHTTP(w, r)
}

// finish runs the finishers of the steps from i to *n (those that ran),
// innermost first, once the request is over, also after a panic.
func (p *Pipeline) finish(i int, s *State, n *int) {
	if r := recover(); r != nil {
		s.panicked(r)
	}
	for j := *n - 1; j >= i; j-- {
		if f := p.finishers[j]; f != nil {
			f.Finish(s)
		}
	}
}

// Handler returns a func(http.Handler) http.Handler composing steps in front
// of the next handler, for steps used as a middleware of their own. Such
// middlewares nested in each other share one State, as steps of one Pipeline
// do.
func Handler(steps ...Step) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler { return New(next, steps...) }
}

// Kind tells what a step of the chain does, for a pipeline that places its
// own steps among the chain's (serving puts the audit and the in-flight
// limit after authentication, as kube-apiserver's DefaultBuildHandlerChain
// does). A step tells its kind with a method StepKind() Kind.
type Kind int

// The kinds of the chain's steps, in the order they run.
const (
	KindOther Kind = iota
	KindHealth
	KindAuthentication
	KindAttributes
	KindImpersonation
	KindAuthorization
	KindAdmission
)

// KindOf returns the kind of step: its StepKind(), or KindOther.
func KindOf(step Step) Kind {
	if k, ok := step.(interface{ StepKind() Kind }); ok {
		return k.StepKind()
	}
	return KindOther
}

// InsertAfter returns steps with more inserted after the last step of kind
// k, or at the end when there is none.
func InsertAfter(steps []Step, k Kind, more ...Step) []Step {
	at := len(steps)
	for i := len(steps) - 1; i >= 0; i-- {
		if KindOf(steps[i]) == k {
			at = i + 1
			break
		}
	}
	out := make([]Step, 0, len(steps)+len(more))
	out = append(out, steps[:at]...)
	out = append(out, more...)
	return append(out, steps[at:]...)
}

// InsertBefore returns steps with more inserted before the first step of
// kind k, or at the end when there is none.
func InsertBefore(steps []Step, k Kind, more ...Step) []Step {
	at := len(steps)
	for i, st := range steps {
		if KindOf(st) == k {
			at = i
			break
		}
	}
	out := make([]Step, 0, len(steps)+len(more))
	out = append(out, steps[:at]...)
	out = append(out, more...)
	return append(out, steps[at:]...)
}
