package aggauth

import "github.com/spf13/pflag"

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
	o.Audit.AddFlags(fs)
}
