package aggauth

import (
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"time"

	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/aggauth/aggauth/admission"
	"github.com/aggauth/aggauth/audit"
	"github.com/aggauth/aggauth/authn"
	"github.com/aggauth/aggauth/authz"
)

// Options configures New. Start from NewOptions (Kubernetes' defaults) and bind
// them to flags with AddFlags, or fill them in code; the zero value works too and
// means the same defaults. Field comments give the flag and the default.
//
// What New needs from the cluster can also be given in memory, for tests and
// for servers embedded in another program: the CA bundles as bytes (ClientCA,
// RequestHeader.ClientCA), the clients of the reviews (TokenReviewClient,
// SubjectAccessReviewClient) or the authorizer itself (Authorizer), and the
// client of the ConfigMap and namespace reads (Clientset). A kubeconfig (or the
// in-cluster configuration) is then read only for what is not given: with
// SkipInClusterLookup, both CAs, SkipTokenReview or TokenReviewClient,
// Authorizer or SubjectAccessReviewClient, and DisableNamespaceLifecycle or
// Clientset, New makes no connection at all.
type Options struct {
	// Kubeconfig is the kubeconfig file for every call to kube-apiserver
	// (--kubeconfig). Default: the in-cluster configuration.
	Kubeconfig string
	// AuthenticationKubeconfig overrides Kubeconfig for reading the
	// authentication ConfigMap and for TokenReviews
	// (--authentication-kubeconfig). Default: Kubeconfig.
	AuthenticationKubeconfig string
	// AuthorizationKubeconfig overrides Kubeconfig for SubjectAccessReviews
	// and namespace reads (--authorization-kubeconfig). Default: Kubeconfig.
	AuthorizationKubeconfig string
	// RESTConfig, when set, is used instead of any kubeconfig or in-cluster
	// configuration. Default: none.
	RESTConfig *rest.Config
	// Clientset, when set, reads the authentication ConfigMap and the
	// namespaces instead of clients built from the kubeconfigs (for example
	// client-go's fake clientset). Reviews do not go through it: see
	// TokenReviewClient and SubjectAccessReviewClient. Default: none.
	Clientset kubernetes.Interface
	// QPS and Burst are the client-side rate limits towards kube-apiserver,
	// a budget of their own for each kind of call: TokenReviews,
	// SubjectAccessReviews, and the reads of the authentication ConfigMap
	// and of namespaces, so that a flood of unknown bearer tokens (which
	// anyone can send) never slows the authorization of the users the
	// aggregator forwards. Each review budget is shared fairly between the
	// users (or, for tokens, the client addresses) whose reviews wait for it.
	// They do not apply to clients given in these options.
	// Default 200 and 400 each, as Kubernetes' delegated authentication and
	// authorization (client-go's own 5 and 10 would throttle them).
	QPS   float32
	Burst int

	// ClientCAFile is a CA bundle for callers' own client certificates
	// (--client-ca-file), re-read when it changes. Default: none; then
	// ClientCA, else client-ca-file from the ConfigMap.
	ClientCAFile string
	// ClientCA is that bundle in memory (PEM), instead of ClientCAFile: set
	// one or the other, not both (New refuses it). It is not reloaded.
	// Default: none.
	ClientCA []byte
	// RequestHeader configures the front proxy from files (or bytes) and
	// flags. Default: the ConfigMap's requestheader-* keys.
	RequestHeader RequestHeaderOptions
	// SkipInClusterLookup does not read the extension-apiserver-authentication
	// ConfigMap (--authentication-skip-lookup). Default false. The ConfigMap
	// is read only for what neither a file nor bytes give: with both CAs
	// given it is not read either way.
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
	// TokenReviewClient, when set, sends the TokenReviews of bearer tokens
	// instead of a client built from AuthenticationKubeconfig: client-go's
	// clientset.AuthenticationV1().TokenReviews() (a fake one with a reactor,
	// say) or any authn.TokenReviewCreator. The cache and bounds of the token
	// authenticator apply as usual. Setting it with SkipTokenReview is an
	// error. Default: none.
	TokenReviewClient authn.TokenReviewCreator
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
	// (--authorization-always-allow-paths); a trailing * matches a prefix.
	// Default /healthz, /readyz, /livez.
	AlwaysAllowPaths []string
	// AlwaysAllowGroups are groups authorized without a review. Default
	// system:masters (the aggregator's availability probe runs as it).
	AlwaysAllowGroups []string
	// StaleIfError reuses an allow younger than this when kube-apiserver cannot
	// be reached. Default 0: off.
	StaleIfError time.Duration
	// SubjectAccessReviewClient, when set, sends the SubjectAccessReviews
	// instead of a client built from AuthorizationKubeconfig: client-go's
	// clientset.AuthorizationV1().SubjectAccessReviews() or any
	// authz.SubjectAccessReviewCreator. The cache and every option above
	// apply as usual. Default: none.
	SubjectAccessReviewClient authz.SubjectAccessReviewCreator
	// Authorizer, when set, decides instead of the SubjectAccessReview
	// authorizer: no review is sent and nothing is cached (AllowCacheTTL,
	// DenyCacheTTL and StaleIfError do not apply). AlwaysAllowPaths and
	// AlwaysAllowGroups are still allowed before it is asked, as Kubernetes'
	// delegated authorization allows them before its webhook. Setting it with
	// SubjectAccessReviewClient is an error. Default: none.
	Authorizer authorizer.UnconditionalAuthorizer

	// DisableNamespaceLifecycle turns the namespace check of creates off.
	// Default false.
	DisableNamespaceLifecycle bool
	// Admission are further checks, run after the namespace check, on
	// mutating requests. Default none.
	Admission []admission.Interface

	// Audit configures the audit log (--audit-policy-file, --audit-log-*,
	// Kubernetes' flags, names and defaults: package audit). Default: off
	// (no policy file).
	Audit audit.Options

	// Logger receives configuration changes and failures. Default slog.Default().
	Logger *slog.Logger
}

