// Package httpserver builds the http.Server of the generic apiserver
// (secure_serving.go), with HTTP/2 tuned for an aggregated server: the one
// package serving runs, and the one the load test and the scale model serve
// every impl with, so that their ratios isolate the request path in front of
// the handler.
package httpserver

import (
	"crypto/tls"
	"log"
	"math"
	"net/http"
	"time"
)

// HTTP server settings of the generic apiserver (secure_serving.go).
const (
	maxHeaderBytes    = 1 << 20
	idleTimeout       = 90 * time.Second // http.DefaultTransport's keep-alive
	readHeaderTimeout = 32 * time.Second // just shy of Kubernetes' request timeout upper bound
	// HTTP2BufferPerStream is the HTTP/2 read frame size and per-stream
	// receive buffer: at least 99% of serialized resources are smaller.
	HTTP2BufferPerStream = 256 << 10
)

// New returns the server of h over tlsCfg: HTTP/1.1, and HTTP/2 unless
// disableHTTP2, with streams concurrent streams per connection; net/http's
// error log goes to errorLog.
func New(h http.Handler, tlsCfg *tls.Config, disableHTTP2 bool, streams int, errorLog *log.Logger) *http.Server {
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	protocols.SetHTTP2(!disableHTTP2)
	return &http.Server{
		Handler:           h,
		TLSConfig:         tlsCfg,
		Protocols:         protocols,
		MaxHeaderBytes:    maxHeaderBytes,
		IdleTimeout:       idleTimeout, // HTTP/2's too
		ReadHeaderTimeout: readHeaderTimeout,
		ErrorLog:          errorLog,
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams:      streams,
			MaxReadFrameSize:          HTTP2BufferPerStream,
			MaxReceiveBufferPerStream: HTTP2BufferPerStream,
			// Kubernetes computes this in an int32 that overflows beyond
			// 8191 streams; it is capped here instead.
			MaxReceiveBufferPerConnection: int(min(int64(HTTP2BufferPerStream)*int64(streams), math.MaxInt32)),
		},
	}
}
