package authn_test

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/aggauth/aggauth/authn"
)

var epoch = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func TestTokenAnswers(t *testing.T) {
	rev := newMemReviewer(func(spec authenticationv1.TokenReviewSpec) (authenticationv1.TokenReviewStatus, error) {
		switch spec.Token {
		case "status-error":
			return authenticationv1.TokenReviewStatus{Error: "token expired"}, nil
		case "unavailable":
			return authenticationv1.TokenReviewStatus{}, apierrors.NewServiceUnavailable("down")
		}
		return knownTokens(spec)
	})
	tok := newToken(t, rev, authn.TokenOptions{})

	r := bearer("", "Bearer good-1")
	resp, ok, err := tok.AuthenticateRequest(r)
	require.NoError(t, err)
	require.True(t, ok)
	sameUser(t, info("alice", "uid-a", []string{"devs"}, map[string][]string{"scopes": {"read"}}), resp.User)
	assert.Nil(t, resp.Audiences)
	assert.Empty(t, r.Header.Values("Authorization"), "removed on success, as Kubernetes' bearertoken does")

	for _, tc := range []struct {
		header, reason string
	}{
		{"Bearer bad", authn.ReasonTokenInvalid},
		{"Bearer status-error", authn.ReasonTokenInvalid},
		{"Bearer unavailable", authn.ReasonTokenReviewFailed},
	} {
		r := bearer("", tc.header)
		_, ok, err := tok.AuthenticateRequest(r)
		assert.False(t, ok, tc.header)
		require.Error(t, err, tc.header)
		assert.Equal(t, tc.reason, authn.FailureReason(err), tc.header)
		assert.Equal(t, tc.header, r.Header.Get("Authorization"), "kept on failure")
	}
	_, _, err = tok.AuthenticateRequest(bearer("", "Bearer bad"))
	assert.EqualError(t, err, "invalid bearer token")
	_, _, err = tok.AuthenticateRequest(bearer("", "Bearer status-error"))
	assert.EqualError(t, err, "token expired")

	for _, h := range []string{"", "Basic x", "Bearer", "Bearer  good-1", "Bearer\tgood-1"} {
		resp, ok, err := tok.AuthenticateRequest(bearer("", h))
		assert.Nil(t, resp, "%q", h)
		assert.False(t, ok, "%q", h)
		assert.NoError(t, err, "%q: no opinion", h)
	}
}

func TestTokenOptions(t *testing.T) {
	_, err := authn.NewToken(authn.TokenOptions{})
	require.ErrorContains(t, err, "Client is required")
	rev := newMemReviewer(knownTokens)
	for _, o := range []authn.TokenOptions{{MaxEntries: -1}, {MaxInFlight: -1}, {Timeout: -1}, {MaxFailureBytes: -1}} {
		o.Client = rev
		_, err := authn.NewToken(o)
		assert.Error(t, err, "%+v", o)
	}
	_, err = authn.NewToken(authn.TokenOptions{Client: rev})
	require.NoError(t, err, "the zero value works")
}

// TestTokenCacheTTLs: successes for CacheTTL, failures for FailureTTL, with
// Kubernetes' expiry (an entry answers while now < stored + TTL).
func TestTokenCacheTTLs(t *testing.T) {
	clk := testingclock.NewFakeClock(epoch)
	rev := newMemReviewer(knownTokens)
	tok := newToken(t, rev, authn.TokenOptions{Clock: clk, CacheTTL: 10 * time.Second, FailureTTL: 2 * time.Second})
	reviews := func(h string) int64 {
		_, _, _ = tok.AuthenticateRequest(bearer("", h))
		return rev.count.Load()
	}
	require.Equal(t, int64(1), reviews("Bearer good-1"))
	require.Equal(t, int64(2), reviews("Bearer bad-1"))
	clk.Step(2*time.Second - time.Nanosecond)
	assert.Equal(t, int64(2), reviews("Bearer good-1"))
	assert.Equal(t, int64(2), reviews("Bearer bad-1"))
	clk.Step(time.Nanosecond)
	assert.Equal(t, int64(3), reviews("Bearer bad-1"), "the failure expired")
	assert.Equal(t, int64(3), reviews("Bearer good-1"))
	clk.Step(8 * time.Second)
	assert.Equal(t, int64(4), reviews("Bearer good-1"), "the success expired")
	assert.Equal(t, int64(4), reviews("bearer good-1"), "the scheme's case is no part of the key")

	// FailureTTL defaults to CacheTTL, as Kubernetes' one TTL.
	rev2 := newMemReviewer(knownTokens)
	tok2 := newToken(t, rev2, authn.TokenOptions{Clock: clk, CacheTTL: time.Minute})
	_, _, _ = tok2.AuthenticateRequest(bearer("", "Bearer bad-2"))
	clk.Step(time.Minute - time.Nanosecond)
	_, _, _ = tok2.AuthenticateRequest(bearer("", "Bearer bad-2"))
	assert.Equal(t, int64(1), rev2.count.Load())

	// Negative TTLs turn caching off.
	rev3 := newMemReviewer(knownTokens)
	tok3 := newToken(t, rev3, authn.TokenOptions{Clock: clk, CacheTTL: -1})
	for range 2 {
		_, _, _ = tok3.AuthenticateRequest(bearer("", "Bearer good-3"))
		_, _, _ = tok3.AuthenticateRequest(bearer("", "Bearer bad-3"))
	}
	assert.Equal(t, int64(4), rev3.count.Load())
}

