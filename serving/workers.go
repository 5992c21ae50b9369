package serving

import (
	"sync"
	"sync/atomic"
	"time"
)

// workerIdle is how long an idle worker waits for a request before it ends.
const workerIdle = 10 * time.Second

// workers are the goroutines that run the handlers of requests with a
// deadline (Timeout). A request takes an idle one, or starts a new one, and
// gives it back once done: a worker's stack has grown to what the handlers
// need, so the next request does not pay for that growth again, nor for a
// goroutine's creation. Workers are as many as the requests with a deadline
// at the busiest moment, each ends after workerIdle without one, and a
// handler that never returns keeps its worker, as it would keep its own
// goroutine.
var workers = &workerPool{}

type workerPool struct {
	mu   sync.Mutex // guards idle
	idle []*worker
}

// worker runs one job at a time: a job is sent on jobs, and its end (when in
// time: the request's goroutine still waits for it) on done. timer is the
// deadline the request's goroutine waits for, reused from job to job. A
// worker is idle again once both the request's goroutine (done with the
// timer) and the worker (done with the job) have released it: refs counts
// them down from 2.
type worker struct {
	jobs  chan job
	done  chan struct{}
	timer *time.Timer
	refs  atomic.Int32
}

// release is called once by the request's goroutine and once by the worker;
// the second call makes the worker idle.
func (wk *worker) release(p *workerPool) {
	if wk.refs.Add(-1) == 0 {
		p.put(wk)
	}
}

// get returns an idle worker, or a new one.
func (p *workerPool) get() *worker {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		wk := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return wk
	}
	p.mu.Unlock()
	wk := &worker{jobs: make(chan job, 1), done: make(chan struct{}, 1), timer: time.NewTimer(time.Hour)}
	wk.timer.Stop()
	go wk.loop(p)
	return wk
}

// put makes wk idle again.
func (p *workerPool) put(wk *worker) {
	p.mu.Lock()
	p.idle = append(p.idle, wk)
	p.mu.Unlock()
}

// retire takes wk out of the idle workers, and reports whether it was there
// (it is not once a request took it).
func (p *workerPool) retire(wk *worker) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, x := range p.idle {
		if x == wk {
			p.idle = append(p.idle[:i], p.idle[i+1:]...)
			return true
		}
	}
	return false
}

func (wk *worker) loop(p *workerPool) {
	idle := time.NewTimer(workerIdle)
	defer idle.Stop()
	for {
		select {
		case j := <-wk.jobs:
			if j.run() {
				wk.done <- struct{}{}
			}
			wk.release(p)
			idle.Reset(workerIdle)
		case <-idle.C:
			if p.retire(wk) {
				return
			}
			idle.Reset(workerIdle) // taken meanwhile: its job is on the way
		}
	}
}
