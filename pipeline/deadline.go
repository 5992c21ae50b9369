package pipeline

import (
	"context"
	"slices"
	"time"
)

// A Runner bounds the rest of a request in time with SetDeadline: the state,
// which is the request's context, then ends at the deadline or when its
// parent does, as a context.WithDeadline over it would, without the
// context's allocations and its timer goroutine. The Runner tells the state
// when it ends (End), from the goroutine that waits for the deadline.

// SetDeadline gives the rest of the request the deadline d, and bounds the
// request's Writer by it (see Writer). Only before the rest runs.
func (s *State) SetDeadline(d time.Time) {
	s.deadline, s.hasDeadline = d, true
	s.w.bound(s)
}

// End ends the state's context with err (context.DeadlineExceeded at the
// deadline, context.Canceled when its parent ended), once: Done is closed and
// the functions registered with AfterFunc run.
func (s *State) End(err error) {
	s.dmu.Lock()
	if s.err != nil {
		s.dmu.Unlock()
		return
	}
	s.err = err
	if s.done != nil {
		close(s.done)
	}
	fs := s.afterFuncs
	s.afterFuncs = nil
	s.dmu.Unlock()
	for _, f := range fs {
		go f.f()
	}
}

// afterFunc is a function registered with AfterFunc; id tells it apart.
type afterFunc struct {
	id uint64
	f  func()
}

// Deadline implements context.Context.
func (s *State) Deadline() (time.Time, bool) {
	if s.hasDeadline {
		return s.deadline, true
	}
	return s.parent.Deadline()
}

// Done implements context.Context. With a deadline, the channel is made on
// the first call: most handlers never ask.
func (s *State) Done() <-chan struct{} {
	if !s.hasDeadline {
		return s.parent.Done()
	}
	s.dmu.Lock()
	defer s.dmu.Unlock()
	if s.done == nil {
		s.done = make(chan struct{})
		if s.err != nil {
			close(s.done)
		}
	}
	return s.done
}

// Err implements context.Context.
func (s *State) Err() error {
	if !s.hasDeadline {
		return s.parent.Err()
	}
	s.dmu.Lock()
	err := s.err
	s.dmu.Unlock()
	switch {
	case err != nil:
		return err
	case s.parent.Err() != nil:
		return context.Canceled
	case !time.Now().Before(s.deadline):
		return context.DeadlineExceeded
	}
	return nil
}

// AfterFunc arranges for f to run on a goroutine of its own once the state's
// context ends, as context.AfterFunc; package context calls it for a context
// derived from the state, instead of starting a goroutine to watch it.
func (s *State) AfterFunc(f func()) (stop func() bool) {
	if !s.hasDeadline {
		return context.AfterFunc(s.parent, f)
	}
	s.dmu.Lock()
	defer s.dmu.Unlock()
	if s.err != nil {
		go f()
		return func() bool { return false }
	}
	s.nextID++
	id := s.nextID
	s.afterFuncs = append(s.afterFuncs, afterFunc{id, f})
	return func() bool {
		s.dmu.Lock()
		defer s.dmu.Unlock()
		n := len(s.afterFuncs)
		s.afterFuncs = slices.DeleteFunc(s.afterFuncs, func(a afterFunc) bool { return a.id == id })
		return len(s.afterFuncs) < n
	}
}
