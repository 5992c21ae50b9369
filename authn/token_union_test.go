package authn_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apiserver/pkg/authentication/user"

	"github.com/aggauth/aggauth/authn"
	"github.com/aggauth/aggauth/internal/fakekube"
	"github.com/aggauth/aggauth/middleware"
)

// TestUnionWithToken: the order is Kubernetes' (front proxy, client
// certificate, bearer token, then anonymous if enabled and nobody had an
// opinion); a token's error is never anonymous.
func TestUnionWithToken(t *testing.T) {
	p := newPKI(t)
	rev := newMemReviewer(knownTokens)
	tok := newToken(t, rev, authn.TokenOptions{})
	fp, _ := frontProxy(t, authn.NewRequestHeaderConfig(bundle(t, p.proxyCA), "front-proxy-client"))
	cc, err := authn.NewClientCert(authn.ClientCertOptions{CA: authn.StaticCA{Bundle: bundle(t, p.clientCA)}})
	require.NoError(t, err)
	for _, anonymous := range []bool{false, true} {
		u, err := authn.NewUnion(authn.UnionOptions{FrontProxy: fp, ClientCert: cc, Token: tok, Anonymous: anonymous})
		require.NoError(t, err)
		tests := []struct {
			name    string
			req     *http.Request
			want    string // the user; "" for none
			wantErr bool
		}{
			{"front proxy first", newRequest(chain(p.proxy), "X-Remote-User", "bob", "Authorization", "Bearer good-1"), "bob", false},
			{"client certificate second", newRequest(chain(p.alice), "Authorization", "Bearer bad-1"), "alice", false},
			{"token third", newRequest(nil, "Authorization", "Bearer good-1"), "alice", false},
			{"a refused token is an error, never anonymous", newRequest(nil, "Authorization", "Bearer bad-1"), "", true},
			{"no credentials", newRequest(nil), map[bool]string{true: user.Anonymous}[anonymous], false},
		}
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s anonymous=%v", tt.name, anonymous), func(t *testing.T) {
				before := rev.count.Load()
				resp, ok, err := u.AuthenticateRequest(tt.req)
				if tt.wantErr {
					require.Error(t, err)
					assert.False(t, ok)
					return
				}
				require.NoError(t, err)
				assert.Equal(t, tt.want != "", ok)
				if ok {
					assert.Equal(t, tt.want, resp.User.GetName())
				}
				if tt.name != "token third" {
					assert.Equal(t, before, rev.count.Load(), "the token is not reviewed when another authenticator decided")
				}
			})
		}
	}
	_, err = authn.NewUnion(authn.UnionOptions{Token: tok})
	require.NoError(t, err, "a token alone is a union")
}

// TestTokenNeverRevealed sends a secret token through every path that can
// write text (a success, a refusal, a review status that echoes it, an API
// error that echoes it, a proxy answering with it in a raw body, too many
// reviews, an abandoned review), through the authenticator and the
// middleware, and fails if the token appears in a log line, a metric, an
// error message or a response.
func TestTokenNeverRevealed(t *testing.T) {
	secret := "s3cr3t-" + rand.Text()
	var logs bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	hold := make(chan struct{})
	mode := func(spec authenticationv1.TokenReviewSpec) (authenticationv1.TokenReviewStatus, error) {
		switch strings.TrimPrefix(spec.Token, secret) {
		case "-held":
			<-hold
		case "-ok":
			return authenticationv1.TokenReviewStatus{Authenticated: true, User: authenticationv1.UserInfo{Username: "alice"}}, nil
		case "-echo":
			return authenticationv1.TokenReviewStatus{Error: "token " + spec.Token + " is expired"}, nil
		case "-apierror":
			return authenticationv1.TokenReviewStatus{}, apierrors.NewBadRequest("cannot parse " + spec.Token)
		case "-500":
			return authenticationv1.TokenReviewStatus{}, apierrors.NewInternalError(errors.New("lookup of " + spec.Token + " failed"))
		case "-raw":
			return authenticationv1.TokenReviewStatus{}, &fakekube.RawError{Code: http.StatusBadGateway, Body: "proxy could not forward " + spec.Token}
		}
		return authenticationv1.TokenReviewStatus{}, nil
	}
	srv := newTokenServer(t, mode)
	client, err := authn.NewReviewClient(tokenRestConfig(srv), authn.ReviewClientOptions{})
	require.NoError(t, err)
	tok := newToken(t, client, authn.TokenOptions{Logger: logger, RetryBackoff: fastBackoff(2)})
	u, err := authn.NewUnion(authn.UnionOptions{Token: tok})
	require.NoError(t, err)
	step, err := middleware.NewAuthentication(middleware.AuthenticationOptions{Authenticator: u, Logger: logger})
	require.NoError(t, err)
	h := step.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%v", r.Header)
	}))

	var seen strings.Builder
	record := func(err error) {
		for ; err != nil; err = errors.Unwrap(err) {
			fmt.Fprintf(&seen, "%v\n%+v\n%#v\n", err, err, err)
		}
	}
	for _, suffix := range []string{"-ok", "-bad", "-echo", "-apierror", "-500", "-raw"} {
		_, _, err := u.AuthenticateRequest(bearer("", "Bearer "+secret+suffix))
		record(err)
		_, _, err = tok.AuthenticateRequest(bearer("", "Bearer "+secret+suffix+"-direct"))
		record(err)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, bearer("", "Bearer "+secret+suffix+"-http"))
		fmt.Fprintf(&seen, "%d %v %s\n", rec.Code, rec.Header(), rec.Body)
	}
	// Too many in flight, and an abandoned review.
	busy := newToken(t, client, authn.TokenOptions{Logger: logger, MaxInFlight: 1})
	ctx, cancel := context.WithCancel(context.Background())
	var waiting sync.WaitGroup
	waiting.Add(1)
	authn.SetTokenOnWait(busy, waiting.Done)
	done := make(chan error)
	go func() {
		_, _, err := busy.AuthenticateRequest(bearer("", "Bearer "+secret+"-held").WithContext(ctx))
		done <- err
	}()
	waiting.Wait()
	authn.SetTokenOnWait(busy, nil)
	_, _, err = busy.AuthenticateRequest(bearer("", "Bearer "+secret+"-other"))
	require.ErrorIs(t, err, authn.ErrTooManyInFlight)
	record(err)
	cancel()
	record(<-done)
	close(hold)

	for _, c := range [][]prometheus.Collector{tok.Collectors(), busy.Collectors(), step.Collectors()} {
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(c...)
		mfs, err := reg.Gather()
		require.NoError(t, err)
		fmt.Fprintf(&seen, "%v\n", mfs)
	}
	mu.Lock()
	seen.Write(logs.Bytes())
	mu.Unlock()
	require.Contains(t, seen.String(), "TokenReview failed", "the failed reviews were logged")
	require.Contains(t, seen.String(), "[token]", "echoed tokens were redacted")
	require.NotContains(t, seen.String(), secret)
	require.NotContains(t, seen.String(), secret[:16])
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
