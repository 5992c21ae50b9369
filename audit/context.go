package audit

import "context"

type recordKey struct{}

// WithRecord returns ctx carrying rec, for the steps and the handler after
// the audit step (RecordFrom). A nil rec returns ctx.
func WithRecord(ctx context.Context, rec *Record) context.Context {
	if rec == nil {
		return ctx
	}
	return context.WithValue(ctx, recordKey{}, rec)
}

// RecordFrom returns the request's record, or nil (not audited): its methods
// can be called either way, as audit.AddAuditAnnotation in Kubernetes.
func RecordFrom(ctx context.Context) *Record {
	rec, _ := ctx.Value(recordKey{}).(*Record)
	return rec
}
