package authn_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/apis/apiserver"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/authenticatorfactory"
	"k8s.io/apiserver/pkg/endpoints/filters"
	"k8s.io/apiserver/pkg/endpoints/request"
	authenticationv1client "k8s.io/client-go/kubernetes/typed/authentication/v1"

	"github.com/aggauth/aggauth/authn"
	"github.com/aggauth/aggauth/internal/fakekube"
	"github.com/aggauth/aggauth/middleware"
)

const tokenCorpusSize = 10_000

// tokenOracle is the fake kube-apiserver's answer to a review: a
// deterministic function of the token (its prefix picks the kind of answer,
// a hash of it the details) and of the audiences asked for.
func tokenOracle(spec authenticationv1.TokenReviewSpec) (authenticationv1.TokenReviewStatus, error) {
	h := fnv.New64a()
	h.Write([]byte(spec.Token))
	v := h.Sum64()
	pick := func(n int) int { r := int(v % uint64(n)); v /= uint64(n); return r }
	kind, _, _ := strings.Cut(spec.Token, "-")
	switch kind {
	case "e500":
		return authenticationv1.TokenReviewStatus{}, apierrors.NewInternalError(fmt.Errorf("etcd is sad"))
	case "e429":
		return authenticationv1.TokenReviewStatus{}, apierrors.NewTooManyRequests("slow down", 0)
	case "e403":
		return authenticationv1.TokenReviewStatus{}, apierrors.NewForbidden(authenticationv1.Resource("tokenreviews"), "", fmt.Errorf("no rbac"))
	case "e404":
		return authenticationv1.TokenReviewStatus{}, apierrors.NewNotFound(authenticationv1.Resource("tokenreviews"), "")
	case "raw":
		return authenticationv1.TokenReviewStatus{}, &fakekube.RawError{Code: http.StatusBadGateway, Body: "<html>bad gateway</html>"}
	case "no":
		st := authenticationv1.TokenReviewStatus{Error: []string{"", "", "token has expired", "[invalid bearer token, signature invalid]"}[pick(4)]}
		st.Audiences = tokenAudienceChoices[pick(len(tokenAudienceChoices))]
		return st, nil
	}
	u := authenticationv1.UserInfo{
		Username: []string{"alice", "system:serviceaccount:ns:sa", "system:anonymous", "", "bob"}[pick(5)],
		UID:      []string{"", "uid-1", "uid-2"}[pick(3)],
		Groups: [][]string{nil, {"devs"}, {"system:authenticated"}, {"system:unauthenticated", "x"},
			{"a", "b", "a"}, {"system:serviceaccounts", "system:serviceaccounts:ns"}}[pick(6)],
	}
	switch pick(5) {
	case 1:
		u.Extra = map[string]authenticationv1.ExtraValue{"scopes": {"read", "write"}}
	case 2:
		u.Extra = map[string]authenticationv1.ExtraValue{"authentication.kubernetes.io/pod-name": {"p"}, "empty": {}}
	case 3:
		u.Extra = map[string]authenticationv1.ExtraValue{"k": nil}
	}
	st := authenticationv1.TokenReviewStatus{Authenticated: true, User: u}
	if pick(7) == 0 {
		st.Error = "authenticated anyway"
	}
	if kind == "bound" { // as kube-apiserver: the requested audiences the token is bound to
		st.Audiences = authenticator.Audiences(spec.Audiences).Intersect(authenticator.Audiences{"api", "other"})
	} else {
		st.Audiences = tokenAudienceChoices[pick(len(tokenAudienceChoices))]
	}
	return st, nil
}

var tokenAudienceChoices = [][]string{nil, nil, {"api"}, {"other"}, {"api", "other"}, {"zzz"}}

// tokenCorpusRequest is one generated request: its Authorization values and
// the audiences in its context (nil: none).
type tokenCorpusRequest struct {
	authorization []string
	auds          authenticator.Audiences
	// protocols are its Sec-WebSocket-Protocol values (a token as a
	// WebSocket client sends it), with upgrade its Upgrade and Connection
	// headers ("": none).
	protocols           []string
	upgrade, connection string
}

