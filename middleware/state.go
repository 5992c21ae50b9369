package middleware

import (
	"context"
	"net/http"
	"time"

	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/aggauth/aggauth/internal/reqattr"
	"github.com/aggauth/aggauth/requestinfo"
)

// step is one stage of the request path, implemented once and used both by its
// own Handler and by the Chain. serve reads and records what it needs in s,
// and either returns the request to go on with (r, or a copy of r it changed:
// it never changes the caller's request) or writes the refusal and returns
// nil.
type step interface {
	serve(w http.ResponseWriter, r *http.Request, s *requestState) *http.Request
}

// requestState is what the steps know of one request, in one allocation. It
// is written by a step before the next one runs, and only read afterwards.
//
// Once published (see publish) it is also the request's context and holds
// the request handed to the next handler: a context.Context layer over the
// caller's context that answers request.UserFrom, request.RequestInfoFrom
// and this package's getters itself, so that the chain costs one allocation
// for its state, its context values and its copy of the request, instead of
// one for each.
type requestState struct {
	// parent is the context of the request s was published over; nil until
	// then. Deadline, Done and Err are its own.
	parent context.Context
	// req is the request handed on, whose context is s.
	req http.Request

	user     user.Info          // who is calling (after impersonation, who it runs as)
	attrs    reqattr.Attributes // the RequestInfo and authorizer attributes
	resolved bool               // attrs holds the resolved request
	decision authorizer.Decision
	reason   string
	decided  bool // the request was authorized
	// newUser and newInfo are set when a step changed the user or resolved the
	// request, until publish makes them visible in the context.
	newUser, newInfo bool
	// layered is set once s is the context of a request.
	layered bool
	// ctxUser and ctxInfo are what s answers as a context for
	// request.UserFrom and request.RequestInfoFrom: the user and RequestInfo
	// the steps had set when s was first published (nil: the parent's).
	// Like parent, they are written once, before s becomes a context, and
	// never after: a context is read from any goroutine, and one saved by a
	// filter must keep telling what it told (a later change, such as
	// impersonation's, is published in a context layer of its own).
	ctxUser user.Info
	ctxInfo *request.RequestInfo
}

// setUser records that the request runs as u from now on.
func (s *requestState) setUser(u user.Info) {
	s.user, s.newUser = u, true
	if s.resolved {
		s.attrs.User = u
	}
}

// resolve resolves r into s.attrs (anew, also after a foreign filter's
// RequestInfo).
func (s *requestState) resolve(r *http.Request) error {
	s.attrs = reqattr.Attributes{}
	err := s.attrs.Init(r, s.user)
	s.resolved, s.newInfo = err == nil, err == nil
	return err
}

// requestStateKey is the context key of *requestState.
type requestStateKey struct{}

func stateFrom(ctx context.Context) *requestState {
	s, _ := ctx.Value(requestStateKey{}).(*requestState)
	return s
}

// stateOf returns the state a previous step of this package stored in r's
// context, or a new one, with what filters of others stored there since: the
// user of request.WithUser, and the RequestInfo of request.WithRequestInfo when
// no step resolved the request.
func stateOf(r *http.Request) *requestState {
	ctx := r.Context()
	s := stateFrom(ctx)
	if s == nil {
		s = new(requestState)
	}
	if ctx == context.Context(s) { // nothing was stored since s was published
		return s
	}
	if u, ok := request.UserFrom(ctx); ok && u != nil {
		s.user = u
		s.attrs.User = u
	}
	if !s.resolved {
		if info, ok := request.RequestInfoFrom(ctx); ok && info != nil {
			s.attrs = reqattr.Attributes{}
			s.attrs.InitFromRequestInfo(s.user, info)
			s.resolved = true
		}
	}
	return s
}

