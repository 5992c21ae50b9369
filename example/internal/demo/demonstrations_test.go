package demo_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apiserver/pkg/warning"

	"github.com/aggauth/aggauth/example/internal/demo"
)

func TestDemonstrate(t *testing.T) {
	assert.False(t, demo.Demonstrate(context.Background(), "blue"), "any other name")
	assert.PanicsWithValue(t, "demo: a get of widget demo-panic panics, on purpose", func() {
		demo.Demonstrate(context.Background(), demo.PanicWidget)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	assert.True(t, demo.Demonstrate(ctx, demo.SlowWidget))
	assert.ErrorIs(t, ctx.Err(), context.DeadlineExceeded, "returned when its context ended, after %s", time.Since(start))
}

func TestReservedNames(t *testing.T) {
	for _, name := range []string{demo.PanicWidget, demo.SlowWidget} {
		_, err := demo.NewStore().Create("ns", widget(name), bob)
		require.True(t, apierrors.IsInvalid(err), "create %s: got %v; want Invalid", name, err)
		assert.Contains(t, err.Error(), "is reserved for a demonstration")
	}
}

type warnings []string

func (w *warnings) AddWarning(_, text string) { *w = append(*w, text) }

func TestDefault(t *testing.T) {
	var got warnings
	ctx := warning.WithWarningRecorder(context.Background(), &got)
	w := widget("w")
	demo.Default(ctx, w)
	assert.Equal(t, "blue", w.Spec.Color, "a color is kept")
	assert.Empty(t, got)

	w.Spec.Color = ""
	demo.Default(ctx, w)
	assert.Equal(t, "gray", w.Spec.Color)
	assert.Equal(t, warnings{"spec.color is empty; defaulting to gray"}, got)

	w.Spec.Color = ""
	demo.Default(context.Background(), w) // no recorder: no warning, and no panic
	assert.Equal(t, "gray", w.Spec.Color)
}
