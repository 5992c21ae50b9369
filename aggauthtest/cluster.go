package aggauthtest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/client-go/rest"

	"github.com/aggauth/aggauth"
	"github.com/aggauth/aggauth/internal/fakekube"
	"github.com/aggauth/aggauth/internal/testpki"
)

// MaxKeptReviews bounds the SubjectAccessReviews a Cluster keeps for Reviews:
// past it, the oldest are forgotten (Counts still counts them).
const MaxKeptReviews = 10000

// chainReadyTimeout bounds how long NewChain waits for the chain to be ready.
const chainReadyTimeout = 30 * time.Second

// Options configures a Cluster: who may do what, which bearer tokens are
// whose, and which namespaces exist. The zero value is a cluster where
// nothing is allowed and no token is valid.
type Options struct {
	// Rules say who may do what: a SubjectAccessReview that a rule matches is
	// allowed; any other gets no opinion, which the chain answers with 403,
	// as with RBAC. Default: none, nothing is allowed (the chain itself still
	// allows the group system:masters and the health paths without a
	// review). []Rule{{}} allows everything to everyone.
	Rules []Rule
	// Tokens are the bearer tokens the cluster authenticates, and whose they
	// are (name, UID, groups, extra); a TokenReview of any other token is
	// answered "not authenticated". A token is valid for whatever audiences a
	// review asks for. Default: none.
	Tokens map[string]user.Info
	// TokenAudiences are the audiences every token is bound to, as
	// kube-apiserver binds a token to its audiences: a TokenReview that asks
	// for none of them (a server with other --api-audiences) is answered "not
	// authenticated", and one that asks for no audience gets them. Default:
	// none, a token is valid for whatever audiences a review asks for.
	TokenAudiences []string
	// Namespaces exist and are active. Default: default and kube-system; an
	// empty, non-nil list: none.
	Namespaces []string
	// TerminatingNamespaces exist and are being deleted: the chain refuses
	// creates in them (403). Default: none.
	TerminatingNamespaces []string
}

// Cluster is a fake kube-apiserver, in process on a loopback port, that
// answers what aggauth asks of a cluster: the authentication ConfigMap (with
// its front-proxy CA and client CA), namespaces, SubjectAccessReviews from
// Options.Rules and TokenReviews from Options.Tokens. It makes the
// certificates callers present (see Caller) and builds the chain against
// itself (NewChain). Its methods are safe for concurrent use.
type Cluster struct {
	kube         *fakekube.Server
	rules        []Rule
	tokens       map[string]authenticationv1.UserInfo
	audiences    []string
	proxyCA      *testpki.Cert // signs the front proxy's certificate
	clientCA     *testpki.Cert // signs the users' certificates
	proxy, rogue Caller
	closeOnce    sync.Once
	mu           sync.Mutex // guards the fields below
	reviews      []authorizationv1.SubjectAccessReviewSpec
	chains       []*aggauth.Chain
	closed       bool
}

// Counts are the reviews a Cluster received, retries included.
type Counts struct {
	SubjectAccessReviews int64
	TokenReviews         int64
}

// NewCluster starts a Cluster for a test and closes it when the test and its
// subtests are done (tb.Cleanup). It fails the test when opts are invalid.
func NewCluster(tb testing.TB, opts Options) *Cluster {
	tb.Helper()
	c, err := StartCluster(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.Close)
	return c
}

// StartCluster starts a Cluster; Close it when done. NewCluster does both for
// a test. Invalid options are an error: a rule RBAC would refuse, an empty
// token or a token without a user name, a namespace listed twice.
func StartCluster(opts Options) (*Cluster, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	c := &Cluster{
		rules:     slices.Clone(opts.Rules),
		tokens:    make(map[string]authenticationv1.UserInfo, len(opts.Tokens)),
		audiences: slices.Clone(opts.TokenAudiences),
		proxyCA:   testpki.NewCA("front-proxy-ca", testpki.ECDSA),
		clientCA:  testpki.NewCA("client-ca", testpki.ECDSA),
	}
	for token, u := range opts.Tokens {
		c.tokens[token] = userInfo(u)
	}
	rogueCA := testpki.NewCA("front-proxy-ca", testpki.ECDSA)
	c.proxy = caller(c.proxyCA.Issue(testpki.Spec{CommonName: ProxyCommonName}))
	c.rogue = caller(rogueCA.Issue(testpki.Spec{CommonName: ProxyCommonName}))
	kube, err := fakekube.Start(fakekube.Options{
		FrontProxyCA:          c.proxyCA.PEM(),
		ClientCA:              c.clientCA.PEM(),
		AllowedNames:          []string{ProxyCommonName},
		Namespaces:            opts.Namespaces,
		TerminatingNamespaces: opts.TerminatingNamespaces,
		Authorize:             c.authorize,
		Authenticate:          c.authenticate,
		DiscardReviews:        true, // kept here, bounded
	})
	if err != nil {
		return nil, fmt.Errorf("aggauthtest: %w", err)
	}
	c.kube = kube
	return c, nil
}

