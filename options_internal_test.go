package aggauth

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestWithDefaults: the zero Options mean NewOptions' defaults, and a field
// set is kept (an empty, non-nil list too: it means none).
func TestWithDefaults(t *testing.T) {
	want := *NewOptions()
	got := withDefaults(Options{})
	assert.NotNil(t, got.Logger)
	got.Logger = nil
	assert.Equal(t, want, got, "got the zero Options' defaults; want NewOptions'")

	set := Options{QPS: 1, Burst: 2, TokenWebhookCacheTTL: -1, AllowCacheTTL: 3, DenyCacheTTL: 4, AlwaysAllowPaths: []string{}, AlwaysAllowGroups: []string{"g"}}
	got = withDefaults(set)
	assert.Equal(t, set.QPS, got.QPS)
	assert.Equal(t, set.Burst, got.Burst)
	assert.Equal(t, set.TokenWebhookCacheTTL, got.TokenWebhookCacheTTL)
	assert.Equal(t, set.AllowCacheTTL, got.AllowCacheTTL)
	assert.Equal(t, set.DenyCacheTTL, got.DenyCacheTTL)
	assert.Equal(t, []string{}, got.AlwaysAllowPaths, "an empty list is kept: no path")
	assert.Equal(t, []string{"g"}, got.AlwaysAllowGroups)
}
