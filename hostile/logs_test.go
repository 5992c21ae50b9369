//go:build hostile

package hostile

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/klog/v2"
)

const (
	logRequests   = 1000
	logPathBytes  = 100 << 10 // each request's path
	logBound      = 512       // log bytes per request
	logNameBytes  = 4 << 10   // the certificate's CommonName and Organization
	logSubjectKey = 4 << 10   // the certificate's subject key identifier
)

// logSink collects what a logger writes, safely from many goroutines.
type logSink struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	lines int
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lines += bytes.Count(p, []byte{'\n'})
	return s.buf.Write(p)
}

func (s *logSink) size() (bytes, lines int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Len(), s.lines
}

// TestLogAmplification drives the rule "logs carry no unbounded
// client-controlled text": 1,000 unauthenticated requests (8 keep-alive
// HTTP/1.1 connections), each with a 100 KB path made of escapes (%0A: a
// newline for a naive logger) and an X-Remote-User header, from a self-signed
// certificate whose CommonName and Organization are 4 KB each and whose subject
// key identifier is 4 KB. aggauth's chain logs a refusal with its reason and
// the path cut to 64 bytes, a few lines a second at most: at most 512 log bytes
// per request on average. Kubernetes' WithAuthentication logs every refusal
// through klog with the verification error, which names the certificate by
// serial number and key identifiers: the control reports its klog bytes.
func TestLogAmplification(t *testing.T) {
	p := thePKI()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	longName := strings.Repeat("attacker\n", logNameBytes/9)
	chain := hostileChain(key, longName, 0, bytes.Repeat([]byte{0xab}, logSubjectKey))
	path := resourcePath + "/" + strings.Repeat("x%0Ay", logPathBytes/5)

	perRequest := map[string]float64{}
	lines := map[string]int{}
	for _, build := range builders {
		sink := &logSink{}
		im := build(t, p, chainOptions{logger: slog.New(slog.NewTextHandler(sink, nil))})
		t.Run(im.name, func(t *testing.T) {
			s := serve(t, p, im.handler)
			if im.name == "kubernetes" {
				klog.SetOutput(sink)
				defer klog.SetOutput(io.Discard)
			}
			tr := transport(p, chain, false)
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr, Timeout: time.Minute}
			var refused atomic.Int64
			run(logRequests, 8, func(int) {
				code, err := send(context.Background(), c, s.URL+path, "admin")
				assert.NoError(t, err)
				if code == http.StatusUnauthorized {
					refused.Add(1)
				}
			})
			klog.Flush()
			assert.EqualValues(t, logRequests, refused.Load(), "requests answered 401")
			n, l := sink.size()
			perRequest[im.name], lines[im.name] = float64(n)/logRequests, l
			if im.name == "aggauth" {
				assert.LessOrEqual(t, perRequest[im.name], float64(logBound),
					"log bytes per hostile request: got %.1f; want at most %d", perRequest[im.name], logBound)
			}
		})
	}
	t.Logf("log bytes per unauthenticated request (%d KB path, %d KB certificate names and key id): aggauth %.1f B (%d lines), kubernetes %.1f B (%d lines) (bound %d B)",
		logPathBytes>>10, logNameBytes>>10, perRequest["aggauth"], lines["aggauth"], perRequest["kubernetes"], lines["kubernetes"], logBound)
}
