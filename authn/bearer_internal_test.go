package authn

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/stretchr/testify/assert"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/request/bearertoken"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/warning"
)

// warnings records what an authenticator adds to the request context.
type warnings []string

func (w *warnings) AddWarning(_, text string) { *w = append(*w, text) }

// kubernetesBearer returns the token Kubernetes' bearertoken authenticator
// passes on for the Authorization values, if any, and its warnings.
func kubernetesBearer(values []string) (string, bool, []string) {
	var seen string
	var called bool
	a := bearertoken.New(authenticator.TokenFunc(func(_ context.Context, token string) (*authenticator.Response, bool, error) {
		seen, called = token, true
		return &authenticator.Response{User: &user.DefaultInfo{Name: "x"}}, true, nil
	}))
	var w warnings
	r, _ := http.NewRequestWithContext(warning.WithWarningRecorder(context.Background(), &w), http.MethodGet, "/", nil)
	r.Header["Authorization"] = values
	_, _, _ = a.AuthenticateRequest(r)
	return seen, called, w
}

func ourBearer(values []string) (string, bool, []string) {
	var w warnings
	r, _ := http.NewRequestWithContext(warning.WithWarningRecorder(context.Background(), &w), http.MethodGet, "/", nil)
	r.Header["Authorization"] = values
	token, ok := bearerToken(r)
	return token, ok, w
}

func TestBearerTokenMatchesKubernetes(t *testing.T) {
	cases := [][]string{
		nil, {}, {""}, {" "}, {"Bearer"}, {"Bearer "}, {"Bearer x"}, {"bearer x"}, {"BEARER x"}, {"BeArEr x"},
		{"Bearer x y"}, {"Bearer x y z"}, {"Bearer  x"}, {"Bearer   x"}, {"Bearer\tx"}, {"Bearer \tx"}, {"Bearer x\t"},
		{" Bearer x "}, {"\tBearer x\n"}, {"Bearer x\u00a0"}, {"\u0085Bearer x"}, {"Bearer\u00a0x"}, {"Basic x"}, {"Token x"},
		{"Bearer:x"}, {"Bearerx"}, {"Bearer2 x"}, {"Beare x"}, {"Bearer x", "Bearer y"}, {"Basic x", "Bearer y"},
		{"", "Bearer y"}, {"Bearer \u00e9"}, {"B\u0130arer x"}, {"\uff22earer x"}, {"Bearer \xff"}, {"\xffBearer x"},
		{"Bearer .x"}, {"Bearer x "}, {"Bearer x  y"},
	}
	for _, values := range cases {
		wantTok, wantOK, wantW := kubernetesBearer(values)
		gotTok, gotOK, gotW := ourBearer(values)
		assert.Equal(t, wantOK, gotOK, "%q", values)
		assert.Equal(t, wantTok, gotTok, "%q", values)
		assert.Equal(t, wantW, gotW, "%q: warnings", values)
	}
}

func FuzzBearerToken(f *testing.F) {
	for _, s := range []string{"Bearer x", "bearer x y", "Bearer  x", "Bearer\tx", "Bearer", " BEARER x ", "\u0085Bearer x\u00a0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		wantTok, wantOK, wantW := kubernetesBearer([]string{s})
		gotTok, gotOK, gotW := ourBearer([]string{s})
		if wantOK != gotOK || wantTok != gotTok || len(wantW) != len(gotW) {
			t.Fatalf("%q: got %q %v %v; want %q %v %v", s, gotTok, gotOK, gotW, wantTok, wantOK, wantW)
		}
	})
}

// TestNoRuneLowersToBearer proves isBearer's premise: no rune outside ASCII
// lowers (as strings.ToLower does) to a letter of "bearer", so only six ASCII
// bytes can lower to it.
func TestNoRuneLowersToBearer(t *testing.T) {
	for r := rune(0x80); r <= unicode.MaxRune; r++ {
		l := strings.ToLower(string(r))
		if l == "b" || l == "e" || l == "a" || l == "r" {
			t.Fatalf("%U lowers to %q", r, l)
		}
	}
	assert.Equal(t, "\ufffd", strings.ToLower("\xff"), "invalid UTF-8 lowers to U+FFFD")
}

func jwt(claims string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256"}`)) + "." + enc([]byte(claims)) + ".c2ln"
}

func TestJWTExpiry(t *testing.T) {
	tests := []struct {
		token string
		want  time.Time
		ok    bool
	}{
		{jwt(`{"exp":1700000000}`), time.Unix(1700000000, 0), true},
		{jwt(`{"exp":1700000000.5,"sub":"x"}`), time.Unix(1700000000, 5e8), true},
		{jwt(`{"exp":-5}`), time.Unix(0, 0), true},
		{jwt(`{"exp":"1700000000"}`), time.Time{}, false},
		{jwt(`{"exp":1e300}`), time.Time{}, false},
		{jwt(`{"sub":"x"}`), time.Time{}, false},
		{jwt(`not json`), time.Time{}, false},
		{jwt(`{"exp":1700000000}`) + ".more.parts", time.Time{}, false},
		{strings.TrimSuffix(jwt(`{"exp":1700000000}`), ".c2ln"), time.Time{}, false},
		{"." + strings.SplitN(jwt(`{"exp":1}`), ".", 2)[1], time.Time{}, false},
		{"opaque-token", time.Time{}, false},
		{"a.!!!.c", time.Time{}, false},
		{"a." + strings.Repeat("A", maxJWTPayload+1) + ".c", time.Time{}, false},
	}
	for _, tt := range tests {
		got, ok := jwtExpiry(tt.token)
		assert.Equal(t, tt.ok, ok, "%q", tt.token)
		assert.True(t, tt.want.Equal(got), "%q: got %v; want %v", tt.token, got, tt.want)
	}
}
