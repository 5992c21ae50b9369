package aggauth

import (
	"log/slog"
	"time"

	"github.com/spf13/pflag"

	"github.com/aggauth/aggauth/admission"
	"github.com/aggauth/aggauth/authz"
	"k8s.io/client-go/rest"
)

// Options configures New. Start from NewOptions (Kubernetes' defaults) and bind
// them to flags with AddFlags, or fill them in code; the zero value works too and
// means the same defaults. Field comments give the flag and the default.
type Options struct {
	// Kubeconfig is the kubeconfig file for every call to kube-apiserver
	// (--kubeconfig). Default: the in-cluster configuration.
	Kubeconfig string
	// AuthenticationKubeconfig overrides Kubeconfig for reading the
	// authentication ConfigMap (--authentication-kubeconfig).
	AuthenticationKubeconfig string
	// AuthorizationKubeconfig overrides Kubeconfig for SubjectAccessReviews
	// and namespace reads (--authorization-kubeconfig).
	AuthorizationKubeconfig string
	// RESTConfig, when set, is used instead of any kubeconfig or in-cluster
	// configuration.
	RESTConfig *rest.Config
	// QPS and Burst are the client-side rate limits towards kube-apiserver,
	// a budget of their own for each kind of call: TokenReviews,
	// SubjectAccessReviews, and the reads of the authentication ConfigMap
	// and of namespaces, so that a flood of unknown bearer tokens (which
	// anyone can send) never slows the authorization of the users the
	// aggregator forwards. Each review budget is shared fairly between the
	// users (or, for tokens, the client addresses) whose reviews wait for it.
	// Default 200 and 400 each, as Kubernetes' delegated authentication and
	// authorization (client-go's own 5 and 10 would throttle them).
	QPS   float32
	Burst int

	// ClientCAFile is a CA bundle for callers' own client certificates
	// (--client-ca-file). Default: client-ca-file from the ConfigMap.
	ClientCAFile string
	// RequestHeader configures the front proxy from files and flags. Default:
	// the ConfigMap's requestheader-* keys.
	RequestHeader RequestHeaderOptions
	// SkipInClusterLookup does not read the extension-apiserver-authentication
	// ConfigMap (--authentication-skip-lookup). Default false.
	SkipInClusterLookup bool
	// TolerateInClusterLookupFailure starts even when the ConfigMap cannot be
	// read (--authentication-tolerate-lookup-failure); nobody is then
	// authenticated from headers until it can be. Default false.
	TolerateInClusterLookupFailure bool
	// TokenWebhookCacheTTL is how long TokenReview answers for bearer tokens
	// are cached, authenticated or not (--authentication-token-webhook-cache-ttl),
	// never past a JWT's own expiry. Default 10s; negative: not cached. (Zero
	// means the default here; Kubernetes reads a zero flag as "not cached".)
	TokenWebhookCacheTTL time.Duration
	// APIAudiences are the identifiers of this server that bearer tokens must
	// be bound to (--api-audiences, kube-apiserver's flag of the same
	// meaning; Kubernetes' delegating authentication options have none).
	// Default: none, no audience check: kube-apiserver checks tokens against
	// its own audiences.
	APIAudiences []string
	// SkipTokenReview turns bearer-token authentication off
	// (--authentication-skip-token-review): tokens are then ignored and their
	// callers get 401. Default false: direct callers (Prometheus, controllers,
	// kubectl --token) are authenticated with a TokenReview, as in a generic
	// apiserver. The flag is ours: Kubernetes' delegating authentication
	// always reviews tokens when it has a kubeconfig, and offers no switch.
	SkipTokenReview bool
	// Anonymous lets requests without credentials through as
	// system:anonymous (authorization still applies). Default false.
	Anonymous bool
	// AllowSharedCA accepts a front-proxy CA that shares a certificate with the
	// client CA while no allowed names are set. Default false: refused.
	AllowSharedCA bool
	// DisableImpersonation refuses, with 403, every request that asks to act
	// as another user (Impersonate-* headers), instead of authorizing it as
	// kube-apiserver does. Default false.
	DisableImpersonation bool

	// AllowCacheTTL and DenyCacheTTL: how long allowed, and denied or
	// no-opinion, reviews are cached (--authorization-webhook-cache-authorized-ttl,
	// --authorization-webhook-cache-unauthorized-ttl). Default 10s each.
	AllowCacheTTL, DenyCacheTTL time.Duration
	// AlwaysAllowPaths are non-resource paths authorized without a review
	// (--authorization-always-allow-paths). Default /healthz, /readyz, /livez.
	AlwaysAllowPaths []string
	// AlwaysAllowGroups are groups authorized without a review. Default
	// system:masters (the aggregator's availability probe runs as it).
	AlwaysAllowGroups []string
	// StaleIfError reuses an allow younger than this when kube-apiserver cannot
	// be reached. Default 0: off.
	StaleIfError time.Duration

	// DisableNamespaceLifecycle turns the namespace check of creates off.
	// Default false.
	DisableNamespaceLifecycle bool
	// Admission are further checks, run after the namespace check, on
	// mutating requests. Default none.
	Admission []admission.Interface

	// Logger receives configuration changes and failures. Default slog.Default().
	Logger *slog.Logger
}

// RequestHeaderOptions are the --requestheader-* flags. When ClientCAFile is
// set, the front proxy is configured from them instead of the ConfigMap.
type RequestHeaderOptions struct {
	ClientCAFile        string   // --requestheader-client-ca-file
	AllowedNames        []string // --requestheader-allowed-names
	UsernameHeaders     []string // --requestheader-username-headers (default X-Remote-User)
	UIDHeaders          []string // --requestheader-uid-headers (default none)
	GroupHeaders        []string // --requestheader-group-headers (default X-Remote-Group)
	ExtraHeaderPrefixes []string // --requestheader-extra-headers-prefix (default X-Remote-Extra-)
}

