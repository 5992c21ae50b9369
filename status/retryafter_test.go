package status

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestSeconds(t *testing.T) {
	for d, want := range map[time.Duration]int32{0: 1, -time.Second: 1, time.Millisecond: 1, time.Second: 1,
		2500 * time.Millisecond: 3, time.Minute: 60} {
		assert.Equal(t, want, RetryAfterSeconds(d), "%v", d)
	}
}

func TestErrors(t *testing.T) {
	u := Unavailable("later", 2*time.Second).ErrStatus
	assert.Equal(t, int32(http.StatusServiceUnavailable), u.Code)
	assert.Equal(t, int32(2), u.Details.RetryAfterSeconds)
	assert.Equal(t, "later", u.Message)
	m := TooManyRequests("busy", 0).ErrStatus
	assert.Equal(t, int32(http.StatusTooManyRequests), m.Code)
	assert.Equal(t, int32(1), m.Details.RetryAfterSeconds)
}
