package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aggauth/aggauth/bench/load/fixture"
)

// round is what one impl achieved in one round.
type round struct {
	requests int
	elapsed  time.Duration
	cpu      time.Duration // CPU time of the process (client and server)
}

func (r round) rps() float64 { return float64(r.requests) / r.elapsed.Seconds() }

// result is what one impl achieved over every round.
type result struct {
	impl      string
	rounds    []round
	latencies []time.Duration // sorted
	errors    int64
	firstErr  error
	sars      int64 // reviews the SubjectAccessReview server received while measured
	conns     int64 // TCP connections the client opened
}

func (r *result) total() round {
	var t round
	for _, x := range r.rounds {
		t.requests += x.requests
		t.elapsed += x.elapsed
		t.cpu += x.cpu
	}
	return t
}

// cpuPerRequest is the process's CPU time per request while measured.
func (r *result) cpuPerRequest() time.Duration {
	t := r.total()
	if t.requests == 0 {
		return 0
	}
	return t.cpu / time.Duration(t.requests)
}

func (r *result) rps() float64 { return r.total().rps() }

func (r *result) percentile(p float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	i := int(float64(len(r.latencies))*p+0.5) - 1
	return r.latencies[max(0, min(i, len(r.latencies)-1))]
}

// target is one impl served on loopback, with its clients and what it
// achieved.
type target struct {
	result
	driver *driver
	srv    fixture.Server
	trs    []*http.Transport

	connsOpened *atomic.Int64
}

// serve serves h on loopback (through serving.New when viaServing, else
// fixture.TunedServer) and opens the client's conns connections, one HTTP/2
// connection per transport, each with a first request.
func serve(t *fixture.TLSPair, impl string, h http.Handler, c fixture.Case, conns int, viaServing bool) (*target, error) {
	var srv fixture.Server
	var err error
	if viaServing {
		srv, err = t.ServeServing(h)
	} else {
		srv, err = t.ServePlain(h)
	}
	if err != nil {
		return nil, err
	}
	tg := &target{srv: srv}
	tg.impl = impl
	d := &driver{url: "https://" + srv.Addr() + c.Path, c: c}
	if c.Query != "" {
		d.url += "?" + c.Query
	}
	dialer := &net.Dialer{}
	var opened atomic.Int64
	for range conns {
		tr := &http.Transport{
			TLSClientConfig: t.Client.Clone(),
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				opened.Add(1)
				return dialer.DialContext(ctx, network, addr)
			},
			Protocols: new(http.Protocols),
		}
		tr.Protocols.SetHTTP2(true)
		tg.trs = append(tg.trs, tr)
		d.clients = append(d.clients, &http.Client{Transport: tr})
	}
	tg.driver = d
	for i := range d.clients {
		if _, err := d.do(context.Background(), i); err != nil {
			tg.close()
			return nil, err
		}
	}
	tg.connsOpened = &opened
	return tg, nil
}

func (t *target) close() {
	for _, tr := range t.trs {
		tr.CloseIdleConnections()
	}
	t.srv.Close()
}

// measure drives t for d and records the round, with the process's CPU time
// and the reviews the SubjectAccessReview server received meanwhile.
func (t *target) measure(env *fixture.Env, streams int, d time.Duration) {
	sars, cpu := env.SAR.SARCounts().Received, cpuTime()
	r := t.driver.drive(streams, d, true)
	r.round.cpu = cpuTime() - cpu
	t.sars += env.SAR.SARCounts().Received - sars
	t.rounds = append(t.rounds, r.round)
	t.latencies = append(t.latencies, r.latencies...)
	t.errors += r.errors
	if t.firstErr == nil {
		t.firstErr = r.firstErr
	}
	t.conns = t.connsOpened.Load()
}

// cpuTime returns the user and system CPU time of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// auditIDs numbers the requests' audit IDs.
var auditIDs atomic.Uint64

// sendAuditIDs: each request carries an Audit-ID of its own, as
// kube-apiserver's aggregator sends it. Off, the requests are those of the
// harness before it did (to compare with results of then): the client's HPACK
// table then holds every header, where a new value each request costs the
// client a table eviction and the server a decoded string.
var sendAuditIDs = flag.Bool("audit-ids", true, "send each request's own Audit-ID, as kube-apiserver's aggregator does")

// driver sends the aggregator's request for one case, over its clients (one
// connection each).
type driver struct {
	clients []*http.Client
	url     string
	c       fixture.Case
}

// do sends one request over client i and returns its latency.
func (d *driver) do(ctx context.Context, i int) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, d.c.Method, d.url, nil)
	if err != nil {
		return 0, err
	}
	fixture.SetHeaders(req.Header)
	if *sendAuditIDs { // kube-apiserver's aggregator sends each request's own audit ID
		req.Header["Audit-Id"] = []string{fmt.Sprintf("00000000-0000-4000-8000-%012x", auditIDs.Add(1))}
	}
	start := time.Now()
	resp, err := d.clients[i].Do(req)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	lat := time.Since(start)
	switch {
	case err != nil:
		return 0, err
	case resp.StatusCode != d.c.Status:
		return 0, fmt.Errorf("got status %d; want %d", resp.StatusCode, d.c.Status)
	case resp.ProtoMajor != 2:
		return 0, fmt.Errorf("got %s; want HTTP/2", resp.Proto)
	}
	return lat, nil
}

// driven is what one drive achieved.
type driven struct {
	round
	latencies []time.Duration
	errors    int64
	firstErr  error
}

// drive runs streams concurrent request loops for duration, spread evenly
// over the clients; with record it returns the requests completed and their
// latencies.
func (d *driver) drive(streams int, duration time.Duration, record bool) driven {
	ctx, cancel := context.WithTimeout(context.Background(), duration)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		all      []time.Duration
		failures atomic.Int64
		firstErr error
	)
	start := time.Now()
	for s := range streams {
		wg.Go(func() {
			var lats []time.Duration
			for ctx.Err() == nil {
				lat, err := d.do(ctx, s%len(d.clients))
				switch {
				case err == nil:
					lats = append(lats, lat)
				case ctx.Err() == nil || !errors.Is(err, context.DeadlineExceeded):
					if failures.Add(1) == 1 {
						mu.Lock()
						firstErr = err
						mu.Unlock()
					}
				}
			}
			if record {
				mu.Lock()
				all = append(all, lats...)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(all)
	return driven{round: round{requests: len(all), elapsed: elapsed}, latencies: all, errors: failures.Load(), firstErr: firstErr}
}
