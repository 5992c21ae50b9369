package authn_test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http/httptest"

	"github.com/aggauth/aggauth/authn"
	"github.com/aggauth/aggauth/internal/testpki"
)

func ExampleNewUnion() {
	// In a cluster the front-proxy CA comes from the ConfigMap
	// kube-system/extension-apiserver-authentication (ConfigMapSource).
	proxyCA := testpki.NewCA("front-proxy-ca", testpki.ECDSA)
	bundle, err := authn.NewCABundle(proxyCA.PEM())
	if err != nil {
		panic(err)
	}
	config := authn.NewDynamicRequestHeader(authn.NewRequestHeaderConfig(bundle, "front-proxy-client"))
	fp, err := authn.NewFrontProxy(authn.FrontProxyOptions{Config: config})
	if err != nil {
		panic(err)
	}
	union, err := authn.NewUnion(authn.UnionOptions{FrontProxy: fp})
	if err != nil {
		panic(err)
	}

	// What the aggregator sends: its certificate and the user in headers.
	proxy := proxyCA.Issue(testpki.Spec{CommonName: "front-proxy-client"})
	req := httptest.NewRequest("GET", "/apis/demo.aggauth.io/v1/widgets", nil)
	req.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{proxy.Cert}}
	req.Header.Set("X-Remote-User", "alice")
	req.Header.Add("X-Remote-Group", "dev")
	resp, ok, err := union.AuthenticateRequest(req)
	fmt.Println(ok, err, resp.User.GetName(), resp.User.GetGroups())

	// The same headers from a certificate the front-proxy CA did not sign.
	stranger := testpki.NewCA("front-proxy-client", testpki.ECDSA)
	req.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{stranger.Cert}}
	req.Header.Set("X-Remote-User", "alice")
	_, ok, err = union.AuthenticateRequest(req)
	fmt.Println(ok, authn.FailureReason(err))
	// Output:
	// true <nil> alice [dev system:authenticated]
	// false certificate_invalid
}
