package audit

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"

	"github.com/aggauth/aggauth/internal/logs"
)

// sink writes encoded events (Kubernetes' log backend, wrapped as
// --audit-log-mode says).
type sink interface {
	// write writes or queues one line (an encoded event, its newline
	// included), which it must not keep past the call. It reports false
	// when the line was not stored and the caller should fail
	// (blocking-strict only).
	write(line []byte) bool
	// shutdown stops taking events, writes what was taken (waiting for the
	// writer as long as ctx allows) and closes the log. It may be called
	// more than once.
	shutdown(ctx context.Context) error
}

// errShutDown is logged for events that arrive after shutdown.
var errShutDown = errors.New("audit backend shut down")

// output is what both sinks share: the writer, what to close, the failures.
type output struct {
	out    io.Writer
	closer io.Closer
	m      *metrics
	log    *logs.Limited
}

// put writes line, counting and logging a failure (without the event: it
// holds text clients choose).
func (o *output) put(line []byte) (ok bool) {
	defer func() {
		if v := recover(); v != nil {
			o.fail(pluginLog, errors.New("audit log writer panicked"))
			ok = false
		}
	}()
	if _, err := o.out.Write(line); err != nil {
		o.fail(pluginLog, err)
		return false
	}
	return true
}

func (o *output) fail(plugin string, err error) {
	switch plugin {
	case pluginLog:
		o.m.errLog.Inc()
	case pluginBuffered:
		o.m.errBuffered.Inc()
	case pluginTruncate:
		o.m.errTruncate.Inc()
	}
	o.log.Log(slog.LevelError, "audit event not written", "plugin", plugin, "err", logs.Cut(err.Error(), logs.MaxQuotedError))
}

func (o *output) close() error {
	if o.closer == nil {
		return nil
	}
	return o.closer.Close()
}

// blockingSink writes each line before returning (ModeBlocking and
// ModeBlockingStrict): a slow writer slows the requests down, as in
// Kubernetes. Writes are serialized.
type blockingSink struct {
	output
	strict bool

	mu     sync.Mutex // guards closed and the writes
	closed bool
	once   sync.Once
	done   chan struct{}
	err    error // of close, set before done is closed
}

func newBlockingSink(o output, strict bool) *blockingSink {
	return &blockingSink{output: o, strict: strict, done: make(chan struct{})}
}

func (s *blockingSink) write(line []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		s.fail(pluginLog, errShutDown)
		return !s.strict
	}
	return s.put(line) || !s.strict
}

func (s *blockingSink) shutdown(ctx context.Context) error {
	s.once.Do(func() {
		go func() { // waits for a write in progress, however long
			s.mu.Lock()
			s.closed = true
			s.err = s.close()
			s.mu.Unlock()
			close(s.done)
		}()
	})
	select {
	case <-s.done:
		return s.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// batchSink queues lines in a buffer bounded in lines and bytes, written by
// one goroutine in batches (ModeBatch): a line that finds the buffer full is
// dropped and counted, as Kubernetes' buffered backend drops it. The bytes of
// a batch count until it is written, so that a stalled writer holds at most
// BufferBytes.
type batchSink struct {
	output
	queue    chan *[]byte // lines, from linePool
	batch    []*[]byte    // the batch being collected; the goroutine's own
	bytes    atomic.Int64
	maxBytes int64
	maxBatch int
	maxWait  time.Duration
	throttle *rate.Limiter // nil: none

	mu     sync.RWMutex // write holds it shared; shutdown sets closed exclusively
	closed bool
	once   sync.Once
	stop   chan struct{}
	done   chan struct{} // closed when the goroutine has written everything
}

func newBatchSink(o output, b BatchOptions) *batchSink {
	s := &batchSink{output: o, queue: make(chan *[]byte, b.BufferSize), maxBytes: b.BufferBytes,
		maxBatch: b.MaxSize, maxWait: b.MaxWait, stop: make(chan struct{}), done: make(chan struct{})}
	if b.ThrottleEnable {
		s.throttle = rate.NewLimiter(rate.Limit(b.ThrottleQPS), b.ThrottleBurst)
	}
	go s.run()
	return s
}

func (s *batchSink) write(line []byte) bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		s.fail(pluginBuffered, errShutDown)
		return true
	}
	n := int64(len(line))
	if s.bytes.Add(n) > s.maxBytes {
		s.bytes.Add(-n)
		s.fail(pluginBuffered, errors.New("audit buffer full (bytes)"))
		return true
	}
	lp := linePool.Get().(*[]byte)
	*lp = append((*lp)[:0], line...)
	select {
	case s.queue <- lp:
	default:
		s.bytes.Add(-n)
		putLine(lp)
		s.fail(pluginBuffered, errors.New("audit buffer queue blocked"))
	}
	return true
}

// linePool holds the lines of the batch buffer once written.
var linePool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func putLine(lp *[]byte) {
	if cap(*lp) <= maxPooledBuf {
		linePool.Put(lp)
	}
}

// run writes batches until shutdown, then what is left.
func (s *batchSink) run() {
	defer close(s.done)
	var timer *time.Timer
	if s.maxBatch > 1 {
		timer = time.NewTimer(s.maxWait)
		defer timer.Stop()
	}
	for {
		if timer != nil {
			timer.Reset(s.maxWait)
		}
		s.flush(s.collect(timer))
		select {
		case <-s.stop:
			for batch := s.drain(); len(batch) > 0; batch = s.drain() {
				s.flush(batch)
			}
			return
		default:
		}
	}
}

// collect waits for up to maxBatch lines, until the timer fires or shutdown.
func (s *batchSink) collect(timer *time.Timer) []*[]byte {
	var fired <-chan time.Time
	if timer != nil {
		fired = timer.C
	}
	batch := s.batch[:0]
	for len(batch) < s.maxBatch {
		select {
		case line := <-s.queue:
			batch = append(batch, line)
		case <-fired:
			return batch
		case <-s.stop:
			return batch
		}
	}
	return batch
}

// drain takes up to maxBatch lines without waiting.
func (s *batchSink) drain() []*[]byte {
	batch := s.batch[:0]
	for len(batch) < s.maxBatch {
		select {
		case line := <-s.queue:
			batch = append(batch, line)
		default:
			return batch
		}
	}
	return batch
}

// flush writes batch, then gives its bytes back to the buffer.
func (s *batchSink) flush(batch []*[]byte) {
	s.batch = batch[:0]
	if len(batch) == 0 {
		return
	}
	if s.throttle != nil {
		_ = s.throttle.Wait(context.Background())
	}
	var n int64
	for i, lp := range batch {
		s.put(*lp)
		n += int64(len(*lp))
		putLine(lp)
		batch[i] = nil
	}
	s.bytes.Add(-n)
}

func (s *batchSink) shutdown(ctx context.Context) error {
	s.once.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.stop)
	})
	select {
	case <-s.done:
	case <-ctx.Done():
		return ctx.Err()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closer == nil {
		return nil
	}
	err := s.close()
	s.closer = nil
	return err
}
