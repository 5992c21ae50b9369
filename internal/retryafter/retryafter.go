// Package retryafter builds the Status errors that ask a client to come back
// later (503 Service Unavailable, 429 Too Many Requests) with one rule for the
// delay: a time.Duration option, rounded up to whole seconds, 1 s when unset.
// WriteStatus (package middleware) turns Details.RetryAfterSeconds into the
// Retry-After header.
package retryafter

import (
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Default is the delay advised when an option leaves it unset.
const Default = time.Second

// Seconds is d rounded up to whole seconds; Default when d is not positive.
func Seconds(d time.Duration) int32 {
	if d <= 0 {
		d = Default
	}
	return int32((d + time.Second - 1) / time.Second)
}

// Unavailable is a 503 ServiceUnavailable Status error with message and the
// delay d.
func Unavailable(message string, d time.Duration) *apierrors.StatusError {
	err := apierrors.NewServiceUnavailable(message)
	err.ErrStatus.Details = &metav1.StatusDetails{RetryAfterSeconds: Seconds(d)}
	return err
}

// TooManyRequests is a 429 TooManyRequests Status error with message and the
// delay d.
func TooManyRequests(message string, d time.Duration) *apierrors.StatusError {
	return apierrors.NewTooManyRequests(message, int(Seconds(d)))
}
