package serving

import (
	"crypto/tls"
	"errors"
	"log/slog"
	"sync"
)

// TLSConfigSource builds the serving TLS configuration for a certificate and
// key file. *aggauth.Chain implements it: its configuration advertises the
// client CAs the chain trusts, as they change, and reloads the certificate
// when its files change (see TLSConfig). The Server applies its
// TLS flags (minimum version, cipher suites, curves, HTTP/2) on top.
type TLSConfigSource interface {
	TLSConfig(certFile, keyFile string) (*tls.Config, error)
}

// tlsSettings are the TLS flags, applied to every configuration the source
// hands out.
type tlsSettings struct {
	minVersion   uint16
	cipherSuites []uint16
	curves       []tls.CurveID
	nextProtos   []string
}

func newTLSSettings(o Options) (tlsSettings, error) {
	minVersion, err1 := tlsVersion(o.MinTLSVersion)
	suites, err2 := cipherSuites(o.CipherSuites)
	curves, err3 := curvePreferences(o.CurvePreferences)
	if err := errors.Join(err1, err2, err3); err != nil {
		return tlsSettings{}, err
	}
	t := tlsSettings{minVersion: minVersion, cipherSuites: suites, curves: curves, nextProtos: []string{"h2", "http/1.1"}}
	if o.DisableHTTP2 {
		t.nextProtos = []string{"http/1.1"}
	}
	return t, nil
}

func (t tlsSettings) apply(c *tls.Config) {
	c.MinVersion = t.minVersion
	if t.cipherSuites != nil {
		c.CipherSuites = t.cipherSuites
	}
	if t.curves != nil {
		c.CurvePreferences = t.curves
	}
	c.NextProtos = t.nextProtos
}

// serverTLSConfig returns src's configuration for the files (or, without a
// source, TLSConfig's, which advertises no client CA) with the
// settings applied, also to the configurations its GetConfigForClient returns.
func serverTLSConfig(src TLSConfigSource, certFile, keyFile string, t tlsSettings, logger *slog.Logger) (*tls.Config, error) {
	var cfg *tls.Config
	var err error
	if src != nil {
		cfg, err = src.TLSConfig(certFile, keyFile)
	} else {
		cfg, err = TLSConfig(TLSOptions{CertFile: certFile, KeyFile: keyFile, Logger: logger})
	}
	if err != nil {
		return nil, err
	}
	if cfg == nil {
		return nil, errors.New("serving: the TLS configuration source returned no configuration")
	}
	out := cfg.Clone()
	t.apply(out)
	if inner := out.GetConfigForClient; inner != nil {
		out.GetConfigForClient = (&tunedConfigs{inner: inner, settings: t}).get
	}
	return out, nil
}

// tunedConfigs applies the settings to the configurations a
// GetConfigForClient returns, once per configuration: the source hands out
// the same one until its client CAs change.
type tunedConfigs struct {
	inner    func(*tls.ClientHelloInfo) (*tls.Config, error)
	settings tlsSettings

	mu      sync.Mutex // guards in and out
	in, out *tls.Config
}

func (tc *tunedConfigs) get(hello *tls.ClientHelloInfo) (*tls.Config, error) {
	cfg, err := tc.inner(hello)
	if cfg == nil || err != nil {
		return cfg, err
	}
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if cfg != tc.in {
		out := cfg.Clone()
		tc.settings.apply(out)
		tc.in, tc.out = cfg, out
	}
	return tc.out, nil
}
