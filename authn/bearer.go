package authn

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"k8s.io/apiserver/pkg/warning"
)

// extraSpaceWarning is the warning Kubernetes' bearertoken authenticator adds
// when a space too many stands between the scheme and the token.
const extraSpaceWarning = "the provided Authorization header contains extra space before the bearer token, and is ignored"

// bearerToken reads the token of the Authorization header exactly as
// Kubernetes' bearertoken authenticator does
// (k8s.io/apiserver/pkg/authentication/request/bearertoken), without
// allocating: the first Authorization header only, its value trimmed of
// Unicode white space, split at single spaces; the scheme (before the first
// space) is "bearer" in any case and the token runs to the next space, so
// "Bearer x y" carries x. No space ("Bearer", "Bearer\tx"), another scheme,
// or an empty token ("Bearer  x") is no token at all; the last adds
// Kubernetes' warning to the request context.
func bearerToken(req *http.Request) (string, bool) {
	values := req.Header["Authorization"] // Header.Get, without canonicalizing a canonical key
	if len(values) == 0 {
		return "", false
	}
	auth := strings.TrimSpace(values[0])
	scheme, rest, found := strings.Cut(auth, " ")
	if !found || !isBearer(scheme) {
		return "", false
	}
	token, _, extraSpace := strings.Cut(rest, " ")
	if token == "" {
		if extraSpace {
			warning.AddWarning(req.Context(), "", extraSpaceWarning)
		}
		return "", false
	}
	return token, true
}

// The WebSocket subprotocol of a bearer token, as Kubernetes names it
// (k8s.io/apiserver/pkg/authentication/request/websocket).
const (
	webSocketProtocolHeader = "Sec-Websocket-Protocol" // canonical
	webSocketBearerPrefix   = "base64url.bearer.authorization.k8s.io."
)

// The errors of a WebSocket bearer token, with Kubernetes' words.
var (
	errWebSocketTokens          = errors.New("multiple base64.bearer.authorization tokens specified")
	errWebSocketTokenEncoding   = errors.New("invalid base64.bearer.authorization token encoding")
	errWebSocketTokenUTF8       = errors.New("invalid base64.bearer.authorization token")
	errWebSocketNoOtherProtocol = errors.New("missing additional subprotocol")
)

// webSocketToken reads the bearer token of a WebSocket upgrade's
// subprotocols as Kubernetes' ProtocolAuthenticator does: every
// Sec-WebSocket-Protocol value split at commas and trimmed; "" when the
// request is no WebSocket upgrade or carries no token subprotocol. It
// allocates the token only: a client may send a megabyte of subprotocols,
// and a slice of them would cost tens of times the header (webSocketOthers
// joins the others once the token is authenticated).
func webSocketToken(req *http.Request) (string, error) {
	values := req.Header[webSocketProtocolHeader]
	if len(values) == 0 || !isWebSocket(req.Header) || !slices.ContainsFunc(values, hasBearerProtocol) {
		return "", nil
	}
	var token string
	saw, others := false, false
	for _, v := range values {
		for p := range strings.SplitSeq(v, ",") {
			encoded, ok := strings.CutPrefix(strings.TrimSpace(p), webSocketBearerPrefix)
			if !ok {
				others = true
				continue
			}
			if saw {
				return "", errWebSocketTokens
			}
			saw = true
			decoded, err := base64.RawURLEncoding.DecodeString(encoded)
			if err != nil {
				return "", errWebSocketTokenEncoding
			}
			if !utf8.Valid(decoded) {
				return "", errWebSocketTokenUTF8
			}
			token = string(decoded)
		}
	}
	if token != "" && !others {
		return "", errWebSocketNoOtherProtocol
	}
	return token, nil
}

func hasBearerProtocol(v string) bool { return strings.Contains(v, webSocketBearerPrefix) }

// webSocketOthers returns the subprotocols of values but the token's, trimmed
// and joined by commas, as Kubernetes leaves them in Sec-WebSocket-Protocol
// once the token is authenticated: in one allocation, at most the size of
// the values.
func webSocketOthers(values []string) string {
	size := 0
	for _, v := range values {
		size += len(v) + 1
	}
	var b strings.Builder
	b.Grow(size)
	first := true
	for _, v := range values {
		for p := range strings.SplitSeq(v, ",") {
			p = strings.TrimSpace(p)
			if strings.HasPrefix(p, webSocketBearerPrefix) {
				continue
			}
			if !first {
				b.WriteByte(',')
			}
			first = false
			b.WriteString(p)
		}
	}
	return b.String()
}

// isWebSocket is k8s.io/streaming's wsstream.IsWebSocketRequest: the first
// Upgrade value is "websocket" in any case, and a Connection value holds
// "upgrade" in any case.
func isWebSocket(h http.Header) bool {
	if up := h["Upgrade"]; len(up) == 0 || !strings.EqualFold(up[0], "websocket") {
		return false
	}
	for _, c := range h["Connection"] {
		if strings.Contains(strings.ToLower(c), "upgrade") {
			return true
		}
	}
	return false
}

// isBearer is strings.ToLower(s) == "bearer" without allocating. No rune
// outside ASCII lowers to an ASCII letter of "bearer" (a test checks every
// rune), so an ASCII comparison folding case is the same test.
func isBearer(s string) bool {
	const want = "bearer"
	if len(s) != len(want) {
		return false
	}
	for i := 0; i < len(want); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != want[i] {
			return false
		}
	}
	return true
}

// clientOf names the client a TokenReview is made for, to bound the reviews
// in flight per client: the caller is not authenticated yet, so it is the
// IP address it connects from (net/http's RemoteAddr, never a header), or for
// an IPv6 address its /64 prefix: a host is usually given a whole /64, and
// could otherwise take a new address for each request.
func clientOf(req *http.Request) string {
	host, _, err := net.SplitHostPort(req.RemoteAddr)
	if err != nil {
		return req.RemoteAddr
	}
	if ip, err := netip.ParseAddr(host); err == nil && ip.Is6() && !ip.Is4In6() {
		if p, err := ip.Prefix(64); err == nil {
			return p.String()
		}
	}
	return host
}

// maxJWTPayload bounds the claims jwtExpiry decodes; real service-account
// tokens carry well under 2 KiB.
const maxJWTPayload = 16 << 10

// jwtExpiry returns the exp claim of token when token is a JWT in compact
// serialization (three base64url parts) whose payload is a JSON object with a
// numeric exp. It is read WITHOUT verifying the signature, and only ever used
// to shorten how long kube-apiserver's answer for the token is cached: a
// forged exp can only make the cache forget a token sooner; the review still
// decides whether the token is valid.
func jwtExpiry(token string) (time.Time, bool) {
	header, rest, ok := strings.Cut(token, ".")
	if !ok || header == "" {
		return time.Time{}, false
	}
	payload, signature, ok := strings.Cut(rest, ".")
	if !ok || strings.Contains(signature, ".") || len(payload) > maxJWTPayload {
		return time.Time{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(payload, "="))
	if err != nil {
		return time.Time{}, false
	}
	var claims struct {
		Exp *float64 `json:"exp"`
	}
	if json.Unmarshal(raw, &claims) != nil || claims.Exp == nil {
		return time.Time{}, false
	}
	exp := *claims.Exp
	if exp >= 1<<40 { // beyond year 36,000: no bound worth applying
		return time.Time{}, false
	}
	if exp < 0 {
		return time.Unix(0, 0), true
	}
	sec, frac := math.Modf(exp)
	return time.Unix(int64(sec), int64(frac*1e9)), true
}
