package serving

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apiserver/pkg/endpoints/request"
)

// Defaults of Options, Kubernetes' own (k8s.io/apiserver/pkg/server/options:
// NewSecureServingOptions, NewRecommendedOptions, NewServerRunOptions).
const (
	// DefaultSecurePort is --secure-port's default, as the generic apiserver's.
	DefaultSecurePort = 443
	// DefaultCertDir is --cert-dir's default, relative to the working directory.
	DefaultCertDir = "apiserver.local.config/certificates"
	// DefaultHTTP2MaxStreamsPerConnection is Kubernetes' default for an
	// aggregated apiserver, "whose client is typically a proxy multiplexing
	// many operations into one HTTP/2 connection".
	DefaultHTTP2MaxStreamsPerConnection = 1000
	// DefaultRequestTimeout is --request-timeout's default.
	DefaultRequestTimeout = 60 * time.Second
	// MaxGoawayChance is the largest --goaway-chance Kubernetes accepts.
	MaxGoawayChance = 0.02
	// DefaultMaxRequestsInFlight is --max-requests-inflight's default.
	DefaultMaxRequestsInFlight = 400
	// DefaultMaxMutatingRequestsInFlight is
	// --max-mutating-requests-inflight's default.
	DefaultMaxMutatingRequestsInFlight = 200
	// DefaultMaxRequestBodyBytes is the generic apiserver's
	// MaxRequestBodyBytes (3 MiB), --max-request-body-bytes's default: the
	// same as objects.DefaultMaxBodyBytes.
	DefaultMaxRequestBodyBytes = 3 << 20
)

