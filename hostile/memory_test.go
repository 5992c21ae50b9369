//go:build hostile

package hostile

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net/http"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aggauth/aggauth/authn"
)

const (
	// attackConns is the number of connections of the memory attack, each
	// with a certificate chain of its own.
	attackConns = 1000
	// memoryBound is how much more heap than before the attack may be in use
	// once its connections are closed and garbage is collected.
	memoryBound = 16 << 20
	mib         = 1 << 20
)

// TestUnauthenticatedClientsPinNoMemory drives the rule "no cache or queue can
// be filled by an unauthenticated client": 1,000 TLS connections, each
// presenting a different self-signed client certificate followed by 15
// distinct small intermediates (the longest chain aggauth verifies), plus one
// connection presenting 10×authn.MaxPresentedCertificates certificates, each
// claiming X-Remote-User: admin in one request (401) and then closed. Once
// the server has closed every connection and the garbage is collected, the
// heap in use may be at most 16 MiB above its level before the attack: the
// verification cache keeps only chains a trusted CA signed. Kubernetes'
// filters, which cache no verification at all, are the control.
func TestUnauthenticatedClientsPinNoMemory(t *testing.T) {
	p := thePKI()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	chains := make([]*tls.Certificate, attackConns)
	run(attackConns, 2, func(i int) {
		chains[i] = hostileChain(key, fmt.Sprintf("attacker-%d", i), authn.MaxPresentedCertificates-1, nil)
	})
	long := hostileChain(key, "attacker-long", 10*authn.MaxPresentedCertificates, nil)
	warmup := hostileChain(key, "attacker-warmup", 1, nil)

	retained := map[string]float64{}
	for _, build := range builders {
		im := build(t, p, chainOptions{})
		t.Run(im.name, func(t *testing.T) {
			s := serve(t, p, im.handler)
			attack := func(chain *tls.Certificate) int {
				tr := transport(p, chain, true)
				defer tr.CloseIdleConnections()
				code, err := send(context.Background(), &http.Client{Transport: tr, Timeout: 30 * time.Second},
					s.URL+resourcePath, "admin")
				if err != nil {
					t.Errorf("attack request: %v", err)
				}
				return code
			}
			require.Equal(t, http.StatusUnauthorized, attack(warmup)) // lazy initialisations happen now
			s.waitClosed(t, 5*time.Second)
			base := heapInUse()

			var refused atomic.Int64
			run(attackConns, 8, func(i int) {
				if attack(chains[i]) == http.StatusUnauthorized {
					refused.Add(1)
				}
			})
			assert.Equal(t, http.StatusUnauthorized, attack(long), "a chain of %d certificates", len(long.Certificate))
			assert.EqualValues(t, attackConns, refused.Load(), "hostile connections answered 401")
			assert.EqualValues(t, len(long.Certificate), s.mostPeerCerts.Load(), "longest chain the server received")
			s.waitClosed(t, 10*time.Second)

			var grown int64
			poll(2*time.Second, func() bool {
				grown = int64(heapInUse()) - int64(base)
				return grown <= memoryBound
			})
			retained[im.name] = float64(grown) / mib
			if im.name == "aggauth" {
				assert.LessOrEqual(t, grown, int64(memoryBound),
					"heap retained after %d hostile connections: got %.1f MiB; want at most 16 MiB", attackConns, float64(grown)/mib)
			}
		})
	}
	t.Logf("heap retained after %d hostile connections (%d certificates each, and one of %d): aggauth %.2f MiB, kubernetes %.2f MiB (bound 16 MiB)",
		attackConns, authn.MaxPresentedCertificates, len(long.Certificate), retained["aggauth"], retained["kubernetes"])
	runtime.KeepAlive(chains)
}

// heapInUse returns the bytes of live heap objects after two collections.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// hostileChain returns a TLS client certificate: a self-signed leaf whose
// CommonName and Organization are cn (with the clientAuth usage, and
// subjectKeyID when set), followed by extra distinct small self-signed CA
// certificates posing as intermediates. One key signs them all: generating a
// key costs more than signing.
func hostileChain(key *ecdsa.PrivateKey, cn string, extra int, subjectKeyID []byte) *tls.Certificate {
	now := time.Now()
	leaf := &x509.Certificate{
		SerialNumber: serialNumber(),
		Subject:      pkix.Name{CommonName: cn, Organization: []string{cn}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		SubjectKeyId: subjectKeyID,
	}
	c := &tls.Certificate{PrivateKey: key, Certificate: [][]byte{selfSign(leaf, key)}}
	for i := range extra {
		c.Certificate = append(c.Certificate, selfSign(&x509.Certificate{
			SerialNumber:          serialNumber(),
			Subject:               pkix.Name{CommonName: fmt.Sprintf("%.16s-%d", cn, i)},
			NotBefore:             now.Add(-time.Hour),
			NotAfter:              now.Add(24 * time.Hour),
			KeyUsage:              x509.KeyUsageCertSign,
			IsCA:                  true,
			BasicConstraintsValid: true,
		}, key))
	}
	return c
}

func selfSign(tmpl *x509.Certificate, key *ecdsa.PrivateKey) []byte {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		panic(err)
	}
	return der
}

func serialNumber() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		panic(err)
	}
	return n
}
