package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/aggauth/aggauth/authn"
	"github.com/aggauth/aggauth/bench/load/fixture"
	"github.com/aggauth/aggauth/internal/testpki"
	"github.com/aggauth/aggauth/middleware"
)

// serving holds the server's TLS configuration, made by middleware.TLSConfig
// as an extension server makes it, and the client's, with the front proxy's
// certificate.
type serving struct {
	server *tls.Config
	client *tls.Config
}

func newServing(env *fixture.Env) (*serving, error) {
	ca := testpki.NewCA("serving-ca", testpki.ECDSA)
	cert := ca.Issue(testpki.Spec{
		CommonName: "api.widgets.svc", DNSNames: []string{"api.widgets.svc"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)},
		ExtKeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}).TLSCertificate()
	proxyCA, err := authn.NewCABundle(env.FrontProxyCA.PEM())
	if err != nil {
		return nil, err
	}
	clientCA, err := authn.NewCABundle(env.ClientCA.PEM())
	if err != nil {
		return nil, err
	}
	server, err := middleware.TLSConfig(middleware.TLSOptions{
		Certificate: &cert, ClientCAs: []authn.CAProvider{authn.StaticCA{Bundle: proxyCA}, authn.StaticCA{Bundle: clientCA}},
	})
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	client := &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{env.Proxy.TLSCertificate()}, MinVersion: tls.VersionTLS12}
	return &serving{server: server, client: client}, nil
}

// result is what one impl achieved.
type result struct {
	impl      string
	requests  int
	elapsed   time.Duration
	latencies []time.Duration // sorted
	errors    int64
	firstErr  error
	sars      int64         // reviews the SubjectAccessReview server received while measured
	conns     int64         // TCP connections the client opened
	cpu       time.Duration // CPU time of the process (client and server) while measured
}

// cpuPerRequest is the process's CPU time per request while measured.
func (r result) cpuPerRequest() time.Duration {
	if r.requests == 0 {
		return 0
	}
	return r.cpu / time.Duration(r.requests)
}

func (r result) rps() float64 { return float64(r.requests) / r.elapsed.Seconds() }

func (r result) percentile(p float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	i := int(float64(len(r.latencies))*p+0.5) - 1
	return r.latencies[max(0, min(i, len(r.latencies)-1))]
}

// target is one impl served on loopback, with its client and what it achieved.
type target struct {
	result
	driver *driver
	srv    *http.Server
	tr     *http.Transport
}

// serve serves h on loopback and opens the client's one connection with a
// first request.
func (s *serving) serve(impl string, h http.Handler, c fixture.Case) (*target, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	t := &target{srv: &http.Server{Handler: h, TLSConfig: s.server, ErrorLog: log.New(io.Discard, "", 0)}}
	t.impl = impl
	go func() { _ = t.srv.ServeTLS(ln, "", "") }()
	dialer := &net.Dialer{}
	t.tr = &http.Transport{
		TLSClientConfig: s.client.Clone(),
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			t.conns++
			return dialer.DialContext(ctx, network, addr)
		},
		Protocols: new(http.Protocols),
	}
	t.tr.Protocols.SetHTTP2(true)
	t.driver = &driver{client: &http.Client{Transport: t.tr}, url: "https://" + ln.Addr().String() + c.Path, c: c}
	if c.Query != "" {
		t.driver.url += "?" + c.Query
	}
	if _, err := t.driver.do(context.Background()); err != nil {
		t.close()
		return nil, err
	}
	return t, nil
}

func (t *target) close() {
	t.tr.CloseIdleConnections()
	t.srv.Close()
}

// round drives t for d and adds what it achieved, with the process's CPU time
// and the reviews the SubjectAccessReview server received meanwhile.
func (t *target) round(env *fixture.Env, streams int, d time.Duration) {
	sars, cpu := env.SAR.SARCounts().Received, cpuTime()
	r := t.driver.drive(streams, d, true)
	t.cpu += cpuTime() - cpu
	t.sars += env.SAR.SARCounts().Received - sars
	t.requests += r.requests
	t.elapsed += r.elapsed
	t.latencies = append(t.latencies, r.latencies...)
	t.errors += r.errors
	if t.firstErr == nil {
		t.firstErr = r.firstErr
	}
}

// cpuTime returns the user and system CPU time of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// driver sends the aggregator's request for one case.
type driver struct {
	client *http.Client
	url    string
	c      fixture.Case
}

// do sends one request and returns its latency.
func (d *driver) do(ctx context.Context) (time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, d.c.Method, d.url, nil)
	if err != nil {
		return 0, err
	}
	fixture.SetHeaders(req.Header)
	start := time.Now()
	resp, err := d.client.Do(req)
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

// drive runs streams concurrent request loops for duration; with record it
// returns the requests completed and their latencies.
func (d *driver) drive(streams int, duration time.Duration, record bool) result {
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
	for range streams {
		wg.Go(func() {
			var lats []time.Duration
			for ctx.Err() == nil {
				lat, err := d.do(ctx)
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
	return result{requests: len(all), elapsed: elapsed, latencies: all, errors: failures.Load(), firstErr: firstErr}
}