// publish returns r, or a copy of r whose context carries what changed in s:
// the user for request.UserFrom, the RequestInfo for request.RequestInfoFrom,
// and s itself for the getters of this package.
//
// The first time, s itself becomes the copy's context (see requestState),
// over whatever r's context holds (a state stored there before, as a value,
// is then shadowed by s), and the copy is s.req: no allocation. A later
// change (impersonation's user, or a step composed after filters of others)
// is published over r's context as context values, leaving what s answers
// as it was.
func (s *requestState) publish(r *http.Request) *http.Request {
	ctx := r.Context()
	if !s.layered {
		s.parent, s.layered = ctx, true
		if s.newUser {
			s.ctxUser = s.user
		}
		if s.newInfo {
			s.ctxInfo = s.attrs.RequestInfo()
		}
		s.newUser, s.newInfo = false, false
		s.req = *r.WithContext(s)
		return &s.req
	}
	changed := stateFrom(ctx) != s || s.newUser || s.newInfo
	if !changed {
		return r
	}
	if s.newUser {
		ctx = request.WithUser(ctx, s.user)
	}
	if s.newInfo {
		ctx = request.WithRequestInfo(ctx, s.attrs.RequestInfo())
	}
	if stateFrom(ctx) != s {
		ctx = context.WithValue(ctx, requestStateKey{}, s)
	}
	s.newUser, s.newInfo = false, false
	return r.WithContext(ctx)
}

// Deadline implements context.Context: the parent's.
func (s *requestState) Deadline() (time.Time, bool) { return s.parent.Deadline() }

// Done implements context.Context: the parent's.
func (s *requestState) Done() <-chan struct{} { return s.parent.Done() }

// Err implements context.Context: the parent's.
func (s *requestState) Err() error { return s.parent.Err() }

// Value implements context.Context: s for this package's getters, the user
// for request.UserFrom and the RequestInfo for request.RequestInfoFrom, once
// set; anything else is the parent's.
func (s *requestState) Value(key any) any {
	switch key {
	case any(requestStateKey{}):
		return s
	case userKey:
		if s.ctxUser != nil {
			return s.ctxUser
		}
	case requestInfoKey:
		if s.ctxInfo != nil {
			return s.ctxInfo
		}
	}
	return s.parent.Value(key)
}

// String describes the context, as the standard library's contexts do.
func (s *requestState) String() string { return "aggauth request state" }

// userKey and requestInfoKey are the keys under which k8s.io/apiserver's
// request package stores the user and the RequestInfo (unexported there),
// found by asking its getters.
var userKey, requestInfoKey = contextKeys()

// keyProbe records the key it is asked for.
type keyProbe struct {
	context.Context
	key any
}

func (p *keyProbe) Value(key any) any { p.key = key; return nil }

func contextKeys() (userKey, infoKey any) {
	p := &keyProbe{Context: context.Background()}
	request.UserFrom(p)
	userKey = p.key
	p.key = nil
	request.RequestInfoFrom(p)
	infoKey = p.key
	if userKey == nil || infoKey == nil || userKey == infoKey {
		panic("middleware: cannot find k8s.io/apiserver's request context keys")
	}
	return userKey, infoKey
}

// handler runs st as a middleware of its own: it finds or makes the state,
// runs st, and publishes what st recorded before next runs.
func handler(st step, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := stateOf(r)
		if r = st.serve(w, r, s); r != nil {
			next.ServeHTTP(w, s.publish(r))
		}
	})
}

// AttributesFrom returns the authorizer attributes of the request, resolved by
// RequestAttributes (or the Chain): what was authorized, for the user it runs
// as.
func AttributesFrom(ctx context.Context) (authorizer.Attributes, bool) {
	s := stateFrom(ctx)
	if s == nil || !s.resolved {
		return nil, false
	}
	return &s.attrs, true
}

// DecisionFrom returns the decision and reason of the authorizer that allowed
// the request; ok is false when no Authorization step ran.
func DecisionFrom(ctx context.Context) (d authorizer.Decision, reason string, ok bool) {
	s := stateFrom(ctx)
	if s == nil || !s.decided {
		return authorizer.DecisionNoOpinion, "", false
	}
	return s.decision, s.reason, true
}

// SelectorsFrom returns the label and field selectors of a list, watch or
// deletecollection request, parsed once: a handler that returns objects must
// apply them (requestinfo.Filter), as Kubernetes' storage does. A selector that
// does not parse, or selects on a field other than metadata.name and
// metadata.namespace, is a 400 BadRequest Status error: answer it with
// WriteStatus. A request without selectors, or one the steps did not resolve,
// selects everything.
func SelectorsFrom(ctx context.Context) (requestinfo.Selectors, error) {
	s := stateFrom(ctx)
	if s == nil || !s.resolved {
		return requestinfo.Everything, nil
	}
	label, field, err := s.attrs.Selectors()
	if err != nil {
		return requestinfo.Selectors{}, badRequest(err.Error())
	}
	return requestinfo.NewSelectors(label, field)
}
