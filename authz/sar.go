package authz

import (
	"fmt"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/aggauth/aggauth/internal/userinfo"
)

// newSubjectAccessReview builds the review Kubernetes' webhook authorizer
// (k8s.io/apiserver/plugin/pkg/authorizer/webhook) sends for u and attrs, field
// for field: the user's name, uid, groups and extra, and either the resource
// attributes with their selector requirements or the non-resource path and verb.
func newSubjectAccessReview(u user.Info, attrs authorizer.Attributes) *authorizationv1.SubjectAccessReview {
	r := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User:   u.GetName(),
		UID:    u.GetUID(),
		Groups: u.GetGroups(),
		Extra:  sarExtra(u),
	}}
	if attrs.IsResourceRequest() {
		r.Spec.ResourceAttributes = resourceAttributes(attrs)
	} else {
		r.Spec.NonResourceAttributes = &authorizationv1.NonResourceAttributes{Path: attrs.GetPath(), Verb: attrs.GetVerb()}
	}
	return r
}

// sarExtra is u's extra as a review carries it. A forwarded user's is read
// from its pairs, as its cache key is (see appendKeyMaterial): the review and
// the key it is cached under tell the same extra, even if a handler changed
// the map GetExtra gave it.
func sarExtra(u user.Info) map[string]authorizationv1.ExtraValue {
	if fu, ok := u.(*userinfo.Info); ok {
		if len(fu.Pairs) == 0 {
			return nil
		}
		ret := make(map[string]authorizationv1.ExtraValue, len(fu.Pairs))
		for _, p := range fu.Pairs {
			ret[p.Key] = authorizationv1.ExtraValue(p.Values)
		}
		return ret
	}
	extra := u.GetExtra()
	if extra == nil {
		return nil
	}
	ret := make(map[string]authorizationv1.ExtraValue, len(extra))
	for k, v := range extra {
		ret[k] = authorizationv1.ExtraValue(v)
	}
	return ret
}

// resourceAttributes includes the selector requirements Kubernetes can express in
// a review; requirements with other operators are dropped (requirements are
// ANDed, so the check only gets broader), and a selector left with none is
// omitted.
func resourceAttributes(attrs authorizer.Attributes) *authorizationv1.ResourceAttributes {
	ret := &authorizationv1.ResourceAttributes{
		Namespace:   attrs.GetNamespace(),
		Verb:        attrs.GetVerb(),
		Group:       attrs.GetAPIGroup(),
		Version:     attrs.GetAPIVersion(),
		Resource:    attrs.GetResource(),
		Subresource: attrs.GetSubresource(),
		Name:        attrs.GetName(),
	}
	if reqs := fieldRequirements(attrs); len(reqs) > 0 {
		ret.FieldSelector = &authorizationv1.FieldSelectorAttributes{Requirements: reqs}
	}
	if reqs := labelRequirements(attrs); len(reqs) > 0 {
		ret.LabelSelector = &authorizationv1.LabelSelectorAttributes{Requirements: reqs}
	}
	return ret
}

func fieldRequirements(attrs authorizer.Attributes) []metav1.FieldSelectorRequirement {
	reqs, _ := attrs.GetFieldSelector()
	var ret []metav1.FieldSelectorRequirement
	for _, r := range reqs {
		var op metav1.FieldSelectorOperator
		switch r.Operator {
		case selection.Equals, selection.DoubleEquals, selection.In:
			op = metav1.FieldSelectorOpIn
		case selection.NotEquals, selection.NotIn:
			op = metav1.FieldSelectorOpNotIn
		default:
			continue
		}
		ret = append(ret, metav1.FieldSelectorRequirement{Key: r.Field, Operator: op, Values: []string{r.Value}})
	}
	return ret
}

func labelRequirements(attrs authorizer.Attributes) []metav1.LabelSelectorRequirement {
	reqs, _ := attrs.GetLabelSelector()
	var ret []metav1.LabelSelectorRequirement
	for i := range reqs {
		r := &reqs[i]
		var op metav1.LabelSelectorOperator
		switch r.Operator() {
		case selection.Equals, selection.DoubleEquals, selection.In:
			op = metav1.LabelSelectorOpIn
		case selection.NotEquals, selection.NotIn:
			op = metav1.LabelSelectorOpNotIn
		case selection.Exists:
			op = metav1.LabelSelectorOpExists
		case selection.DoesNotExist:
			op = metav1.LabelSelectorOpDoesNotExist
		default:
			continue
		}
		req := metav1.LabelSelectorRequirement{Key: r.Key(), Operator: op}
		if values := r.ValuesUnsorted(); len(values) > 0 {
			req.Values = values
		}
		ret = append(ret, req)
	}
	return ret
}

// decision maps a review status to a decision as Kubernetes' webhook authorizer
// does.
func decision(s *authorizationv1.SubjectAccessReviewStatus) (authorizer.Decision, string, error) {
	switch {
	case s.Denied && s.Allowed:
		return authorizer.DecisionDeny, s.Reason, fmt.Errorf("webhook subject access review returned both allow and deny response")
	case s.Denied:
		return authorizer.DecisionDeny, s.Reason, nil
	case s.Allowed:
		return authorizer.DecisionAllow, s.Reason, nil
	default:
		return authorizer.DecisionNoOpinion, s.Reason, nil
	}
}