// RequestHeaderOptions are the --requestheader-* flags. When ClientCAFile or
// ClientCA is set, the front proxy is configured from them instead of the
// ConfigMap.
type RequestHeaderOptions struct {
	// ClientCAFile is the front-proxy CA bundle
	// (--requestheader-client-ca-file), re-read when it changes. Default:
	// none; then ClientCA, else the ConfigMap.
	ClientCAFile string
	// ClientCA is that bundle in memory (PEM), instead of ClientCAFile: set
	// one or the other, not both (New refuses it). It is not reloaded.
	// Default: none.
	ClientCA []byte
	// AllowedNames are the common names a front-proxy certificate may carry
	// (--requestheader-allowed-names). Default: none, any certificate of the
	// CA.
	AllowedNames []string
	// UsernameHeaders (--requestheader-username-headers): the first
	// non-empty one names the user. Default X-Remote-User.
	UsernameHeaders []string
	// UIDHeaders (--requestheader-uid-headers): the first non-empty one is
	// the user's UID. Default: none.
	UIDHeaders []string
	// GroupHeaders (--requestheader-group-headers): every value is a group.
	// Default X-Remote-Group.
	GroupHeaders []string
	// ExtraHeaderPrefixes (--requestheader-extra-headers-prefix): headers
	// with these prefixes are the user's extra. Default X-Remote-Extra-.
	ExtraHeaderPrefixes []string
}

// NewOptions returns the options with Kubernetes' defaults filled in, ready for
// AddFlags.
func NewOptions() *Options {
	return &Options{
		QPS:                  authz.DefaultReviewClientQPS,
		Burst:                authz.DefaultReviewClientBurst,
		TokenWebhookCacheTTL: authn.DefaultTokenCacheTTL,
		Audit:                *audit.NewOptions(),
		// Kubernetes' defaults, lower-cased as Kubernetes writes them (header
		// names are matched without regard to case).
		RequestHeader: RequestHeaderOptions{
			UsernameHeaders:     []string{strings.ToLower(authn.DefaultUsernameHeader)},
			GroupHeaders:        []string{strings.ToLower(authn.DefaultGroupHeader)},
			ExtraHeaderPrefixes: []string{strings.ToLower(authn.DefaultExtraHeaderPrefix)},
		},
		AllowCacheTTL:     authz.DefaultAllowTTL,
		DenyCacheTTL:      authz.DefaultDenyTTL,
		AlwaysAllowPaths:  authz.DefaultAlwaysAllowPaths(),
		AlwaysAllowGroups: authz.DefaultAlwaysAllowGroups(),
	}
}

// withDefaults returns o with NewOptions' value in every field left at its
// zero value that has a default.
func withDefaults(o Options) Options {
	d := NewOptions()
	set := func(v *[]string, def []string) {
		if *v == nil {
			*v = def
		}
	}
	if o.QPS == 0 {
		o.QPS = d.QPS
	}
	if o.Burst == 0 {
		o.Burst = d.Burst
	}
	if o.TokenWebhookCacheTTL == 0 {
		o.TokenWebhookCacheTTL = d.TokenWebhookCacheTTL
	}
	if o.AllowCacheTTL == 0 {
		o.AllowCacheTTL = d.AllowCacheTTL
	}
	if o.DenyCacheTTL == 0 {
		o.DenyCacheTTL = d.DenyCacheTTL
	}
	set(&o.RequestHeader.UsernameHeaders, d.RequestHeader.UsernameHeaders)
	set(&o.RequestHeader.GroupHeaders, d.RequestHeader.GroupHeaders)
	set(&o.RequestHeader.ExtraHeaderPrefixes, d.RequestHeader.ExtraHeaderPrefixes)
	set(&o.AlwaysAllowPaths, d.AlwaysAllowPaths)
	set(&o.AlwaysAllowGroups, d.AlwaysAllowGroups)
	if reflect.ValueOf(o.Audit).IsZero() {
		o.Audit = d.Audit
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// validate refuses options that contradict each other.
func (o Options) validate() error {
	var errs []error
	if o.ClientCAFile != "" && len(o.ClientCA) > 0 {
		errs = append(errs, errors.New("aggauth: ClientCAFile and ClientCA are both set; set one"))
	}
	if o.RequestHeader.ClientCAFile != "" && len(o.RequestHeader.ClientCA) > 0 {
		errs = append(errs, errors.New("aggauth: RequestHeader.ClientCAFile and RequestHeader.ClientCA are both set; set one"))
	}
	if o.SkipTokenReview && o.TokenReviewClient != nil {
		errs = append(errs, errors.New("aggauth: SkipTokenReview and TokenReviewClient are both set"))
	}
	if o.Authorizer != nil && o.SubjectAccessReviewClient != nil {
		errs = append(errs, errors.New("aggauth: Authorizer and SubjectAccessReviewClient are both set; set one"))
	}
	return errors.Join(errs...)
}
