package authz_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/aggauth/aggauth/authz"
)

func TestAlwaysAllow(t *testing.T) {
	nonResource := func(path string, groups ...string) authorizer.AttributesRecord {
		return authorizer.AttributesRecord{User: &user.DefaultInfo{Name: "bob", Groups: groups}, Verb: "get", Path: path}
	}
	resource := podAttrs("ns", "p")
	resource.Path = "/healthz"
	masters := podAttrs("ns", "p")
	masters.User = &user.DefaultInfo{Name: "system:kube-aggregator", Groups: []string{"system:masters"}}

	tests := []struct {
		name    string
		opts    authz.Options
		attrs   authorizer.AttributesRecord
		wantSAR bool
	}{
		{name: "default path", attrs: nonResource("/healthz")},
		{name: "default path without slash", attrs: nonResource("livez")},
		{name: "default paths are exact", attrs: nonResource("/healthz/etcd"), wantSAR: true},
		{name: "resource requests never match a path", attrs: resource, wantSAR: true},
		{name: "default group", attrs: masters},
		{name: "group on a non-resource path", attrs: nonResource("/metrics", "system:masters")},
		{name: "other path", attrs: nonResource("/metrics"), wantSAR: true},
		{name: "prefix pattern", opts: authz.Options{AlwaysAllowPaths: []string{"/openapi/*"}}, attrs: nonResource("/openapi/v3/apis")},
		{name: "custom paths replace the defaults", opts: authz.Options{AlwaysAllowPaths: []string{"/openapi/*"}}, attrs: nonResource("/healthz"), wantSAR: true},
		{name: "no paths", opts: authz.Options{AlwaysAllowPaths: []string{}}, attrs: nonResource("/healthz"), wantSAR: true},
		{name: "no groups", opts: authz.Options{AlwaysAllowGroups: []string{}}, attrs: masters, wantSAR: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newSARServer(t, allowAll)
			a := newTestAuthorizer(t, srv, tt.opts)
			d, _, err := a.Authorize(context.Background(), tt.attrs)
			require.NoError(t, err)
			assert.Equal(t, authorizer.DecisionAllow, d)
			assert.Equal(t, tt.wantSAR, srv.SARCounts().Received == 1, "SARs sent: %d", srv.SARCounts().Received)
		})
	}
}

func TestNoUserIsNeverAllowed(t *testing.T) {
	srv := newSARServer(t, allowAll)
	a := newTestAuthorizer(t, srv, authz.Options{})
	d, _, err := a.Authorize(context.Background(), authorizer.AttributesRecord{Verb: "get", Path: "/healthz"})
	require.Error(t, err)
	assert.Equal(t, authorizer.DecisionNoOpinion, d)
	assert.Zero(t, srv.SARCounts().Received)
}

func TestNewValidatesOptions(t *testing.T) {
	srv := newSARServer(t, allowAll)
	for name, opts := range map[string]authz.Options{
		"bad path pattern":  {AlwaysAllowPaths: []string{"/a*b"}},
		"negative entries":  {MaxEntries: -1},
		"negative timeout":  {Timeout: -1},
		"no attempts":       {RetryBackoff: authzBackoff(0)},
		"negative stale":    {StaleIfError: -time.Second},
		"negative inflight": {MaxInFlight: -1},
	} {
		t.Run(name, func(t *testing.T) {
			opts.Client = sarClient(t, srv)
			_, err := authz.New(opts)
			require.Error(t, err)
		})
	}
	_, err := authz.New(authz.Options{Client: nil})
	require.Error(t, err)
}