func genTokenCorpus(r *rand.Rand, withAudiences bool) []tokenCorpusRequest {
	var tokens []string
	add := func(kind string, n int) {
		for i := range n {
			tokens = append(tokens, fmt.Sprintf("%s-%d-%x", kind, i, r.Uint32()))
		}
	}
	add("ok", 120)
	add("bound", 20)
	add("no", 40)
	for _, k := range []string{"e500", "e429", "e403", "e404", "raw"} {
		add(k, 3)
	}
	tokens = append(tokens, "ok-\u00fc-1", "ok-\xff-2", "ok.with.dots",
		jwtWithExp(time.Now().Add(-time.Hour)), jwtWithExp(time.Now().Add(time.Hour)))
	shapes := []func(string) []string{
		func(t string) []string { return []string{"Bearer " + t} },
		func(t string) []string { return []string{"bearer " + t} },
		func(t string) []string { return []string{"BEARER " + t} },
		func(t string) []string { return []string{"Bearer " + t + " trailing"} },
		func(t string) []string { return []string{"  Bearer " + t + "\t"} },
		func(t string) []string { return []string{"Bearer  " + t} },
		func(t string) []string { return []string{"Bearer\t" + t} },
		func(t string) []string { return []string{"Bearer"} },
		func(t string) []string { return []string{"Basic " + t} },
		func(t string) []string { return []string{"Bearer " + t, "Bearer ok-other"} },
		func(t string) []string { return []string{"Basic x", "Bearer " + t} },
		func(t string) []string { return nil },
	}
	weights := []int{40, 8, 4, 4, 4, 2, 2, 2, 2, 4, 2, 4} // mostly well-formed
	out := make([]tokenCorpusRequest, tokenCorpusSize)
	for i := range out {
		tok := tokens[r.IntN(len(tokens))]
		if strings.HasPrefix(tok, "e") || strings.HasPrefix(tok, "raw") {
			tok = tokens[r.IntN(len(tokens))] // errors are not cached: draw them less often
		}
		out[i].authorization = shapes[weighted(r, weights)](tok)
		if r.IntN(5) == 0 { // a WebSocket upgrade, with or without a token among its subprotocols
			out[i].protocols = webSocketProtocols(r, tok, tokens[r.IntN(len(tokens))])
			out[i].upgrade = []string{"websocket", "WebSocket", "h2c", "websocket", ""}[r.IntN(5)]
			out[i].connection = []string{"Upgrade", "keep-alive, upgrade", "close", "Upgrade", ""}[r.IntN(5)]
			if r.IntN(2) == 0 {
				out[i].authorization = nil
			}
		}
		if withAudiences {
			out[i].auds = [][]string{nil, nil, nil, {"api"}, {"api", "other"}, {"zzz"}}[r.IntN(6)]
		}
	}
	return out
}

// webSocketProtocols returns Sec-WebSocket-Protocol values carrying tok (and
// sometimes other) as Kubernetes' bearer subprotocol, in the shapes clients
// and attackers send.
func webSocketProtocols(r *rand.Rand, tok, other string) []string {
	const prefix = "base64url.bearer.authorization.k8s.io."
	enc := base64.RawURLEncoding.EncodeToString
	shapes := [][]string{
		{prefix + enc([]byte(tok)) + ", v5.channel.k8s.io"},
		{"v5.channel.k8s.io", prefix + enc([]byte(tok))},
		{" " + prefix + enc([]byte(tok)) + " ,channel.k8s.io, base64.channel.k8s.io "},
		{prefix + enc([]byte(tok))},                                          // no other subprotocol
		{prefix + enc([]byte(tok)) + ",", "x"},                               // an empty one
		{prefix + enc([]byte(tok)), prefix + enc([]byte(other)) + ",x"},      // two tokens
		{prefix + base64.URLEncoding.EncodeToString([]byte(tok+"!")) + ",x"}, // padded
		{prefix + "not*base64,x"},
		{prefix + enc([]byte("\xff\xfe")) + ",x"}, // not UTF-8
		{prefix + ",x"}, // an empty token
		{"BASE64URL.bearer.authorization.k8s.io." + enc([]byte(tok)) + ",x"},
		{"v4.channel.k8s.io"},
	}
	return shapes[r.IntN(len(shapes))]
}

