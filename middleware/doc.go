// Package middleware is the request path of an extension apiserver behind the
// kube-apiserver aggregation layer, as net/http middlewares.
//
// # Steps
//
// Each step is a value built once by its constructor, with a Handler method
// that is a func(http.Handler) http.Handler:
//
//   - Authentication (NewAuthentication): who is calling, with any Kubernetes
//     authenticator.Request (usually authn.Union); 401 otherwise.
//   - RequestAttributes (NewRequestAttributes): what the request is, as
//     kube-apiserver resolves it (RequestInfo, authorizer attributes), and the
//     path every router will read, made equal to the one resolved.
//   - Impersonation (NewImpersonation): Impersonate-* headers from direct
//     callers, authorized as kube-apiserver does.
//   - Authorization (NewAuthorization): may they, with any authorizer (usually
//     authz.Authorizer); 403, or 503/429 when the check could not be made.
//   - Admission (NewAdmission): may this change happen (usually
//     admission.NamespaceLifecycle).
//
// Chain (NewChain) runs the same step values in that order behind the health
// endpoints (/healthz, /livez, /readyz, answered without authentication),
// with one copy of the request for all of them. Composing the Handlers by hand
// gives the same answers (a test holds the two equal); a step also works
// after Kubernetes' own filters: it reads the user of request.WithUser and the
// RequestInfo of request.WithRequestInfo.
//
// Every refusal is a Kubernetes Status (WriteStatus), so kubectl prints it the
// familiar way. In the handler, the caller is request.UserFrom(ctx) (package
// k8s.io/apiserver/pkg/endpoints/request), the request is
// request.RequestInfoFrom(ctx) and AttributesFrom(ctx), the decision is
// DecisionFrom(ctx), and the selectors to apply are SelectorsFrom(ctx).
//
// # What a handler must do
//
// The chain authorizes the request as kube-apiserver reads it. A handler
// written the obvious way is safe if it also does these five things:
//
//  1. Apply the selectors of a list. A list with
//     ?fieldSelector=metadata.name=X is authorized as a request for X alone
//     (an RBAC rule with resourceNames: [X] allows it), and label selectors
//     may be part of the decision too: return only what SelectorsFrom(ctx)
//     selects (requestinfo.Filter); answer its error with WriteStatus.
//  2. Check the namespace of a create that does not come as a POST. The chain
//     checks the namespace lifecycle on the verb create; a handler that
//     creates on PUT or PATCH (create-on-update, apply) must call the
//     admission check itself with verb "create" once it knows the object is
//     new.
//  3. Take the caller from request.UserFrom, never from a header: the chain
//     removes Authorization, Impersonate-* and every X-Remote-* identity
//     header before the handler runs, whoever sent them. The user.Info is
//     read-only, as in Kubernetes: a bearer token's comes from the token
//     cache and is shared with that token's other requests. Use its getters:
//     a forwarded user is not a *user.DefaultInfo (its extra becomes a map
//     only when GetExtra is called).
//  4. Take names from the path the chain hands over (r.URL.Path, or the
//     router's parameters): it is the one that was authorized. Routers do not
//     redirect: behind the aggregator a 3xx with a Location becomes a 502
//     (kube-apiserver's --aggregator-reject-forwarding-redirect), so turn
//     redirects off (gin: RedirectTrailingSlash and RedirectFixedPath). Do
//     not decode the path again: gin's UseEscapedPath turns a "+" into a
//     space, a name the chain never authorized.
//  5. Honour or refuse ?dryRun on a change. kubectl --dry-run=server asks
//     the server to check a change without making it; a handler that cannot
//     must answer 400, never apply it.
package middleware