// Options configures New. Start from NewOptions (Kubernetes' defaults) and bind
// them to flags with AddFlags, or fill them in code: the zero value works too
// and means the same defaults. Each field names its flag and its default.
type Options struct {
	// BindAddress is the IP address to listen on (--bind-address). Default
	// 0.0.0.0: every interface and address family.
	BindAddress net.IP
	// SecurePort is the HTTPS port (--secure-port). Default 443, as the generic
	// apiserver's; set it before AddFlags for another default (the example
	// servers default to 8443). 0 also means 443: Kubernetes reads 0
	// as "do not serve HTTPS", which a Server has no use for. To let the
	// system choose a port, set Listener.
	SecurePort int
	// Listener, when set, is served instead of listening on BindAddress and
	// SecurePort (tests, socket activation). New takes it over: the Server
	// closes it, and so does New when it fails.
	Listener net.Listener
	// PermitPortSharing sets SO_REUSEPORT on the listening socket
	// (--permit-port-sharing), so that several processes may listen on the
	// same address and port. Default false. For rolling restarts on one
	// port on Linux, set the sysctl net.ipv4.tcp_migrate_req=1 (Linux 5.14
	// and later): else the connections queued on the old process's listener
	// when it closes are reset (measured: 49 of 100 queued connections lost
	// with 0, none with 1; e2e scenario 15 sets it).
	PermitPortSharing bool
	// PermitAddressSharing sets SO_REUSEADDR on the listening socket
	// (--permit-address-sharing). Default false.
	PermitAddressSharing bool

	// CertFile and KeyFile are the PEM serving certificate (followed by its
	// intermediates) and key (--tls-cert-file, --tls-private-key-file), re-read
	// when they change. Default: a self-signed pair in CertDir.
	CertFile, KeyFile string
	// CertDir is where, when CertFile and KeyFile are not set, the serving
	// certificate is read from (apiserver.crt, apiserver.key) or, when absent,
	// generated self-signed for localhost, 127.0.0.1 and SelfSignedNames
	// (--cert-dir). Default apiserver.local.config/certificates.
	CertDir string
	// SelfSignedNames are further DNS names or IP addresses the generated
	// certificate is valid for, such as <service>.<namespace>.svc. Default none.
	SelfSignedNames []string
	// MinTLSVersion is the least TLS version accepted (--tls-min-version):
	// VersionTLS12 or VersionTLS13. Default VersionTLS12. Kubernetes also
	// accepts VersionTLS10 and VersionTLS11; they are refused here (RFC 8996).
	MinTLSVersion string
	// CipherSuites are the TLS 1.2 cipher suites allowed, by Go name
	// (--tls-cipher-suites), as Kubernetes accepts them; insecure suites are
	// refused. Default: Go's defaults.
	CipherSuites []string
	// CurvePreferences are the key exchange mechanisms allowed, as numeric
	// crypto/tls CurveID values (--tls-curve-preferences). Default: Go's.
	CurvePreferences []int32

	// DisableHTTP2 serves HTTP/1.1 only (--disable-http2-serving). Default
	// false.
	DisableHTTP2 bool
	// HTTP2MaxStreamsPerConnection is the number of concurrent streams each
	// HTTP/2 client may open (--http2-max-streams-per-connection). Default
	// 1000, Kubernetes' default for aggregated apiservers; 0 also means 1000
	// (Kubernetes reads 0 as 100). Each stream may buffer 256 KiB of request
	// body, and a connection that many streams' worth (at most 2 GiB).
	HTTP2MaxStreamsPerConnection int

	// RequestTimeout bounds every request that is not long-running
	// (--request-timeout); a request's ?timeout= may shorten it. It also
	// bounds the wait for in-flight requests at shutdown. Default 60s.
	RequestTimeout time.Duration
	// LongRunning reports, in addition to watch requests, which requests are
	// long-running: they have no deadline, are never sent a GOAWAY, and are
	// cancelled rather than waited for at shutdown. Default: watch requests
	// only, as the generic apiserver (plus /debug/pprof/ paths). Declare your
	// exec, log or proxy subresources here.
	LongRunning request.LongRunningRequestCheck
	// MaxRequestsInFlight bounds the requests in flight that are not
	// long-running and only read (get, list), as the generic apiserver's
	// --max-requests-inflight without priority and fairness: beyond it a
	// request gets 429 with Retry-After: 1, unless its user is in
	// system:masters. Default 400 (NewOptions, AddFlags); 0: no limit (also
	// the zero value's meaning).
	MaxRequestsInFlight int
	// MaxMutatingRequestsInFlight is MaxRequestsInFlight for the other
	// requests (create, update, patch, delete ...)
	// (--max-mutating-requests-inflight). Default 200 (NewOptions,
	// AddFlags); 0: no limit (also the zero value's meaning).
	MaxMutatingRequestsInFlight int
	// MaxRequestBodyBytes bounds a request's body, as the generic apiserver's
	// MaxRequestBodyBytes (a configuration field there, the flag
	// --max-request-body-bytes here): a request whose Content-Length says
	// more gets 413 before the handler runs, and a handler that reads more
	// gets an error while the request is answered 413 in its place.
	// objects.Decode reads the same limit (pipeline.State.MaxBodyBytes).
	// Default (0) 3 MiB; negative: no limit.
	MaxRequestBodyBytes int64

	// Resources reports whether group, version, resource and subresource
	// ("" for the resource itself) name a resource the server declares,
	// usually with its discovery declaration:
	//
	//	opts.Resources = func(g, v, r, s string) bool { return disc.Endpoint(g, v, r, s) != nil }
	//
	// The request metrics (apiserver_request_total ...) carry the group,
	// version, resource and subresource of a declared resource only; every
	// other request is counted with those labels empty, so that no client
	// can make new series. Default nil: no resource is declared.
	Resources func(group, version, resource, subresource string) bool

	// GoawayChance is the fraction of HTTP/2 requests answered with a GOAWAY,
	// so that clients pinned to one replica reconnect, likely to another
	// (--goaway-chance). 0 to 0.02. Default 0: off.
	GoawayChance float64

	// ShutdownDelayDuration is how long, once shutdown starts, the server
	// keeps serving while /readyz already fails, so that load balancers stop
	// sending it traffic (--shutdown-delay-duration). Default 0.
	ShutdownDelayDuration time.Duration
	// ShutdownSendRetryAfter keeps the listener open after the delay until
	// in-flight requests are done, answering new requests 429 with
	// Retry-After and Connection: close (--shutdown-send-retry-after).
	// Default false: the listener closes when the delay ends.
	ShutdownSendRetryAfter bool

	// Logger receives the server's events and bounded reports of panics and
	// connection errors. Default slog.Default().
	Logger *slog.Logger
}

// NewOptions returns the options with Kubernetes' defaults filled in, ready
// for AddFlags.
func NewOptions() *Options {
	return &Options{
		BindAddress:                  net.IPv4zero,
		SecurePort:                   DefaultSecurePort,
		CertDir:                      DefaultCertDir,
		HTTP2MaxStreamsPerConnection: DefaultHTTP2MaxStreamsPerConnection,
		RequestTimeout:               DefaultRequestTimeout,
		MaxRequestsInFlight:          DefaultMaxRequestsInFlight,
		MaxMutatingRequestsInFlight:  DefaultMaxMutatingRequestsInFlight,
		MaxRequestBodyBytes:          DefaultMaxRequestBodyBytes,
	}
}

