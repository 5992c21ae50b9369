package serving

import (
	"crypto/tls"
	"fmt"
	"math"
	"slices"
	"strings"
)

// The TLS flags are read with the names and rules of
// k8s.io/component-base/cli/flag (TLSCipherSuites, TLSVersion,
// TLSCurvePreferences), re-implemented because that package pulls in cobra and
// text/template; a test compares them. Unlike Kubernetes, insecure cipher
// suites and TLS versions before 1.2 are refused.

const tlsVersion13 = tls.VersionTLS13

// secureCiphers maps the cipher suite names Kubernetes accepts as secure to
// their IDs: crypto/tls's names plus two legacy ChaCha20 names.
var secureCiphers = func() map[string]uint16 {
	m := map[string]uint16{
		"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305":   tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305": tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	}
	for _, s := range tls.CipherSuites() {
		m[s.Name] = s.ID
	}
	return m
}()

// preferredCipherNames returns the accepted cipher suite names, sorted.
func preferredCipherNames() []string {
	names := make([]string, 0, len(secureCiphers))
	for n := range secureCiphers {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// cipherSuites returns the IDs of the named cipher suites; nil for none.
func cipherSuites(names []string) ([]uint16, error) {
	if len(names) == 0 {
		return nil, nil
	}
	ids := make([]uint16, 0, len(names))
	for _, n := range names {
		id, ok := secureCiphers[n]
		if !ok {
			if isInsecureCipher(n) {
				return nil, fmt.Errorf("serving: --tls-cipher-suites: cipher suite %s is insecure", n)
			}
			return nil, fmt.Errorf("serving: --tls-cipher-suites: cipher suite %s not supported or doesn't exist", n)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func isInsecureCipher(name string) bool {
	for _, s := range tls.InsecureCipherSuites() {
		if s.Name == name {
			return true
		}
	}
	return false
}

// hasHTTP2Suite reports whether ids hold a TLS 1.2 suite HTTP/2 requires
// (RFC 7540, 9.2.2).
func hasHTTP2Suite(ids []uint16) bool {
	return slices.Contains(ids, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256) ||
		slices.Contains(ids, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)
}

// tlsVersion returns the version named; TLS 1.2 for "".
func tlsVersion(name string) (uint16, error) {
	switch name {
	case "", "VersionTLS12":
		return tls.VersionTLS12, nil
	case "VersionTLS13":
		return tls.VersionTLS13, nil
	case "VersionTLS10", "VersionTLS11":
		return 0, fmt.Errorf("serving: --tls-min-version %s is insecure (RFC 8996): use VersionTLS12 or VersionTLS13", name)
	}
	return 0, fmt.Errorf("serving: --tls-min-version: unknown tls version %q", name)
}

// curvePreferences returns the curves of the IDs given; nil for none.
func curvePreferences(ids []int32) ([]tls.CurveID, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	out := make([]tls.CurveID, 0, len(ids))
	for _, id := range ids {
		if id <= 0 || id > math.MaxUint16 {
			return nil, fmt.Errorf("serving: --tls-curve-preferences: curve preference %d is out of range (must be 1-%d)", id, math.MaxUint16)
		}
		c := tls.CurveID(id)
		if slices.Contains(out, c) {
			return nil, fmt.Errorf("serving: --tls-curve-preferences: duplicate curve preference %d", id)
		}
		if strings.HasPrefix(c.String(), "CurveID(") {
			return nil, fmt.Errorf("serving: --tls-curve-preferences: curve preference %d is not supported by the current Go version", id)
		}
		out = append(out, c)
	}
	return out, nil
}
