package authn

import (
	"crypto/tls"
	"net/http"
	"testing"

	"github.com/aggauth/aggauth/internal/testpki"
)

func TestVerifyCacheStaysWithinItsBound(t *testing.T) {
	ca := testpki.NewCA("ca", testpki.ECDSA)
	b, err := NewCABundle(ca.PEM())
	if err != nil {
		t.Fatal(err)
	}
	fp, err := NewFrontProxy(FrontProxyOptions{Config: NewDynamicRequestHeader(NewRequestHeaderConfig(b)), CacheSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		leaf := ca.Issue(testpki.Spec{CommonName: "front-proxy-client"})
		req := &http.Request{Header: http.Header{"X-Remote-User": {"bob"}}, TLS: &tls.ConnectionState{PeerCertificates: nil}}
		req.TLS.PeerCertificates = append(req.TLS.PeerCertificates, leaf.Cert)
		if _, ok, err := fp.AuthenticateRequest(req); err != nil || !ok {
			t.Fatalf("#%d: ok=%v err=%v", i, ok, err)
		}
		if n := fp.cache.lru.Len(); n > 3 {
			t.Fatalf("cache holds %d entries; want at most 3", n)
		}
	}
}
