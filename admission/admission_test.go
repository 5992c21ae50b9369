package admission

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

func TestChain(t *testing.T) {
	refuse := apierrors.NewForbidden(schema.GroupResource{Resource: "widgets"}, "w", errors.New("no"))
	other := errors.New("other")
	tests := []struct {
		name    string
		results []error // what each check returns, in order
		want    error
		ran     int // how many checks ran
	}{
		{"empty chain admits", nil, nil, 0},
		{"all admit", []error{nil, nil, nil}, nil, 3},
		{"first refusal decides", []error{nil, refuse, other}, refuse, 2},
		{"refusal by the first check", []error{other, refuse}, other, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ran []int
			var chain Checks
			for i, res := range tt.results {
				chain = append(chain, Func(func(_ context.Context, a authorizer.Attributes) error {
					assert.Equal(t, "create", a.GetVerb(), "attributes are passed on")
					ran = append(ran, i)
					return res
				}))
			}
			err := chain.Admit(context.Background(), &authorizer.AttributesRecord{Verb: "create"})
			require.Equal(t, tt.want, err)
			require.Len(t, ran, tt.ran)
			for i, idx := range ran {
				require.Equal(t, i, idx, "checks run in order")
			}
		})
	}
}

func TestChainPassesContext(t *testing.T) {
	type key struct{}
	ctx := context.WithValue(context.Background(), key{}, "v")
	var got any
	Checks{Func(func(ctx context.Context, _ authorizer.Attributes) error {
		got = ctx.Value(key{})
		return nil
	})}.Admit(ctx, &authorizer.AttributesRecord{})
	assert.Equal(t, "v", got)
}