func (o Options) validate() error {
	var errs []error
	for i, r := range o.Rules {
		if err := r.validate(); err != nil {
			errs = append(errs, fmt.Errorf("aggauthtest: rule %d: %w", i, err))
		}
	}
	for _, token := range slices.Sorted(maps.Keys(o.Tokens)) {
		if u := o.Tokens[token]; token == "" || u == nil || u.GetName() == "" {
			errs = append(errs, errors.New("aggauthtest: Tokens: a token is empty, or its user has no name"))
			break
		}
	}
	seen := map[string]bool{}
	for _, ns := range slices.Concat(o.Namespaces, o.TerminatingNamespaces) {
		if ns == "" || seen[ns] {
			errs = append(errs, fmt.Errorf("aggauthtest: namespace %q is empty or listed twice", ns))
		}
		seen[ns] = true
	}
	return errors.Join(errs...)
}

// Close stops the chains NewChain built, then the fake kube-apiserver: open
// watches end and reviews in flight are not answered. It is safe to call
// more than once.
func (c *Cluster) Close() {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		chains := c.chains
		c.chains = nil
		c.mu.Unlock()
		for _, ch := range chains {
			ch.Close()
		}
		c.kube.Close()
	})
}

// NewChain builds the chain with aggauth.New against the cluster, as a server
// in the cluster builds it: opts as given (the zero value is New's defaults),
// with RESTConfig set to reach the cluster. It returns once the chain is
// ready (its /readyz would answer 200), and the chain lives until its Close
// or the Cluster's.
func (c *Cluster) NewChain(opts aggauth.Options) (*aggauth.Chain, error) {
	opts.RESTConfig = c.RESTConfig()
	chain, err := aggauth.New(context.Background(), opts)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	closed := c.closed
	if !closed {
		c.chains = append(c.chains, chain)
	}
	c.mu.Unlock()
	if closed {
		chain.Close()
		return nil, errors.New("aggauthtest: NewChain: the cluster is closed")
	}
	deadline := time.Now().Add(chainReadyTimeout)
	for err = chain.Ready(); err != nil && time.Now().Before(deadline); err = chain.Ready() {
		time.Sleep(5 * time.Millisecond)
	}
	if err != nil {
		chain.Close()
		return nil, fmt.Errorf("aggauthtest: the chain is not ready after %s: %w", chainReadyTimeout, err)
	}
	return chain, nil
}

// RESTConfig returns a client configuration for the cluster, with the bearer
// token it accepts, for code that builds its own clients.
func (c *Cluster) RESTConfig() *rest.Config {
	cfg := c.kube.RestConfig()
	cfg.QPS, cfg.Burst = -1, 0 // no client-side rate limit
	return cfg
}

// WriteKubeconfig writes a kubeconfig for the cluster to path, for a server
// that takes --kubeconfig.
func (c *Cluster) WriteKubeconfig(path string) error { return c.kube.WriteKubeconfig(path) }

// FrontProxyCA returns the front-proxy CA bundle (PEM) the cluster publishes
// as requestheader-client-ca-file.
func (c *Cluster) FrontProxyCA() []byte { return c.proxyCA.PEM() }

// ClientCA returns the client CA bundle (PEM) the cluster publishes as
// client-ca-file.
func (c *Cluster) ClientCA() []byte { return c.clientCA.PEM() }

// Counts returns the counts of the reviews the cluster received so far.
func (c *Cluster) Counts() Counts {
	return Counts{SubjectAccessReviews: c.kube.SARCounts().Received, TokenReviews: c.kube.TokenReviewCounts().Received}
}

// Reviews returns the specs of the SubjectAccessReviews the cluster answered,
// oldest first: the last MaxKeptReviews.
func (c *Cluster) Reviews() []authorizationv1.SubjectAccessReviewSpec {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.reviews)
}

// authorize answers a SubjectAccessReview from the rules, and keeps it.
func (c *Cluster) authorize(spec authorizationv1.SubjectAccessReviewSpec) (authorizationv1.SubjectAccessReviewStatus, error) {
	c.mu.Lock()
	if len(c.reviews) == MaxKeptReviews {
		c.reviews = slices.Delete(c.reviews, 0, MaxKeptReviews/10)
	}
	c.reviews = append(c.reviews, spec)
	c.mu.Unlock()
	for i, r := range c.rules {
		if r.matches(spec) {
			return authorizationv1.SubjectAccessReviewStatus{Allowed: true, Reason: fmt.Sprintf("aggauthtest: allowed by rule %d", i)}, nil
		}
	}
	return authorizationv1.SubjectAccessReviewStatus{}, nil
}

// authenticate answers a TokenReview from the tokens.
func (c *Cluster) authenticate(spec authenticationv1.TokenReviewSpec) (authenticationv1.TokenReviewStatus, error) {
	u, ok := c.tokens[spec.Token]
	auds := spec.Audiences
	switch {
	case len(c.audiences) == 0:
	case len(auds) == 0:
		auds = c.audiences
	default:
		auds = slices.DeleteFunc(slices.Clone(auds), func(a string) bool { return !slices.Contains(c.audiences, a) })
		ok = ok && len(auds) > 0
	}
	if !ok {
		return authenticationv1.TokenReviewStatus{}, nil
	}
	return authenticationv1.TokenReviewStatus{Authenticated: true, User: u, Audiences: auds}, nil
}

func userInfo(u user.Info) authenticationv1.UserInfo {
	info := authenticationv1.UserInfo{Username: u.GetName(), UID: u.GetUID(), Groups: slices.Clone(u.GetGroups())}
	for k, v := range u.GetExtra() {
		if info.Extra == nil {
			info.Extra = map[string]authenticationv1.ExtraValue{}
		}
		info.Extra[k] = slices.Clone(v)
	}
	return info
}
