package audit

import (
	"slices"
	"strings"

	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/endpoints/request"
)

// stages is a set of stages.
type stages uint8

const (
	stageRequestReceived stages = 1 << iota
	stageResponseStarted
	stageResponseComplete
	stagePanic
)

func stageBit(s auditv1.Stage) stages {
	switch s {
	case auditv1.StageRequestReceived:
		return stageRequestReceived
	case auditv1.StageResponseStarted:
		return stageResponseStarted
	case auditv1.StageResponseComplete:
		return stageResponseComplete
	case auditv1.StagePanic:
		return stagePanic
	}
	return 0
}

func stagesOf(list []auditinternal.Stage) stages {
	var s stages
	for _, st := range list {
		s |= stageBit(auditv1.Stage(st))
	}
	return s
}

// requestConfig is the policy's answer for one request (Kubernetes'
// RequestAuditConfig).
type requestConfig struct {
	level             auditv1.Level
	omit              stages
	omitManagedFields bool
}

// evaluator is Kubernetes' policyRuleEvaluator (pkg/audit/policy/checker.go):
// the first matching rule wins; a rule omits the policy's stages and its own;
// a rule's omitManagedFields overrides the policy's. No match: level None.
type evaluator struct {
	rules    []rule
	fallback requestConfig
}

type rule struct {
	auditinternal.PolicyRule
	config requestConfig
}

func newEvaluator(p *auditinternal.Policy) *evaluator {
	e := &evaluator{fallback: requestConfig{level: auditv1.LevelNone, omit: stagesOf(p.OmitStages),
		omitManagedFields: p.OmitManagedFields}}
	for _, r := range p.Rules {
		c := requestConfig{level: auditv1.Level(r.Level), omit: stagesOf(p.OmitStages) | stagesOf(r.OmitStages),
			omitManagedFields: p.OmitManagedFields}
		if r.OmitManagedFields != nil {
			c.omitManagedFields = *r.OmitManagedFields
		}
		e.rules = append(e.rules, rule{PolicyRule: r, config: c})
	}
	return e
}

// evaluate returns the configuration of the request info made by u (nil:
// no user).
func (e *evaluator) evaluate(u user.Info, info *request.RequestInfo) requestConfig {
	for i := range e.rules {
		if e.rules[i].matches(u, info) {
			return e.rules[i].config
		}
	}
	return e.fallback
}

// matches is Kubernetes' ruleMatches.
func (r *rule) matches(u user.Info, info *request.RequestInfo) bool {
	if len(r.Users) > 0 && (u == nil || !slices.Contains(r.Users, u.GetName())) {
		return false
	}
	if len(r.UserGroups) > 0 {
		if u == nil || !slices.ContainsFunc(u.GetGroups(), func(g string) bool { return slices.Contains(r.UserGroups, g) }) {
			return false
		}
	}
	if len(r.Verbs) > 0 && !slices.Contains(r.Verbs, info.Verb) {
		return false
	}
	if len(r.Namespaces) > 0 || len(r.Resources) > 0 {
		return r.matchesResource(info)
	}
	if len(r.NonResourceURLs) > 0 {
		return !info.IsResourceRequest && slices.ContainsFunc(r.NonResourceURLs, func(spec string) bool {
			return pathMatches(info.Path, spec)
		})
	}
	return true
}

// pathMatches is Kubernetes' pathMatches: "*", exact, or a trailing "*" prefix.
func pathMatches(path, spec string) bool {
	return spec == "*" || spec == path ||
		strings.HasSuffix(spec, "*") && strings.HasPrefix(path, strings.TrimRight(spec, "*"))
}

// matchesResource is Kubernetes' ruleMatchesResource.
func (r *rule) matchesResource(info *request.RequestInfo) bool {
	if !info.IsResourceRequest {
		return false
	}
	if len(r.Namespaces) > 0 && !slices.Contains(r.Namespaces, info.Namespace) {
		return false
	}
	if len(r.Resources) == 0 {
		return true
	}
	resource, sub := info.Resource, info.Subresource
	for _, gr := range r.Resources {
		if gr.Group != info.APIGroup && gr.Group != "*" {
			continue
		}
		if len(gr.Resources) == 0 {
			return true
		}
		if len(gr.ResourceNames) > 0 && !slices.Contains(gr.ResourceNames, info.Name) {
			continue
		}
		for _, res := range gr.Resources {
			if isCombined(res, resource, sub) || res == "*" ||
				sub != "" && strings.HasPrefix(res, "*/") && sub == res[2:] ||
				strings.HasSuffix(res, "/*") && resource == strings.TrimSuffix(res, "/*") {
				return true
			}
		}
	}
	return false
}

// isCombined reports whether res is resource, or resource/sub when sub is
// set (Kubernetes' combinedResource), without building the string.
func isCombined(res, resource, sub string) bool {
	if sub == "" {
		return res == resource
	}
	return len(res) == len(resource)+1+len(sub) && strings.HasPrefix(res, resource) &&
		res[len(resource)] == '/' && strings.HasSuffix(res, sub)
}