func weighted(r *rand.Rand, weights []int) int {
	total := 0
	for _, w := range weights {
		total += w
	}
	n := r.IntN(total)
	for i, w := range weights {
		if n -= w; n < 0 {
			return i
		}
	}
	return len(weights) - 1
}

func (c tokenCorpusRequest) request() *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/apis/demo.aggauth.io/v1/widgets", nil)
	if c.authorization != nil {
		r.Header["Authorization"] = append([]string(nil), c.authorization...)
	}
	if c.protocols != nil {
		r.Header["Sec-Websocket-Protocol"] = append([]string(nil), c.protocols...)
	}
	if c.upgrade != "" {
		r.Header.Set("Upgrade", c.upgrade)
	}
	if c.connection != "" {
		r.Header.Set("Connection", c.connection)
	}
	if c.auds != nil {
		r = r.WithContext(authenticator.WithAudiences(r.Context(), c.auds))
	}
	return r
}

// tokenOutcome is what an authenticator answered, as an authorizer and a
// handler see it.
type tokenOutcome struct {
	OK, Err                bool
	Name, UID              string
	Groups                 []string
	Extra                  map[string][]string
	Audiences              authenticator.Audiences
	AuthorizationRemaining bool
	Protocols              []string // Sec-WebSocket-Protocol after authentication
}

func outcomeOf(r *http.Request, resp *authenticator.Response, ok bool, err error) tokenOutcome {
	o := tokenOutcome{OK: ok, Err: err != nil, AuthorizationRemaining: len(r.Header["Authorization"]) > 0,
		Protocols: r.Header["Sec-Websocket-Protocol"]}
	if ok {
		o.Name, o.UID, o.Groups, o.Extra, o.Audiences = resp.User.GetName(), resp.User.GetUID(), resp.User.GetGroups(), resp.User.GetExtra(), resp.Audiences
	}
	return o
}

