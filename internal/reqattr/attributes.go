package reqattr

import (
	"net/http"
	"sync/atomic"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/request"
)

var _ authorizer.Attributes = (*Attributes)(nil)

// Attributes is the authorizer.Attributes of one request: what kube-apiserver's
// GetAuthorizerAttributes builds from the user and the RequestInfo, with the
// field and label selectors parsed lazily (on first use, safely from several
// goroutines) instead of on every request. The authorizer's cache key
// is computed from the raw selectors (RawSelectors), so a cache hit never
// parses them.
//
// Build one with NewAttributes or AttributesFromRequestInfo, or embed it in a
// larger per-request allocation and call Init. An Attributes must not be copied
// after first use.
type Attributes struct {
	// User is the user the request is authorized for. It may be set after Init,
	// before the Attributes are used.
	User user.Info

	info  request.RequestInfo
	parts [inlineParts]string

	// parsed holds the selectors once parsed, in memory of their own: most
	// requests never parse them (the cache key uses the raw ones), and an
	// Attributes lives in every request's state.
	parsed atomic.Pointer[parsedSelectors]
}

// parsedSelectors are the parsed field and label selectors of a request.
type parsedSelectors struct {
	fieldSel  fields.Selector
	fieldReqs fields.Requirements
	fieldErr  error
	labelSel  labels.Selector
	labelReqs labels.Requirements
	labelErr  error
}

// NewAttributes resolves req with NewRequestInfo and returns its attributes for
// user u, in one allocation. On error, the Attributes hold the RequestInfo as far
// as it was resolved.
func NewAttributes(req *http.Request, u user.Info) (*Attributes, error) {
	a := new(Attributes)
	err := a.Init(req, u)
	return a, err
}

// Init resolves req into a, which must be a zero Attributes, for user u.
func (a *Attributes) Init(req *http.Request, u user.Info) error {
	a.User = u
	return resolveRequestInfo(&a.info, &a.parts, req)
}

// AttributesFromRequestInfo returns the attributes of an already resolved
// request for user u, as kube-apiserver's GetAuthorizerAttributes does. info is
// copied; its Parts are shared.
func AttributesFromRequestInfo(u user.Info, info *request.RequestInfo) *Attributes {
	a := new(Attributes)
	a.InitFromRequestInfo(u, info)
	return a
}

// InitFromRequestInfo sets a, which must be a zero Attributes, to the
// attributes of info for user u. info is copied; its Parts are shared.
func (a *Attributes) InitFromRequestInfo(u user.Info, info *request.RequestInfo) {
	a.User = u
	a.info = *info
}

// RequestInfo returns the resolved RequestInfo. Callers must not modify it.
func (a *Attributes) RequestInfo() *request.RequestInfo { return &a.info }

// GetUser returns the User field.
func (a *Attributes) GetUser() user.Info { return a.User }

// GetVerb returns the Kubernetes verb (get, list, watch, create, ...) of a
// resource request, or the lower-case HTTP method of a non-resource request.
func (a *Attributes) GetVerb() string { return a.info.Verb }

// IsReadOnly reports whether the verb is get, list or watch.
func (a *Attributes) IsReadOnly() bool {
	v := a.info.Verb
	return v == "get" || v == "list" || v == "watch"
}

// GetNamespace returns the namespace of a resource request.
func (a *Attributes) GetNamespace() string { return a.info.Namespace }

// GetResource returns the resource of a resource request, such as "pods".
func (a *Attributes) GetResource() string { return a.info.Resource }

// GetSubresource returns the subresource of a resource request, such as "status".
func (a *Attributes) GetSubresource() string { return a.info.Subresource }

// GetName returns the object name of a resource request, if the request names one.
func (a *Attributes) GetName() string { return a.info.Name }

// GetAPIGroup returns the API group of a resource request ("" for the core group).
func (a *Attributes) GetAPIGroup() string { return a.info.APIGroup }

// GetAPIVersion returns the API version of a resource request.
func (a *Attributes) GetAPIVersion() string { return a.info.APIVersion }

// IsResourceRequest reports whether the request is for an API resource.
func (a *Attributes) IsResourceRequest() bool { return a.info.IsResourceRequest }

// GetPath returns the URL path of the request.
func (a *Attributes) GetPath() string { return a.info.Path }

// GetFieldSelector returns the parsed field selector of a list, watch or
// deletecollection request: nil when there is none or it has no requirements,
// and nil with the parse error when it does not parse.
func (a *Attributes) GetFieldSelector() (fields.Requirements, error) {
	p := a.selectors()
	return p.fieldReqs, p.fieldErr
}

// GetLabelSelector returns the parsed label selector of a list, watch or
// deletecollection request: nil when there is none or it has no requirements,
// and nil with the parse error when it does not parse.
func (a *Attributes) GetLabelSelector() (labels.Requirements, error) {
	p := a.selectors()
	return p.labelReqs, p.labelErr
}

// Selectors returns the parsed selectors of a list, watch or deletecollection
// request (Everything when there is none), or the first parse error.
func (a *Attributes) Selectors() (labels.Selector, fields.Selector, error) {
	p := a.selectors()
	if p.labelErr != nil {
		return nil, nil, p.labelErr
	}
	if p.fieldErr != nil {
		return nil, nil, p.fieldErr
	}
	return p.labelSel, p.fieldSel, nil
}

// selectors parses both selectors on first use. Goroutines that ask at once
// may each parse; the first to finish is kept, and parsing is deterministic.
func (a *Attributes) selectors() *parsedSelectors {
	if p := a.parsed.Load(); p != nil {
		return p
	}
	p := &parsedSelectors{fieldSel: fields.Everything(), labelSel: labels.Everything()}
	if a.info.FieldSelector != "" {
		if sel, err := fields.ParseSelector(a.info.FieldSelector); err != nil {
			p.fieldErr = err
		} else {
			p.fieldSel = sel
			if reqs := sel.Requirements(); len(reqs) > 0 {
				p.fieldReqs = reqs
			}
		}
	}
	if a.info.LabelSelector != "" {
		if sel, err := labels.Parse(a.info.LabelSelector); err != nil {
			p.labelErr = err
		} else {
			p.labelSel = sel
			if reqs, _ := sel.Requirements(); len(reqs) > 0 {
				p.labelReqs = reqs
			}
		}
	}
	if a.parsed.CompareAndSwap(nil, p) {
		return p
	}
	return a.parsed.Load()
}

// RawSelectors returns the unparsed selectors; the SubjectAccessReview built
// from these attributes is a function of them, so a cache key can use them
// directly.
func (a *Attributes) RawSelectors() (field, label string) {
	return a.info.FieldSelector, a.info.LabelSelector
}
