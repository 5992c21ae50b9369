package serving

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// TLSOptions configures the serving TLS configuration of an extension server.
type TLSOptions struct {
	// CertFile and KeyFile are the PEM serving certificate and key
	// (--tls-cert-file, --tls-private-key-file). They are re-read when either file
	// changes (checked at most once per CheckInterval, on a handshake); a broken
	// update keeps the last good pair. Required unless Certificate is set. The
	// aggregator verifies the name <service>.<namespace>.svc.
	CertFile, KeyFile string

	// Certificate, when set, is used instead of CertFile and KeyFile.
	Certificate *tls.Certificate

	// ClientCAs are advertised to clients as acceptable certificate
	// authorities, usually the front-proxy CA and the client CA (the
	// aggauth.Chain gives them): each function returns the certificates in
	// force, the same slice as long as they do not change, and is asked on
	// every handshake. The handshake only asks for a certificate; it never
	// verifies one: the authenticators do, per request, so that a CA change
	// applies at once, as in kube-apiserver. Default: none advertised.
	ClientCAs []func() []*x509.Certificate

	// CheckInterval is the least time between two checks of CertFile and KeyFile.
	// Default: 10s.
	CheckInterval time.Duration

	// Logger receives serving-certificate reload errors. Default: slog.Default().
	Logger *slog.Logger

	// Clock, for tests. Default: the real clock.
	Clock clock.PassiveClock
}

// TLSConfig returns a server *tls.Config for an extension apiserver: TLS 1.2 or
// later, HTTP/2 and HTTP/1.1, client certificates requested but not required
// (tls.RequestClientCert, as kube-apiserver), the current client CAs advertised on
// every handshake, and the serving certificate reloaded when its files change.
func TLSConfig(opts TLSOptions) (*tls.Config, error) {
	getCert, err := servingCertificate(opts)
	if err != nil {
		return nil, err
	}
	base := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"h2", "http/1.1"},
		ClientAuth:     tls.RequestClientCert,
		GetCertificate: getCert,
	}
	if len(opts.ClientCAs) == 0 {
		return base, nil
	}
	adv := &advertiser{base: base, providers: opts.ClientCAs}
	cfg := base.Clone()
	cfg.GetConfigForClient = adv.configForClient
	return cfg, nil
}

// advertiser builds, once per set of CA certificates, the config whose
// ClientCAs lists them.
type advertiser struct {
	base      *tls.Config
	providers []func() []*x509.Certificate

	mu    sync.Mutex // guards certs and cfg
	certs [][]*x509.Certificate
	cfg   *tls.Config
}

func (a *advertiser) configForClient(*tls.ClientHelloInfo) (*tls.Config, error) {
	certs := make([][]*x509.Certificate, len(a.providers))
	for i, p := range a.providers {
		certs[i] = p()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cfg != nil && slices.EqualFunc(certs, a.certs, sameSlice) {
		return a.cfg, nil
	}
	pool := x509.NewCertPool()
	for _, cs := range certs {
		for _, c := range cs {
			pool.AddCert(c)
		}
	}
	cfg := a.base.Clone()
	cfg.ClientCAs = pool
	a.certs, a.cfg = certs, cfg
	return cfg, nil
}

// sameSlice reports whether a and b are the same slice (a provider returns
// the same one while its certificates do not change).
func sameSlice(a, b []*x509.Certificate) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

func servingCertificate(opts TLSOptions) (func(*tls.ClientHelloInfo) (*tls.Certificate, error), error) {
	if opts.Certificate != nil {
		c := opts.Certificate
		return func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return c, nil }, nil
	}
	if opts.CertFile == "" || opts.KeyFile == "" {
		return nil, errors.New("serving: TLSOptions needs CertFile and KeyFile, or Certificate")
	}
	r := &keyPairReloader{certFile: opts.CertFile, keyFile: opts.KeyFile,
		interval: opts.CheckInterval, logger: opts.Logger, clock: opts.Clock}
	if r.interval <= 0 {
		r.interval = 10 * time.Second
	}
	if r.logger == nil {
		r.logger = slog.Default()
	}
	if r.clock == nil {
		r.clock = clock.RealClock{}
	}
	if err := r.load(); err != nil {
		return nil, err
	}
	return r.get, nil
}

// keyPairReloader serves a certificate read from files and re-reads them when their
// size or modification time changes.
type keyPairReloader struct {
	certFile, keyFile string
	interval          time.Duration
	logger            *slog.Logger
	clock             clock.PassiveClock

	mu      sync.Mutex // guards the fields below
	cert    *tls.Certificate
	stamp   [2]fileStamp
	checked time.Time
}

type fileStamp struct {
	size int64
	mod  time.Time
}

func (s fileStamp) same(o fileStamp) bool { return s.size == o.size && s.mod.Equal(o.mod) }

func stampOf(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{fi.Size(), fi.ModTime()}, nil
}

func (r *keyPairReloader) load() error {
	cs, err1 := stampOf(r.certFile)
	ks, err2 := stampOf(r.keyFile)
	if err := errors.Join(err1, err2); err != nil {
		return fmt.Errorf("serving: serving certificate: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("serving: serving certificate: %w", err)
	}
	r.cert, r.stamp = &cert, [2]fileStamp{cs, ks}
	return nil
}

func (r *keyPairReloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.clock.Now()
	if now.Sub(r.checked) < r.interval {
		return r.cert, nil
	}
	r.checked = now
	cs, err1 := stampOf(r.certFile)
	ks, err2 := stampOf(r.keyFile)
	if err1 == nil && err2 == nil && cs.same(r.stamp[0]) && ks.same(r.stamp[1]) {
		return r.cert, nil
	}
	if err := r.load(); err != nil {
		r.logger.Error("keeping the last good serving certificate", "err", err)
	}
	return r.cert, nil
}
