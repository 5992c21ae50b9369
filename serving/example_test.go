package serving_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"

	"github.com/aggauth/aggauth/serving"
)

// Serve a handler on loopback with a self-signed certificate, make one request
// over HTTP/2, and shut down. In a real server the options come from the
// command line (AddFlags), the TLS configuration source and the handler from
// the chain (serving.New(*opts, chain, chain.Handler(mux))), and the context
// ends on SIGTERM.
func Example() {
	dir, err := os.MkdirTemp("", "serving-example-")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ln, err := net.Listen("tcp", "127.0.0.1:0") // instead of --bind-address and --secure-port
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "hello") })

	opts := serving.Options{Listener: ln, CertDir: dir, Logger: slog.New(slog.DiscardHandler)}
	srv, err := serving.New(opts, nil, mux) // generates dir/apiserver.crt and apiserver.key
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()

	// The client trusts the generated certificate (followed by its CA).
	pem, err := os.ReadFile(filepath.Join(dir, "apiserver.crt"))
	if err != nil {
		log.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}, ForceAttemptHTTP2: true}
	resp, err := (&http.Client{Transport: tr}).Get("https://" + srv.Addr().String() + "/hello")
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	tr.CloseIdleConnections()
	fmt.Print(resp.Proto, " ", resp.Status, ": ", string(body))
	fmt.Println("Cache-Control:", resp.Header.Get("Cache-Control"))

	stop() // as SIGTERM would
	fmt.Println("Run returned:", <-done)
	// Output:
	// HTTP/2.0 200 OK: hello
	// Cache-Control: no-cache, private
	// Run returned: <nil>
}
