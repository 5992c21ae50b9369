package serving

import (
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"slices"

	certutil "k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"
)

// Names of the certificate pair in --cert-dir, as the generic apiserver's
// (GeneratableKeyCert.PairName "apiserver").
const (
	certFileName = "apiserver.crt"
	keyFileName  = "apiserver.key"
)

// certFiles returns the serving certificate and key files: o's own, or
// CertDir's pair, generated self-signed when neither file exists, as
// Kubernetes' SecureServingOptions.MaybeDefaultWithSelfSignedCerts does: valid
// for localhost, 127.0.0.1 and ::1, bind when it is a specific address, and
// o.SelfSignedNames. An existing pair is used as it is, even expired, as in
// Kubernetes; delete it to have a new one generated.
func certFiles(o Options, bind net.IP, logger *slog.Logger) (certFile, keyFile string, err error) {
	if o.CertFile != "" {
		return o.CertFile, o.KeyFile, nil
	}
	certFile = filepath.Join(o.CertDir, certFileName)
	keyFile = filepath.Join(o.CertDir, keyFileName)
	exists, err := certutil.CanReadCertAndKey(certFile, keyFile)
	if err != nil {
		return "", "", fmt.Errorf("serving: --cert-dir: %w", err)
	}
	if exists {
		return certFile, keyFile, nil
	}
	ips, dns := selfSignedNames(bind, o.SelfSignedNames)
	cert, key, err := certutil.GenerateSelfSignedCertKey("localhost", ips, dns)
	if err != nil {
		return "", "", fmt.Errorf("serving: unable to generate self signed cert: %w", err)
	}
	if err := certutil.WriteCert(certFile, cert); err != nil {
		return "", "", fmt.Errorf("serving: --cert-dir: %w", err)
	}
	if err := keyutil.WriteKey(keyFile, key); err != nil {
		return "", "", fmt.Errorf("serving: --cert-dir: %w", err)
	}
	logger.Info("generated a self-signed serving certificate", "cert", certFile, "key", keyFile)
	return certFile, keyFile, nil
}

// selfSignedNames returns the addresses and DNS names, besides localhost, of a
// generated certificate.
func selfSignedNames(bind net.IP, names []string) (ips []net.IP, dns []string) {
	ips = []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	add := func(ip net.IP) {
		if !slices.ContainsFunc(ips, ip.Equal) {
			ips = append(ips, ip)
		}
	}
	if bind != nil && !bind.IsUnspecified() {
		add(bind)
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			add(ip)
		} else if n != "localhost" && !slices.Contains(dns, n) {
			dns = append(dns, n)
		}
	}
	return ips, dns
}
