package retry

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/clock"
	testingclock "k8s.io/utils/clock/testing"
)

func TestDo(t *testing.T) {
	backoff := wait.Backoff{Duration: time.Microsecond, Factor: 1, Steps: 4}
	retriable := apierrors.NewInternalError(errors.New("x"))
	final := apierrors.NewForbidden(schemaGR, "", errors.New("no"))
	tests := []struct {
		name  string
		errs  []error
		calls int
		want  error
	}{
		{"success at once", []error{nil}, 1, nil},
		{"success after retries", []error{retriable, retriable, nil}, 3, nil},
		{"not retriable", []error{final, nil}, 1, final},
		{"attempts exhausted: the last error", []error{retriable, retriable, retriable, retriable, nil}, 4, retriable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			err := Do(context.Background(), clock.RealClock{}, backoff, func() error {
				calls++
				return tt.errs[calls-1]
			})
			assert.Equal(t, tt.calls, calls)
			assert.Equal(t, tt.want, err)
		})
	}
}

func TestDoStopsWhenTheContextEnds(t *testing.T) {
	clk := testingclock.NewFakeClock(time.Now())
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	done := make(chan error)
	go func() {
		done <- Do(ctx, clk, wait.Backoff{Duration: time.Hour, Factor: 1, Steps: 5}, func() error {
			calls++
			return apierrors.NewTooManyRequests("busy", 0)
		})
	}()
	for !clk.HasWaiters() {
		time.Sleep(time.Millisecond)
	}
	cancel()
	err := <-done
	assert.True(t, apierrors.IsTooManyRequests(err), "the webhook's error, not the context's: %v", err)
	assert.Equal(t, 1, calls)
}

var schemaGR = schema.GroupResource{Group: "authentication.k8s.io", Resource: "tokenreviews"}
