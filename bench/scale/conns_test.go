//go:build scale

package scale

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/aggauth/aggauth/bench/load/fixture"
	"github.com/aggauth/aggauth/internal/testpki"
)

// connRun is one run of the connections simulation: conns callers, each on a
// connection of its own with a client certificate of its own, each sending
// perConn requests one after the other, all callers at once.
type connRun struct {
	impl           string
	conns, perConn int
	requests       int
	wall, cpu      time.Duration
	reviews        int64 // SubjectAccessReviews sent (one per caller: each is a new user)
	verifications  int   // x509 chain verifications: by construction, see connVerifications
}

// add counts o's run with r's: the same point, run again.
func (r *connRun) add(o *connRun) {
	r.requests += o.requests
	r.wall += o.wall
	r.cpu += o.cpu
	r.reviews += o.reviews
	r.verifications += o.verifications
}

func (r *connRun) cpuPerRequest() time.Duration { return r.cpu / time.Duration(max(1, r.requests)) }
func (r *connRun) rps() float64                 { return float64(r.requests) / r.wall.Seconds() }

// connVerifications is how many x509 verifications an implementation makes:
// Kubernetes' x509 authenticator verifies the chain on every request;
// aggauth's once per certificate (its verification cache, keyed by the
// connection and by the chain's content: authn's verifycache tests).
func connVerifications(impl string, conns, perConn int) int {
	if impl == "kubernetes" {
		return conns * perConn
	}
	return conns
}

// callers issues n client certificates from the environment's client CA,
// one user each.
func callers(env *fixture.Env, n int) []tls.Certificate {
	out := make([]tls.Certificate, n)
	for i := range out {
		out[i] = env.ClientCA.Issue(testpki.Spec{CommonName: fmt.Sprintf("caller-%d", i), Organizations: []string{"callers"}}).TLSCertificate()
	}
	return out
}

// runConns serves impl's chain in front of the list handler and drives it.
func runConns(env *fixture.Env, pair *fixture.TLSPair, impl string, certs []tls.Certificate, conns, perConn int) (*connRun, error) {
	var mw fixture.Middleware
	var err error
	switch impl {
	case "aggauth":
		mw, err = env.Aggauth()
	case "kubernetes":
		mw, err = env.Kubernetes()
	}
	if err != nil {
		return nil, err
	}
	c, _ := fixture.CaseNamed("list-labelselector")
	srv, err := pair.ServePlain(mw(fixture.Handler(c)))
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	url := "https://" + srv.Addr() + c.Path + "?" + c.Query
	r := &connRun{impl: impl, conns: conns, perConn: perConn, verifications: connVerifications(impl, conns, perConn)}
	reviews := env.SAR.SARCounts().Received
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		done     int
	)
	start, cpu0 := time.Now(), cpuTime()
	for i := range conns {
		tlsCfg := pair.Client.Clone()
		tlsCfg.Certificates = []tls.Certificate{certs[i]}
		tr := &http.Transport{TLSClientConfig: tlsCfg, Protocols: new(http.Protocols)}
		tr.Protocols.SetHTTP2(true)
		client := &http.Client{Transport: tr, Timeout: time.Minute}
		wg.Go(func() {
			defer tr.CloseIdleConnections()
			for range perConn {
				err := get(client, url, c.Status)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				if err == nil {
					done++
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	r.wall, r.cpu = time.Since(start), cpuTime()-cpu0
	r.requests = done
	r.reviews = env.SAR.SARCounts().Received - reviews
	return r, firstErr
}

func get(client *http.Client, url string, status int) error {
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != status || resp.ProtoMajor != 2 {
		return fmt.Errorf("got %s %d; want HTTP/2 %d", resp.Proto, resp.StatusCode, status)
	}
	return nil
}

// cpuTime returns the user and system CPU time of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