// TestTokenErrorsNotCached: a review that fails, or whose status carries an
// error, is asked again by the next request, as in Kubernetes; retriable
// failures are retried, others not.
func TestTokenErrorsNotCached(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		status   authenticationv1.TokenReviewStatus
		attempts int64
	}{
		{"500 retried", apierrors.NewInternalError(errors.New("boom")), authenticationv1.TokenReviewStatus{}, 3},
		{"429 retried", apierrors.NewTooManyRequests("busy", 0), authenticationv1.TokenReviewStatus{}, 3},
		{"403 not retried", apierrors.NewForbidden(authenticationv1.Resource("tokenreviews"), "", errors.New("no")), authenticationv1.TokenReviewStatus{}, 1},
		{"404 not retried", apierrors.NewNotFound(authenticationv1.Resource("tokenreviews"), ""), authenticationv1.TokenReviewStatus{}, 1},
		{"status error", nil, authenticationv1.TokenReviewStatus{Error: "expired"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rev := newMemReviewer(func(authenticationv1.TokenReviewSpec) (authenticationv1.TokenReviewStatus, error) {
				return tt.status, tt.err
			})
			tok := newToken(t, rev, authn.TokenOptions{RetryBackoff: fastBackoff(3)})
			for i := range 2 {
				_, ok, err := tok.AuthenticateRequest(bearer("", "Bearer t"))
				assert.False(t, ok)
				require.Error(t, err)
				assert.Equal(t, tt.attempts*int64(i+1), rev.count.Load())
			}
			okN, failedN := authn.TokenCacheLen(tok)
			assert.Zero(t, okN+failedN)
		})
	}
}

// TestTokenJWTExpiryShortensTTL: a JWT's exp bounds how long its success is
// cached; an exp already past is not cached at all.
func TestTokenJWTExpiryShortensTTL(t *testing.T) {
	clk := testingclock.NewFakeClock(epoch)
	rev := newMemReviewer(func(spec authenticationv1.TokenReviewSpec) (authenticationv1.TokenReviewStatus, error) {
		return authenticationv1.TokenReviewStatus{Authenticated: true, User: authenticationv1.UserInfo{Username: "sa"}}, nil
	})
	tok := newToken(t, rev, authn.TokenOptions{Clock: clk, CacheTTL: 10 * time.Second})
	soon := jwtWithExp(epoch.Add(3 * time.Second))
	auth := func(token string) {
		_, ok, err := tok.AuthenticateRequest(bearer("", "Bearer "+token))
		require.NoError(t, err)
		require.True(t, ok)
	}
	auth(soon)
	clk.Step(3*time.Second - time.Nanosecond)
	auth(soon)
	assert.Equal(t, int64(1), rev.count.Load())
	clk.Step(time.Nanosecond)
	auth(soon)
	assert.Equal(t, int64(2), rev.count.Load(), "cached no longer than the token's exp")

	past := jwtWithExp(epoch.Add(-time.Hour))
	auth(past)
	auth(past)
	assert.Equal(t, int64(4), rev.count.Load(), "a token past its exp is not cached (kube-apiserver decides)")

	late := jwtWithExp(epoch.Add(time.Hour))
	auth(late)
	clk.Step(10*time.Second - time.Nanosecond)
	auth(late)
	assert.Equal(t, int64(5), rev.count.Load(), "a later exp does not lengthen CacheTTL")
}