// withDefaults returns o with its zero fields set to their defaults.
func (o Options) withDefaults() Options {
	d := NewOptions()
	if o.BindAddress == nil {
		o.BindAddress = d.BindAddress
	}
	o.SecurePort = cmp.Or(o.SecurePort, d.SecurePort)
	o.CertDir = cmp.Or(o.CertDir, d.CertDir)
	o.HTTP2MaxStreamsPerConnection = cmp.Or(o.HTTP2MaxStreamsPerConnection, d.HTTP2MaxStreamsPerConnection)
	o.RequestTimeout = cmp.Or(o.RequestTimeout, d.RequestTimeout)
	o.MaxRequestBodyBytes = cmp.Or(o.MaxRequestBodyBytes, d.MaxRequestBodyBytes)
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// AddFlags binds o to fs with the names, types, defaults and meanings of
// Kubernetes' secure serving and shutdown flags
// (k8s.io/apiserver/pkg/server/options: SecureServingOptions and
// ServerRunOptions), so that manifests written for a generic apiserver keep
// working. --tls-sni-cert-key is not supported.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.IPVar(&o.BindAddress, "bind-address", o.BindAddress, ""+
		"The IP address on which to listen for the --secure-port port. If blank or an unspecified "+
		"address (0.0.0.0 or ::), all interfaces and IP address families will be used.")
	fs.IntVar(&o.SecurePort, "secure-port", o.SecurePort, "The port on which to serve HTTPS with authentication and authorization.")
	fs.BoolVar(&o.PermitPortSharing, "permit-port-sharing", o.PermitPortSharing,
		"If true, SO_REUSEPORT will be used when binding the port, which allows more than one instance to bind on the same address and port. [default=false]")
	fs.BoolVar(&o.PermitAddressSharing, "permit-address-sharing", o.PermitAddressSharing,
		"If true, SO_REUSEADDR will be used when binding the port. [default=false]")
	fs.StringVar(&o.CertDir, "cert-dir", o.CertDir, ""+
		"The directory where the TLS certs are located. If --tls-cert-file and --tls-private-key-file are provided, this flag will be ignored.")
	fs.StringVar(&o.CertFile, "tls-cert-file", o.CertFile, ""+
		"File containing the default x509 Certificate for HTTPS. (CA cert, if any, concatenated after server cert). "+
		"If --tls-cert-file and --tls-private-key-file are not provided, a self-signed certificate and key "+
		"are generated and saved to the directory specified by --cert-dir.")
	fs.StringVar(&o.KeyFile, "tls-private-key-file", o.KeyFile, "File containing the default x509 private key matching --tls-cert-file.")
	fs.StringSliceVar(&o.CipherSuites, "tls-cipher-suites", o.CipherSuites, ""+
		"Comma-separated list of cipher suites for the server. If omitted, the default Go cipher suites will be used. "+
		"Preferred values: "+strings.Join(preferredCipherNames(), ", ")+". Insecure values are refused.")
	fs.Int32SliceVar(&o.CurvePreferences, "tls-curve-preferences", o.CurvePreferences, ""+
		"Comma-separated list of numeric Go crypto/tls CurveID values, as the allowed key exchange mechanisms for the server. "+
		"If omitted, the default Go curves will be used.")
	fs.StringVar(&o.MinTLSVersion, "tls-min-version", o.MinTLSVersion, "Minimum TLS version supported. Possible values: VersionTLS12, VersionTLS13")
	fs.BoolVar(&o.DisableHTTP2, "disable-http2-serving", o.DisableHTTP2, "If true, HTTP2 serving will be disabled [default=false]")
	fs.IntVar(&o.HTTP2MaxStreamsPerConnection, "http2-max-streams-per-connection", o.HTTP2MaxStreamsPerConnection, ""+
		"The limit that the server gives to clients for the maximum number of streams in an HTTP/2 connection.")
	fs.DurationVar(&o.RequestTimeout, "request-timeout", o.RequestTimeout, ""+
		"An optional field indicating the duration a handler must keep a request open before timing it out. "+
		"This is the default request timeout for requests but may be overridden by the timeout query parameter.")
	fs.IntVar(&o.MaxRequestsInFlight, "max-requests-inflight", o.MaxRequestsInFlight, ""+
		"This flag limits the maximum number of non-mutating requests in flight, "+
		"or a zero value disables the limit completely. (Priority and fairness is not supported.)")
	fs.IntVar(&o.MaxMutatingRequestsInFlight, "max-mutating-requests-inflight", o.MaxMutatingRequestsInFlight, ""+
		"This flag limits the maximum number of mutating requests in flight, "+
		"or a zero value disables the limit completely. (Priority and fairness is not supported.)")
	fs.Int64Var(&o.MaxRequestBodyBytes, "max-request-body-bytes", o.MaxRequestBodyBytes, ""+
		"The limit on the size of a request body, in bytes: beyond it the request is answered 413 RequestEntityTooLarge. "+
		"The generic apiserver's MaxRequestBodyBytes (3 MiB, not a flag there). A negative value disables the limit.")
	fs.Float64Var(&o.GoawayChance, "goaway-chance", o.GoawayChance, ""+
		"To prevent HTTP/2 clients from getting stuck on a single apiserver, randomly close a connection (GOAWAY). "+
		"This argument sets the fraction of requests that will be sent a GOAWAY. "+
		"Min is 0 (off), Max is .02 (1/50 requests); .001 (1/1000) is a recommended starting point.")
	fs.DurationVar(&o.ShutdownDelayDuration, "shutdown-delay-duration", o.ShutdownDelayDuration, ""+
		"Time to delay the termination. During that time the server keeps serving requests normally. The endpoints /healthz and /livez "+
		"will return success, but /readyz immediately returns failure. Graceful termination starts after this delay has elapsed.")
	fs.BoolVar(&o.ShutdownSendRetryAfter, "shutdown-send-retry-after", o.ShutdownSendRetryAfter, ""+
		"If true the HTTP Server will continue listening until all non long running request(s) in flight have been drained, "+
		"during this window all incoming requests will be rejected with a status code 429 and a 'Retry-After' response header, "+
		"in addition 'Connection: close' response header is set in order to tear down the TCP connection when idle.")
}

