package middleware

import "github.com/aggauth/aggauth/pipeline"

// The kinds of the chain's steps, for pipelines that place steps of their
// own among them (see pipeline.Kind).

// StepKind implements pipeline's kind of a step.
func (healthStep) StepKind() pipeline.Kind { return pipeline.KindHealth }

// StepKind implements pipeline's kind of a step.
func (*Authentication) StepKind() pipeline.Kind { return pipeline.KindAuthentication }

// StepKind implements pipeline's kind of a step.
func (*RequestAttributes) StepKind() pipeline.Kind { return pipeline.KindAttributes }

// StepKind implements pipeline's kind of a step.
func (*Impersonation) StepKind() pipeline.Kind { return pipeline.KindImpersonation }

// StepKind implements pipeline's kind of a step.
func (*Authorization) StepKind() pipeline.Kind { return pipeline.KindAuthorization }

// StepKind implements pipeline's kind of a step.
func (*Admission) StepKind() pipeline.Kind { return pipeline.KindAdmission }