// TestTokenAudiences: the audiences are part of the review (spec.audiences)
// and of the cache key; the answer's audiences (or the implicit ones when it
// names none) must share one with them, and the response carries the shared
// ones, as Kubernetes' webhook token authenticator does.
func TestTokenAudiences(t *testing.T) {
	bound := map[string][]string{"good-api": {"api", "x"}, "good-other": {"other"}, "good-silent": nil}
	rev := newMemReviewer(func(spec authenticationv1.TokenReviewSpec) (authenticationv1.TokenReviewStatus, error) {
		st, _ := knownTokens(spec)
		st.Audiences = bound[spec.Token]
		return st, nil
	})
	tok := newToken(t, rev, authn.TokenOptions{Audiences: []string{"api", "y"}})
	withAuds := func(r *http.Request, auds ...string) *http.Request {
		return r.WithContext(authenticator.WithAudiences(r.Context(), auds))
	}
	resp, ok, err := tok.AuthenticateRequest(bearer("", "Bearer good-api"))
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, authenticator.Audiences{"api"}, resp.Audiences)
	assert.Equal(t, []string{"api", "y"}, rev.received()[0].Audiences)

	_, ok, err = tok.AuthenticateRequest(bearer("", "Bearer good-other"))
	assert.False(t, ok)
	assert.EqualError(t, err, "invalid bearer token", "no shared audience")

	resp, ok, err = tok.AuthenticateRequest(bearer("", "Bearer good-silent"))
	require.NoError(t, err)
	require.True(t, ok, "no audiences answered: the implicit ones (Options.Audiences) apply")
	assert.Equal(t, authenticator.Audiences{"api", "y"}, resp.Audiences)

	// The context's audiences win, and each set of audiences is its own key.
	n := rev.count.Load()
	_, ok, _ = tok.AuthenticateRequest(withAuds(bearer("", "Bearer good-other"), "other"))
	assert.True(t, ok)
	_, ok, _ = tok.AuthenticateRequest(withAuds(bearer("", "Bearer good-api"), "x"))
	assert.True(t, ok)
	_, ok, _ = tok.AuthenticateRequest(withAuds(bearer("", "Bearer good-api"), "x", "api"))
	assert.True(t, ok)
	_, ok, _ = tok.AuthenticateRequest(withAuds(bearer("", "Bearer good-api")))
	assert.False(t, ok, "an empty list of audiences shares none")
	assert.Equal(t, n+4, rev.count.Load())

	// Without audiences anywhere there is no check and none is asked for.
	rev2 := newMemReviewer(func(spec authenticationv1.TokenReviewSpec) (authenticationv1.TokenReviewStatus, error) {
		st, _ := knownTokens(spec)
		st.Audiences = []string{"elsewhere"}
		return st, nil
	})
	tok2 := newToken(t, rev2, authn.TokenOptions{})
	resp, ok, _ = tok2.AuthenticateRequest(bearer("", "Bearer good-1"))
	require.True(t, ok)
	assert.Nil(t, resp.Audiences)
	assert.Nil(t, rev2.received()[0].Audiences)
	_, ok, _ = tok2.AuthenticateRequest(withAuds(bearer("", "Bearer good-1")))
	assert.False(t, ok, "an empty list in the context is a check, not the same key as none (Kubernetes conflates the two)")
}

// TestTokenFailuresCachedApart: a flood of random tokens fills the failure
// cache, bounded, and never evicts an authenticated token.
func TestTokenFailuresCachedApart(t *testing.T) {
	rev := newMemReviewer(knownTokens)
	tok := newToken(t, rev, authn.TokenOptions{MaxEntries: 4, MaxFailureEntries: 8})
	for i := range 4 {
		_, ok, _ := tok.AuthenticateRequest(bearer("", fmt.Sprintf("Bearer good-%d", i)))
		require.True(t, ok)
	}
	for i := range 1000 {
		_, ok, _ := tok.AuthenticateRequest(bearer("", fmt.Sprintf("Bearer random-%d", i)))
		require.False(t, ok)
	}
	okN, failedN := authn.TokenCacheLen(tok)
	assert.Equal(t, 4, okN)
	assert.Equal(t, 8, failedN, "bounded")
	n := rev.count.Load()
	for i := range 4 {
		_, ok, _ := tok.AuthenticateRequest(bearer("", fmt.Sprintf("Bearer good-%d", i)))
		require.True(t, ok)
	}
	assert.Equal(t, n, rev.count.Load(), "every authenticated token is still cached")

	// And bounded in bytes: a byte bound of one entry keeps one.
	tok2 := newToken(t, newMemReviewer(knownTokens), authn.TokenOptions{MaxFailureBytes: 300})
	for i := range 10 {
		_, _, _ = tok2.AuthenticateRequest(bearer("", fmt.Sprintf("Bearer random-%d", i)))
	}
	_, failedN = authn.TokenCacheLen(tok2)
	assert.Equal(t, 1, failedN)
}

