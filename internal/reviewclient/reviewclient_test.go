package reviewclient

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"

	"github.com/aggauth/aggauth/internal/fair"
)

func TestConfig(t *testing.T) {
	in := &rest.Config{Host: "https://k", QPS: 5, Burst: 10, RateLimiter: flowcontrol.NewFakeAlwaysRateLimiter()}
	c, err := Config(in, Options{})
	require.NoError(t, err)
	assert.Equal(t, float32(DefaultQPS), c.QPS, "explicit limits, whatever cfg says")
	assert.Equal(t, DefaultBurst, c.Burst)
	assert.Equal(t, DefaultTimeout, c.Timeout)
	fl, ok := c.RateLimiter.(*fair.Limiter)
	require.True(t, ok, "cfg's limiter is dropped for a fair one of QPS and Burst; got %T", c.RateLimiter)
	assert.Equal(t, float32(DefaultQPS), fl.QPS())
	c2, err := Config(in, Options{})
	require.NoError(t, err)
	assert.NotSame(t, c.RateLimiter, c2.RateLimiter, "no two clients share a budget unless told to")
	assert.Equal(t, "application/json", c.ContentType)
	assert.Equal(t, float32(5), in.QPS, "cfg is not modified")

	shared := flowcontrol.NewTokenBucketRateLimiter(1, 2)
	in = &rest.Config{}
	in.ContentType = "application/vnd.kubernetes.protobuf"
	c, err = Config(in, Options{QPS: 7, Burst: 9, Timeout: time.Second, RateLimiter: shared})
	require.NoError(t, err)
	assert.Equal(t, float32(7), c.QPS)
	assert.Equal(t, 9, c.Burst)
	assert.Equal(t, time.Second, c.Timeout)
	assert.Same(t, shared, c.RateLimiter)
	assert.Equal(t, "application/vnd.kubernetes.protobuf", c.ContentType, "a content type cfg sets stays")

	_, err = Config(nil, Options{})
	assert.Error(t, err)
}
