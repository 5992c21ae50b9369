package requestinfo

import (
	"net/http"

	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/aggauth/aggauth/internal/reqattr"
)

// New resolves req into Kubernetes' RequestInfo with exactly the rules of
// k8s.io/apiserver's RequestInfoFactory as kube-apiserver and extension
// servers configure it (API prefixes "api" and "apis", "api" without a group):
// verbs from the method or the /watch/ and /proxy/ path prefixes, list and
// watch for collection GETs, deletecollection, subresources, the
// namespaces/{ns} rule, the name taken from a fieldSelector=metadata.name=X,
// and the raw field and label selectors of list, watch and deletecollection
// requests.
//
// It reads the query once, without building a url.Values, and parses selectors
// only where the result depends on them. Like Kubernetes, it returns an error
// (and the RequestInfo as far as it got) for a path that ends in a special
// verb, such as /api/v1/watch.
func New(req *http.Request) (*request.RequestInfo, error) { return reqattr.NewRequestInfo(req) }

// Resolver is New as a request.RequestInfoResolver, for code that takes one,
// such as Kubernetes' filters.WithRequestInfo.
type Resolver struct{}

var _ request.RequestInfoResolver = Resolver{}

// NewRequestInfo calls New.
func (Resolver) NewRequestInfo(req *http.Request) (*request.RequestInfo, error) {
	return reqattr.NewRequestInfo(req)
}

// NewAttributes resolves req with New and returns its authorizer attributes
// for user u, as kube-apiserver's GetAuthorizerAttributes builds them, in one
// allocation, with the selectors parsed on first use. On error, the
// attributes hold the RequestInfo as far as it was resolved.
func NewAttributes(req *http.Request, u user.Info) (authorizer.Attributes, error) {
	return reqattr.NewAttributes(req, u)
}

// AttributesFor returns the authorizer attributes of an already resolved
// request for user u, as kube-apiserver's GetAuthorizerAttributes does. info
// is copied; its Parts are shared.
func AttributesFor(u user.Info, info *request.RequestInfo) authorizer.Attributes {
	return reqattr.AttributesFromRequestInfo(u, info)
}