// TestTokenMatchesKubernetes sends a generated corpus of requests (token
// kinds, Authorization header shapes, audiences, TokenReview answers:
// authenticated users of every shape, unauthenticated with and without an
// error, 500, 429, 403, 404 and a non-Status 502) through Kubernetes'
// delegated authenticator (authenticatorfactory.DelegatingAuthenticatorConfig:
// bearertoken in front of the cached webhook token authenticator, in the
// AuthenticatedGroupAdder and the anonymous fallback) and through ours
// (authn.Union with an authn.Token), against the same fake kube-apiserver:
// the users, ok and error-ness must be identical; and, for a sample, 401 or
// not through each one's HTTP filter.
func TestTokenMatchesKubernetes(t *testing.T) {
	srv := newTokenServer(t, tokenOracle)
	backoff := wait.Backoff{Duration: time.Millisecond, Factor: 1, Steps: 2}
	apiAuds := authenticator.Audiences{"api", "extra"}
	configs := []struct {
		name      string
		anonymous bool
		apiAuds   authenticator.Audiences // Options.Audiences; Kubernetes: APIAudiences and the filter's context
	}{
		{"plain", false, nil}, {"anonymous", true, nil}, {"api audiences", false, apiAuds},
	}
	mix := map[string]int{}
	total := 0
	for ci, cfg := range configs {
		t.Run(cfg.name, func(t *testing.T) {
			kubeClient, err := authenticationv1client.NewForConfig(tokenRestConfig(srv))
			require.NoError(t, err)
			kube, _, err := authenticatorfactory.DelegatingAuthenticatorConfig{
				Anonymous:               &apiserver.AnonymousAuthConfig{Enabled: cfg.anonymous},
				TokenAccessReviewClient: kubeClient, WebhookRetryBackoff: &backoff,
				CacheTTL: 10 * time.Second, APIAudiences: cfg.apiAuds,
			}.New()
			require.NoError(t, err)
			ourClient, err := authn.NewReviewClient(tokenRestConfig(srv), authn.ReviewClientOptions{QPS: 1e6, Burst: 1e6})
			require.NoError(t, err)
			tok, err := authn.NewToken(authn.TokenOptions{Client: ourClient, Audiences: cfg.apiAuds, RetryBackoff: backoff,
				Logger: slog.New(slog.DiscardHandler)})
			require.NoError(t, err)
			ours, err := authn.NewUnion(authn.UnionOptions{Token: tok, Anonymous: cfg.anonymous})
			require.NoError(t, err)
			kubeHTTP, ourHTTP := tokenFilters(t, kube, ours, cfg.apiAuds)

			corpus := genTokenCorpus(rand.New(rand.NewPCG(uint64(ci), 12)), cfg.apiAuds == nil)
			for i, c := range corpus {
				kr := c.request()
				if cfg.apiAuds != nil { // what Kubernetes' authentication filter does with --api-audiences
					kr = kr.WithContext(authenticator.WithAudiences(kr.Context(), cfg.apiAuds))
				}
				kresp, kok, kerr := kube.AuthenticateRequest(kr)
				or := c.request()
				oresp, ook, oerr := ours.AuthenticateRequest(or)
				want, got := outcomeOf(kr, kresp, kok, kerr), outcomeOf(or, oresp, ook, oerr)
				require.Equal(t, want, got, "#%d %q %q (%q, %q) auds %v: kubernetes err %v; ours %v", i, c.authorization,
					c.protocols, c.upgrade, c.connection, c.auds, kerr, oerr)
				mix[tokenMixLabel(got, oerr)]++
				if c.protocols != nil && c.authorization == nil {
					mix["websocket: "+tokenMixLabel(got, oerr)]++
				}
				if i%20 == 0 {
					require.Equal(t, kubeHTTP(c), ourHTTP(c), "#%d %q through the HTTP filters", i, c.authorization)
				}
			}
			total += len(corpus)
		})
	}
	t.Logf("%d requests answered alike: %v; TokenReviews received: %d", total, mix, srv.TokenReviewCounts().Received)
	for _, label := range []string{"authenticated", "anonymous", "no opinion", authn.ReasonTokenInvalid, authn.ReasonTokenReviewFailed,
		"websocket: authenticated", "websocket: no opinion", "websocket: " + authn.ReasonTokenInvalid} {
		require.Greater(t, mix[label], 100, "the corpus must reach %q", label)
	}
}

func tokenMixLabel(o tokenOutcome, err error) string {
	switch {
	case o.OK && o.Name == "system:anonymous" && len(o.Groups) == 1 && o.Groups[0] == "system:unauthenticated":
		return "anonymous"
	case o.OK:
		return "authenticated"
	case err == nil:
		return "no opinion"
	}
	return authn.FailureReason(err)
}

// tokenFilters returns functions serving a corpus request through
// Kubernetes' authentication filter (WithAuthentication) and through ours
// (middleware.Authentication), each answering with its code, the user the
// handler saw, and whether Authorization reached it.
func tokenFilters(t *testing.T, kube authenticator.Request, ours *authn.Union, apiAuds authenticator.Audiences) (k, o func(tokenCorpusRequest) string) {
	seen := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := request.UserFrom(r.Context())
		fmt.Fprintf(w, "%s %q", u.GetName(), r.Header["Authorization"])
	})
	unauthorized := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusUnauthorized) })
	kubeHandler := filters.WithAuthentication(seen, kube, unauthorized, apiAuds, nil)
	step, err := middleware.NewAuthentication(middleware.AuthenticationOptions{Authenticator: ours, Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	ourHandler := step.Handler(seen)
	serve := func(h http.Handler) func(tokenCorpusRequest) string {
		return func(c tokenCorpusRequest) string {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, c.request().WithContext(withoutAudiences(c)))
			body := ""
			if rec.Code != http.StatusUnauthorized {
				body = rec.Body.String()
			}
			return fmt.Sprintf("%d %s", rec.Code, body)
		}
	}
	return serve(kubeHandler), serve(ourHandler)
}

// withoutAudiences is the request context of c: the filters store the
// configured audiences themselves.
func withoutAudiences(c tokenCorpusRequest) context.Context {
	ctx := context.Background()
	if c.auds != nil {
		ctx = authenticator.WithAudiences(ctx, c.auds)
	}
	return ctx
}
