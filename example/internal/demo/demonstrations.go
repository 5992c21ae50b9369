package demo

import (
	"context"

	"k8s.io/apiserver/pkg/warning"
)

// Demonstrations of what the serving package does around the handlers, for
// the end-to-end suite and for anyone trying the examples: each is a widget
// name reserved for it. A get of that name runs the demonstration instead of
// reading the store (every router's get handler calls Demonstrate first), and
// no widget may be created with it (Validate). They need nothing but
// the RBAC to get widgets; what they cost is bounded: a panic is recovered
// and its report rate-limited, a slow request ends at --request-timeout.
const (
	// PanicWidget: a get panics. serving's Recover answers kube-apiserver's
	// 500 InternalError Status ("This request caused apiserver to panic")
	// instead of a reset stream, which the aggregator would turn into a
	// plain-text 503; the server keeps serving.
	PanicWidget = "demo-panic"
	// SlowWidget: a get waits until its request's context ends. serving's
	// Timeout answers the 504 Timeout Status at --request-timeout, or at the
	// request's ?timeout= when shorter.
	SlowWidget = "demo-slow"
)

// Demonstrate runs the demonstration of a reserved name (PanicWidget,
// SlowWidget) and reports whether it did: the handler then returns without
// writing anything. For any other name it does nothing and returns false.
func Demonstrate(ctx context.Context, name string) bool {
	switch name {
	case PanicWidget:
		panic("demo: a get of widget " + PanicWidget + " panics, on purpose")
	case SlowWidget:
		<-ctx.Done() // the answer is serving's: 504 Timeout, or nothing if the client left
		return true
	}
	return false
}

// reserved reports whether name is reserved for a demonstration.
func reserved(name string) bool { return name == PanicWidget || name == SlowWidget }

// DefaultColor is the color of a widget created without spec.color.
const DefaultColor = "gray"

// ColorDefaultedWarning is the warning a create without spec.color gets.
const ColorDefaultedWarning = "spec.color is empty; defaulting to " + DefaultColor

// Default sets the defaults of a Widget to create: spec.color DefaultColor
// when empty, with a warning to the client (ColorDefaultedWarning), which
// kubectl prints as "Warning: spec.color is empty; defaulting to gray".
// warning.AddWarning works in any handler behind a serving.Server (its
// Warnings filter records the warnings as Warning response headers, which
// kube-apiserver's aggregator passes on); elsewhere it does nothing.
func Default(ctx context.Context, w *Widget) {
	if w.Spec.Color == "" {
		w.Spec.Color = DefaultColor
		warning.AddWarning(ctx, "", ColorDefaultedWarning)
	}
}
