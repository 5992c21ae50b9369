package fakekube

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"
)

// maxReviewBytes is the largest review body read: kube-apiserver's limit on
// a request body (--max-request-bytes' default, 3 MB).
const maxReviewBytes = 3 * 1024 * 1024

// RawError, returned by an AuthorizeFunc or AuthenticateFunc, makes the server
// answer Body as it is, with Code: not a Status, as a proxy between the client
// and kube-apiserver might. Any other error is answered as kube-apiserver
// answers an API error: its Status (an apierrors.APIStatus; else a 500
// InternalError) as JSON with its code, and no Retry-After header (client-go
// would sleep on it before the code under test saw the error).
type RawError struct {
	Code int
	Body string
}

func (e *RawError) Error() string { return fmt.Sprintf("%d %s", e.Code, e.Body) }

// Counts are the counts of the reviews of one kind the server received.
type Counts struct {
	Received  int64 // decoded, whether answered or not
	Active    int64 // received and not yet answered
	MaxActive int64 // the most ever Active at once
	Cancelled int64 // held or delayed, whose client went away before the answer
}

// counters count the reviews of one kind.
type counters struct {
	received, active, maxActive, cancelled atomic.Int64
}

// begin counts a received review as active, until the returned function is
// called.
func (c *counters) begin() (end func()) {
	c.received.Add(1)
	n := c.active.Add(1)
	for m := c.maxActive.Load(); n > m && !c.maxActive.CompareAndSwap(m, n); m = c.maxActive.Load() {
	}
	return func() { c.active.Add(-1) }
}

func (c *counters) counts() Counts {
	return Counts{Received: c.received.Load(), Active: c.active.Load(), MaxActive: c.maxActive.Load(), Cancelled: c.cancelled.Load()}
}

// SARCounts returns the counts of SubjectAccessReviews.
func (s *Server) SARCounts() Counts { return s.sars.counts() }

// TokenReviewCounts returns the counts of TokenReviews.
func (s *Server) TokenReviewCounts() Counts { return s.tokenReviews.counts() }

// Reviews returns the SubjectAccessReviews received so far (none with
// Options.DiscardReviews).
func (s *Server) Reviews() []authorizationv1.SubjectAccessReview {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reviews)
}

// ReviewBodies returns the SubjectAccessReviews received so far as their
// clients sent them (JSON or protobuf), in the order of Reviews.
func (s *Server) ReviewBodies() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.bodies)
}

// SetAuthorize replaces how SubjectAccessReviews are answered; nil allows
// everything.
func (s *Server) SetAuthorize(f AuthorizeFunc) {
	if f == nil {
		f = func(authorizationv1.SubjectAccessReviewSpec) (authorizationv1.SubjectAccessReviewStatus, error) {
			return authorizationv1.SubjectAccessReviewStatus{Allowed: true, Reason: "fakekube allows everything"}, nil
		}
	}
	s.mu.Lock()
	s.authorize = f
	s.mu.Unlock()
}

// SetAuthenticate replaces how TokenReviews are answered; nil authenticates
// no token.
func (s *Server) SetAuthenticate(f AuthenticateFunc) {
	if f == nil {
		f = func(authenticationv1.TokenReviewSpec) (authenticationv1.TokenReviewStatus, error) {
			return authenticationv1.TokenReviewStatus{}, nil
		}
	}
	s.mu.Lock()
	s.authent = f
	s.mu.Unlock()
}

// Hold makes every review, received now or later, wait (without
// Options.Latency) until release is called, its client goes away (counted as
// cancelled) or the server closes (unanswered). Release is safe to call
// twice; reviews received after it are answered as usual.
func (s *Server) Hold() (release func()) {
	gate := make(chan struct{})
	s.mu.Lock()
	s.gate = gate
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			if s.gate == gate {
				s.gate = nil
			}
			s.mu.Unlock()
			close(gate)
		})
	}
}

// wait holds a review while the server is held (gate is set), else for the
// latency, and reports whether to answer it: not when its client went away
// (counted in c). When the server closes meanwhile, it aborts the response.
func (s *Server) wait(r *http.Request, gate chan struct{}, c *counters) bool {
	var delay <-chan time.Time
	if gate == nil {
		if s.latency <= 0 {
			return true
		}
		timer := time.NewTimer(s.latency)
		defer timer.Stop()
		delay = timer.C
	}
	select {
	case <-gate:
	case <-delay:
	case <-r.Context().Done():
		c.cancelled.Add(1)
		return false
	case <-s.closing:
		panic(http.ErrAbortHandler) // no answer at all, not an empty one
	}
	return true
}

// decodeReview reads a review, sent as JSON or protobuf, into obj; it answers
// 400 and returns nil when it cannot.
func decodeReview(w http.ResponseWriter, r *http.Request, obj runtime.Object) []byte {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxReviewBytes))
	if err == nil {
		_, _, err = scheme.Codecs.UniversalDeserializer().Decode(body, nil, obj)
	}
	if err != nil {
		writeError(w, apierrors.NewBadRequest(err.Error()))
		return nil
	}
	return body
}

// review answers a SubjectAccessReview with the AuthorizeFunc in force, after
// the latency or the hold, and records it.
func (s *Server) review(w http.ResponseWriter, r *http.Request) {
	var sar authorizationv1.SubjectAccessReview
	body := decodeReview(w, r, &sar)
	if body == nil {
		return
	}
	s.mu.Lock()
	if s.keep {
		s.reviews = append(s.reviews, sar)
		s.bodies = append(s.bodies, body)
	}
	gate, authorize := s.gate, s.authorize
	s.mu.Unlock()
	defer s.sars.begin()()
	if !s.wait(r, gate, &s.sars) {
		return
	}
	status, err := authorize(sar.Spec)
	if err != nil {
		writeFailure(w, err)
		return
	}
	sar.TypeMeta = metav1.TypeMeta{APIVersion: "authorization.k8s.io/v1", Kind: "SubjectAccessReview"}
	sar.Status = status
	writeObject(w, http.StatusCreated, &sar)
}

// tokenReview answers a TokenReview with the AuthenticateFunc in force, after
// the latency or the hold.
func (s *Server) tokenReview(w http.ResponseWriter, r *http.Request) {
	var tr authenticationv1.TokenReview
	if decodeReview(w, r, &tr) == nil {
		return
	}
	s.mu.Lock()
	gate, authenticate := s.gate, s.authent
	s.mu.Unlock()
	defer s.tokenReviews.begin()()
	if !s.wait(r, gate, &s.tokenReviews) {
		return
	}
	status, err := authenticate(tr.Spec)
	if err != nil {
		writeFailure(w, err)
		return
	}
	tr.TypeMeta = metav1.TypeMeta{APIVersion: "authentication.k8s.io/v1", Kind: "TokenReview"}
	tr.Status = status
	writeObject(w, http.StatusCreated, &tr)
}

// writeFailure answers err as RawError describes.
func writeFailure(w http.ResponseWriter, err error) {
	var raw *RawError
	if errors.As(err, &raw) {
		w.WriteHeader(raw.Code)
		_, _ = io.WriteString(w, raw.Body)
		return
	}
	var se apierrors.APIStatus
	if !errors.As(err, &se) {
		se = apierrors.NewInternalError(err)
	}
	writeStatus(w, se.Status())
}
