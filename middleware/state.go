package middleware

import (
	"context"

	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/aggauth/aggauth/pipeline"
	"github.com/aggauth/aggauth/requestinfo"
)

// The steps keep what they learn of a request in its pipeline.State, which is
// also the request's context: request.UserFrom and request.RequestInfoFrom
// read the user and the RequestInfo from it, and the getters below the rest.
// A step run after Kubernetes' own filters finds the user of
// request.WithUser and the RequestInfo of request.WithRequestInfo in it.

// AttributesFrom returns the authorizer attributes of the request, resolved by
// RequestAttributes (or the Chain): what was authorized, for the user it runs
// as.
func AttributesFrom(ctx context.Context) (authorizer.Attributes, bool) {
	s, ok := pipeline.From(ctx)
	if !ok {
		return nil, false
	}
	attrs, resolved := s.Attributes()
	if !resolved {
		return nil, false
	}
	return attrs, true
}

// DecisionFrom returns the decision and reason of the authorizer that allowed
// the request; ok is false when no Authorization step ran.
func DecisionFrom(ctx context.Context) (d authorizer.Decision, reason string, ok bool) {
	s, found := pipeline.From(ctx)
	if !found {
		return authorizer.DecisionNoOpinion, "", false
	}
	return s.Decision()
}

// SelectorsFrom returns the label and field selectors of a list, watch or
// deletecollection request, parsed once: a handler that returns objects must
// apply them (requestinfo.Filter), as Kubernetes' storage does. A selector that
// does not parse, or selects on a field other than metadata.name and
// metadata.namespace, is a 400 BadRequest Status error: answer it with
// WriteStatus. A request without selectors, or one the steps did not resolve,
// selects everything.
func SelectorsFrom(ctx context.Context) (requestinfo.Selectors, error) {
	s, ok := pipeline.From(ctx)
	if !ok {
		return requestinfo.Everything, nil
	}
	attrs, resolved := s.Attributes()
	if !resolved {
		return requestinfo.Everything, nil
	}
	label, field, err := attrs.Selectors()
	if err != nil {
		return requestinfo.Selectors{}, badRequest(err.Error())
	}
	return requestinfo.NewSelectors(label, field)
}
