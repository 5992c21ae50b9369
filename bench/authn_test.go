package bench

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"testing"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/request/headerrequest"
	k8sx509 "k8s.io/apiserver/pkg/authentication/request/x509"

	"github.com/aggauth/aggauth/authn"
	"github.com/aggauth/aggauth/internal/testpki"
)

// authnProxyRequest returns a function that fills req with what the aggregator
// sends for a typical user: a root-issued front-proxy certificate, the user, two
// groups and the credential-id extra.
func authnProxyRequest(proxy *testpki.Cert) (*http.Request, func()) {
	req, _ := http.NewRequest(http.MethodGet, "https://ext.example/apis/demo.aggauth.io/v1/namespaces/default/widgets", nil)
	req.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{proxy.Cert}}
	reset := func() {
		req.Header = http.Header{
			"X-Remote-User":  {"alice"},
			"X-Remote-Group": {"dev", "system:authenticated"},
			"X-Remote-Extra-Authentication.kubernetes.io%2fcredential-Id": {"X509SHA256=7e3c9f1b2a"},
			"Accept":          {"application/json"},
			"User-Agent":      {"kubectl/v1.37.2"},
			"X-Forwarded-For": {"10.0.0.1"},
		}
	}
	return req, reset
}

// authnKubernetesFrontProxy is k8s.io/apiserver's front-proxy authenticator as an
// extension server builds it from the extension-apiserver-authentication ConfigMap.
func authnKubernetesFrontProxy(ca *testpki.Cert) authenticator.Request {
	opts := k8sx509.DefaultVerifyOptions()
	opts.Roots = x509.NewCertPool()
	opts.Roots.AddCert(ca.Cert)
	type s = headerrequest.StaticStringSlice
	return headerrequest.NewDynamicVerifyOptionsSecure(k8sx509.StaticVerifierFn(opts), s{"front-proxy-client"},
		s{"X-Remote-User"}, s{}, s{"X-Remote-Group"}, s{"X-Remote-Extra-"})
}

func authnOurFrontProxy(b *testing.B, ca *testpki.Cert) authenticator.Request {
	bundle, err := authn.NewCABundle(ca.PEM())
	if err != nil {
		b.Fatal(err)
	}
	fp, err := authn.NewFrontProxy(authn.FrontProxyOptions{
		Config: authn.NewDynamicRequestHeader(authn.NewRequestHeaderConfig(bundle, "front-proxy-client")),
	})
	if err != nil {
		b.Fatal(err)
	}
	return fp
}

// BenchmarkAuthnFrontProxy: one warm authenticated request through the front-proxy
// authenticator, ours and Kubernetes', same certificate and headers.
func BenchmarkAuthnFrontProxy(b *testing.B) {
	for _, key := range []struct {
		name string
		typ  testpki.KeyType
	}{{"ecdsa", testpki.ECDSA}, {"rsa", testpki.RSA}} {
		ca := testpki.NewCA("front-proxy-ca", key.typ)
		proxy := ca.Issue(testpki.Spec{CommonName: "front-proxy-client", Key: key.typ})
		for _, impl := range []struct {
			name string
			auth func(*testing.B) authenticator.Request
		}{
			{"aggauth", func(b *testing.B) authenticator.Request { return authnOurFrontProxy(b, ca) }},
			{"kubernetes", func(*testing.B) authenticator.Request { return authnKubernetesFrontProxy(ca) }},
		} {
			b.Run("key="+key.name+"/impl="+impl.name, func(b *testing.B) {
				auth := impl.auth(b)
				req, reset := authnProxyRequest(proxy)
				reset()
				if _, ok, err := auth.AuthenticateRequest(req); !ok || err != nil {
					b.Fatalf("not authenticated: %v", err)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					reset()
					if _, ok, err := auth.AuthenticateRequest(req); !ok || err != nil {
						b.Fatalf("not authenticated: %v", err)
					}
				}
			})
		}
	}
	b.Run("baseline=headers-only", func(b *testing.B) {
		// The cost of rebuilding the request headers, paid by every case above.
		_, reset := authnProxyRequest(testpki.NewCA("x", testpki.ECDSA))
		b.ReportAllocs()
		for b.Loop() {
			reset()
		}
	})
}

// BenchmarkAuthnFrontProxyCold: the paths the verification cache cannot
// shorten, ours and Kubernetes' side by side.
//
//   - case=new-connection: the aggregator's certificate on a connection not seen
//     before (a new *tls.ConnectionState and certificate objects each request,
//     cycling through 1,024 parsed copies): ours hashes the chain and finds the
//     verification by content; Kubernetes verifies.
//   - case=rejected: a different self-signed certificate each request (4,096 of
//     them, more than the failure cache holds, so each one misses it): both
//     verify and refuse.
func BenchmarkAuthnFrontProxyCold(b *testing.B) {
	ca := testpki.NewCA("front-proxy-ca", testpki.ECDSA)
	proxy := ca.Issue(testpki.Spec{CommonName: "front-proxy-client"})
	copies := make([]*x509.Certificate, 1024)
	for i := range copies {
		c, err := x509.ParseCertificate(proxy.Cert.Raw)
		if err != nil {
			b.Fatal(err)
		}
		copies[i] = c
	}
	hostile := make([]*x509.Certificate, 4096)
	for i := range hostile {
		hostile[i] = testpki.NewCA("front-proxy-client", testpki.ECDSA).Cert
	}
	for _, tc := range []struct {
		name  string
		certs []*x509.Certificate
		ok    bool
	}{{"new-connection", copies, true}, {"rejected", hostile, false}} {
		for _, impl := range []struct {
			name string
			auth func(*testing.B) authenticator.Request
		}{
			{"aggauth", func(b *testing.B) authenticator.Request { return authnOurFrontProxy(b, ca) }},
			{"kubernetes", func(*testing.B) authenticator.Request { return authnKubernetesFrontProxy(ca) }},
		} {
			b.Run("case="+tc.name+"/impl="+impl.name, func(b *testing.B) {
				auth := impl.auth(b)
				req, reset := authnProxyRequest(proxy)
				b.ReportAllocs()
				i := 0
				for b.Loop() {
					reset()
					req.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{tc.certs[i%len(tc.certs)]}}
					i++
					if _, ok, err := auth.AuthenticateRequest(req); ok != tc.ok || (err == nil) != tc.ok {
						b.Fatalf("ok=%v err=%v; want ok=%v", ok, err, tc.ok)
					}
				}
			})
		}
	}
}