// Validate reports every option that cannot be served, by flag name.
func (o *Options) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf("serving: "+format, args...)) }
	if o.Listener == nil && (o.SecurePort < 0 || o.SecurePort > 65535) {
		add("--secure-port %d must be between 1 and 65535, inclusive", o.SecurePort)
	}
	if (o.CertFile == "") != (o.KeyFile == "") {
		add("--tls-cert-file and --tls-private-key-file must be given together")
	}
	for _, n := range o.SelfSignedNames {
		if n == "" {
			add("an empty name in SelfSignedNames")
		}
	}
	minVersion, err := tlsVersion(o.MinTLSVersion)
	if err != nil {
		errs = append(errs, err)
	}
	suites, err := cipherSuites(o.CipherSuites)
	if err != nil {
		errs = append(errs, err)
	} else if !o.DisableHTTP2 && minVersion < tlsVersion13 && len(suites) > 0 && !hasHTTP2Suite(suites) {
		add("--tls-cipher-suites must include TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 or TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, which HTTP/2 requires (or set --disable-http2-serving)")
	}
	if _, err := curvePreferences(o.CurvePreferences); err != nil {
		errs = append(errs, err)
	}
	if o.HTTP2MaxStreamsPerConnection < 0 || int64(o.HTTP2MaxStreamsPerConnection) > math.MaxUint32 {
		add("--http2-max-streams-per-connection %d must be between 0 and %d", o.HTTP2MaxStreamsPerConnection, uint32(math.MaxUint32))
	}
	if o.RequestTimeout < 0 {
		add("--request-timeout can not be negative value")
	}
	if o.MaxRequestsInFlight < 0 {
		add("--max-requests-inflight can not be negative value")
	}
	if o.MaxMutatingRequestsInFlight < 0 {
		add("--max-mutating-requests-inflight can not be negative value")
	}
	if o.GoawayChance < 0 || o.GoawayChance > MaxGoawayChance || math.IsNaN(o.GoawayChance) {
		add("--goaway-chance can not be less than 0 or greater than 0.02")
	}
	if o.ShutdownDelayDuration < 0 {
		add("--shutdown-delay-duration can not be negative value")
	}
	return errors.Join(errs...)
}