// NewOptions returns the options with Kubernetes' defaults filled in, ready for
// AddFlags.
func NewOptions() *Options {
	return &Options{
		QPS:                  authz.DefaultClientQPS,
		Burst:                authz.DefaultClientBurst,
		TokenWebhookCacheTTL: 10 * time.Second,
		// Kubernetes' defaults, lower-cased as Kubernetes writes them (header
		// names are matched without regard to case).
		RequestHeader: RequestHeaderOptions{
			UsernameHeaders:     []string{"x-remote-user"},
			GroupHeaders:        []string{"x-remote-group"},
			ExtraHeaderPrefixes: []string{"x-remote-extra-"},
		},
		AllowCacheTTL:     authz.DefaultAllowTTL,
		DenyCacheTTL:      authz.DefaultDenyTTL,
		AlwaysAllowPaths:  authz.DefaultAlwaysAllowPaths(),
		AlwaysAllowGroups: authz.DefaultAlwaysAllowGroups(),
	}
}

// AddFlags binds o to fs with the names, defaults and meanings of Kubernetes'
// delegating authentication and authorization options
// (k8s.io/apiserver/pkg/server/options), so that manifests written for a
// generic apiserver keep working, plus --kubeconfig.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig,
		"kubeconfig file pointing at the 'core' kubernetes server. Default: the in-cluster configuration.")
	fs.StringVar(&o.AuthenticationKubeconfig, "authentication-kubeconfig", o.AuthenticationKubeconfig,
		"kubeconfig file pointing at the 'core' kubernetes server with enough rights to create tokenreviews.authentication.k8s.io "+
			"and read the extension-apiserver-authentication ConfigMap. Default: --kubeconfig.")
	fs.DurationVar(&o.TokenWebhookCacheTTL, "authentication-token-webhook-cache-ttl", o.TokenWebhookCacheTTL,
		"The duration to cache responses from the webhook token authenticator.")
	fs.StringSliceVar(&o.APIAudiences, "api-audiences", o.APIAudiences, ""+
		"Identifiers of the API. Bearer tokens must be bound to at least one of these audiences; "+
		"if empty, kube-apiserver checks them against its own audiences.")
	fs.BoolVar(&o.SkipTokenReview, "authentication-skip-token-review", o.SkipTokenReview,
		"If true, bearer tokens are not authenticated with TokenReviews; callers must present a client certificate.")
	fs.StringVar(&o.ClientCAFile, "client-ca-file", o.ClientCAFile, ""+
		"If set, any request presenting a client certificate signed by one of the authorities in the client-ca-file "+
		"is authenticated with an identity corresponding to the CommonName of the client certificate.")
	rh := &o.RequestHeader
	fs.StringSliceVar(&rh.UsernameHeaders, "requestheader-username-headers", rh.UsernameHeaders,
		"List of request headers to inspect for usernames. X-Remote-User is common.")
	fs.StringSliceVar(&rh.UIDHeaders, "requestheader-uid-headers", rh.UIDHeaders,
		"List of request headers to inspect for UIDs. X-Remote-Uid is suggested.")
	fs.StringSliceVar(&rh.GroupHeaders, "requestheader-group-headers", rh.GroupHeaders,
		"List of request headers to inspect for groups. X-Remote-Group is suggested.")
	fs.StringSliceVar(&rh.ExtraHeaderPrefixes, "requestheader-extra-headers-prefix", rh.ExtraHeaderPrefixes,
		"List of request header prefixes to inspect. X-Remote-Extra- is suggested.")
	fs.StringVar(&rh.ClientCAFile, "requestheader-client-ca-file", rh.ClientCAFile, ""+
		"Root certificate bundle to use to verify client certificates on incoming requests before trusting usernames "+
		"in headers specified by --requestheader-username-headers.")
	fs.StringSliceVar(&rh.AllowedNames, "requestheader-allowed-names", rh.AllowedNames, ""+
		"List of client certificate common names to allow to provide usernames in headers specified by "+
		"--requestheader-username-headers. If empty, any client certificate validated by the authorities in "+
		"--requestheader-client-ca-file is allowed.")
	fs.BoolVar(&o.SkipInClusterLookup, "authentication-skip-lookup", o.SkipInClusterLookup,
		"If false, the authentication-kubeconfig will be used to lookup missing authentication configuration from the cluster.")
	fs.BoolVar(&o.TolerateInClusterLookupFailure, "authentication-tolerate-lookup-failure", o.TolerateInClusterLookupFailure,
		"If true, failures to look up missing authentication configuration from the cluster are not considered fatal; "+
			"nobody is authenticated from headers until the lookup succeeds.")
	fs.StringVar(&o.AuthorizationKubeconfig, "authorization-kubeconfig", o.AuthorizationKubeconfig,
		"kubeconfig file pointing at the 'core' kubernetes server with enough rights to create subjectaccessreviews.authorization.k8s.io. Default: --kubeconfig.")
	fs.DurationVar(&o.AllowCacheTTL, "authorization-webhook-cache-authorized-ttl", o.AllowCacheTTL,
		"The duration to cache 'authorized' responses from the webhook authorizer.")
	fs.DurationVar(&o.DenyCacheTTL, "authorization-webhook-cache-unauthorized-ttl", o.DenyCacheTTL,
		"The duration to cache 'unauthorized' responses from the webhook authorizer.")
	fs.StringSliceVar(&o.AlwaysAllowPaths, "authorization-always-allow-paths", o.AlwaysAllowPaths,
		"A list of HTTP paths to skip during authorization, i.e. these are authorized without contacting the 'core' kubernetes server.")
}