// TestTokenGroups: a cache hit hands out the cached slices; a
// union hands out groups with system:authenticated precomputed.
func TestTokenGroups(t *testing.T) {
	rev := newMemReviewer(func(spec authenticationv1.TokenReviewSpec) (authenticationv1.TokenReviewStatus, error) {
		u := map[string]authenticationv1.UserInfo{
			"plain":  {Username: "a", Groups: []string{"g"}},
			"none":   {Username: "b"},
			"authed": {Username: "c", Groups: []string{user.AllAuthenticated, "g"}},
			"unauth": {Username: "d", Groups: []string{user.AllUnauthenticated}},
			"anon":   {Username: user.Anonymous},
			"extra":  {Username: "e", Extra: map[string]authenticationv1.ExtraValue{}},
		}[spec.Token]
		return authenticationv1.TokenReviewStatus{Authenticated: true, User: u}, nil
	})
	tok := newToken(t, rev, authn.TokenOptions{})
	u, err := authn.NewUnion(authn.UnionOptions{Token: tok})
	require.NoError(t, err)
	want := map[string][2][]string{ // alone, in a union
		"plain":  {{"g"}, {"g", user.AllAuthenticated}},
		"none":   {nil, {user.AllAuthenticated}},
		"authed": {{user.AllAuthenticated, "g"}, {user.AllAuthenticated, "g"}},
		"unauth": {{user.AllUnauthenticated}, {user.AllUnauthenticated}},
		"anon":   {nil, nil},
	}
	for range 2 { // a miss, then a hit
		for token, groups := range want {
			resp, ok, err := tok.AuthenticateRequest(bearer("", "Bearer "+token))
			require.NoError(t, err)
			require.True(t, ok)
			assert.Equal(t, groups[0], resp.User.GetGroups(), token)
			resp, ok, err = u.AuthenticateRequest(bearer("", "Bearer "+token))
			require.NoError(t, err)
			require.True(t, ok)
			assert.Equal(t, groups[1], resp.User.GetGroups(), token)
		}
	}
	resp, _, _ := tok.AuthenticateRequest(bearer("", "Bearer extra"))
	assert.NotNil(t, resp.User.GetExtra(), "an empty extra map stays a map, as in Kubernetes")
	resp, _, _ = tok.AuthenticateRequest(bearer("", "Bearer plain"))
	assert.Nil(t, resp.User.GetExtra())
}

func jwtWithExp(exp time.Time) string {
	return jwtToken(fmt.Sprintf(`{"iss":"https://kubernetes.default.svc","sub":"system:serviceaccount:ns:sa","exp":%d}`, exp.Unix()))
}

// TestWebSocketSubprotocolsCostBounded: an unauthenticated client may send a
// WebSocket upgrade with a megabyte of subprotocols (net/http's header
// limit), most of them empty. Reading them costs a small multiple of the
// header, with or without a token among them, not a slice header per
// subprotocol (Kubernetes' websocket authenticator allocates about 80 times
// the header).
func TestWebSocketSubprotocolsCostBounded(t *testing.T) {
	tok := newToken(t, newMemReviewer(knownTokens), authn.TokenOptions{})
	junk := strings.Repeat(",", 1<<20-100)
	for _, tc := range []struct {
		name, protocols string
		ok              bool
	}{
		{"no token", junk, false},
		{"a token", junk + ",base64url.bearer.authorization.k8s.io." + base64.RawURLEncoding.EncodeToString([]byte("good-ws")) + ",x", true},
		{"an invalid token", junk + ",base64url.bearer.authorization.k8s.io.bm9wZQ,x", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := bearer("")
			r.Header.Set("Upgrade", "websocket")
			r.Header.Set("Connection", "Upgrade")
			r.Header.Set("Sec-WebSocket-Protocol", tc.protocols)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, ok, _ := tok.AuthenticateRequest(r)
			runtime.ReadMemStats(&after)
			assert.Equal(t, tc.ok, ok)
			allocated := after.TotalAlloc - before.TotalAlloc
			assert.Less(t, allocated, uint64(3*len(tc.protocols)), "got %d bytes allocated for a header of %d", allocated, len(tc.protocols))
			if tc.ok {
				assert.Equal(t, junk+",x", r.Header.Get("Sec-WebSocket-Protocol"), "the others kept, the token removed")
			}
		})
	}
}
