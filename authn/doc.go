// Package authn answers "who is calling" for an extension apiserver behind the
// kube-apiserver aggregation layer.
//
// It provides four authenticators with the semantics of k8s.io/apiserver v0.37.2,
// all implementing Kubernetes' authenticator.Request so they plug into either
// chain:
//
//   - FrontProxy verifies that the client certificate chains to the front-proxy CA
//     (kube-apiserver's --requestheader-client-ca-file) with the clientAuth usage
//     and that its Subject CommonName is an allowed name, then reads the user from
//     the X-Remote-User, X-Remote-Group, X-Remote-Extra-* (and, when configured,
//     X-Remote-Uid) headers. It is k8s' headerrequest.NewDynamicVerifyOptionsSecure.
//   - ClientCert authenticates direct callers by their client certificate
//     (--client-ca-file): user = CN, groups = O, extra
//     authentication.kubernetes.io/credential-id = X509SHA256=<hex>. It is k8s'
//     x509.NewDynamic with CommonNameUserConversion.
//   - Token authenticates direct callers (Prometheus, in-cluster controllers,
//     kubectl --token) by bearer token: the Authorization header read exactly
//     as k8s' bearertoken authenticator reads it, then a TokenReview to
//     kube-apiserver with the answers of k8s' webhook token authenticator
//     (audiences included) behind its cached token authenticator.
//   - Union tries the front proxy, then the client certificate, then the
//     bearer token, adds system:authenticated, and optionally falls back to
//     anonymous. An authenticator error is final (401): it never falls back to
//     anonymous.
//
// # Faster than Kubernetes, same answers
//
// Kubernetes verifies the certificate chain on every request (30-65 µs). Here a
// successful verification is cached until the earliest NotAfter of the verified
// chain: per connection, in a small lock-free table that refers to the
// connection weakly, and by content (the chain's bytes and the CA bundle in
// force) in an LRU bounded in entries and bytes, so a client reconnecting with
// the same certificate finds its entry instead of adding one. A new CA bundle
// misses both, so a CA rotation applies to the very next request, also on
// kept-alive connections. Failed verifications are never cached: nothing a
// client sends is kept unless a trusted CA signed it, and a refused client
// costs what it costs Kubernetes. A chain of more than MaxPresentedCertificates
// certificates is refused unverified (Kubernetes sets no bound). Headers are
// decoded in one pass with Kubernetes' exact rules.
//
// Token answers are cached as Kubernetes caches them (success and failure
// TTLs, errors never cached, concurrent identical misses sharing one review),
// under an HMAC-SHA256 of the token and audiences with a per-process random
// key: the token itself is kept in no key, log, metric or error message. The
// caches are bounded in entries and bytes, failures in a cache of their own
// so that random tokens cannot evict authenticated ones, and a success is
// never cached past the exp claim of a JWT (read without verification, only
// ever to shorten the TTL). Reviews in flight are bounded, in all and per
// client IP address; beyond, ErrTooManyInFlight (429). A WebSocket upgrade's
// token, sent as the subprotocol base64url.bearer.authorization.k8s.io.<token>
// (browsers cannot set an Authorization header), is read as Kubernetes'
// websocket authenticator reads it, after the Authorization header, and
// reviewed and cached as any other token (a differential test holds the two
// equal). Difference from Kubernetes: "no audiences in the context" and "an
// empty list of audiences" are told apart in the key.
//
// # Configuration
//
// Authenticators read their configuration from providers on every request, so it
// can change at runtime: a CAProvider returns the current *CABundle and a
// RequestHeaderProvider the current *RequestHeaderConfig. DynamicCA and
// DynamicRequestHeader are atomic holders that configuration sources (the
// cluster's extension-apiserver-authentication ConfigMap, files, static values)
// write to. Until a provider has a value, its authenticator has no opinion: nobody
// is authenticated from headers before the first configuration load.
package authn
