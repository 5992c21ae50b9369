package aggauth_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"

	"github.com/aggauth/aggauth"
	"github.com/aggauth/aggauth/aggauthtest"
)

// lockedBuffer is a bytes.Buffer safe for concurrent use.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) events(t *testing.T) []auditv1.Event {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []auditv1.Event
	for _, line := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var ev auditv1.Event
		require.NoError(t, json.Unmarshal([]byte(line), &ev), line)
		out = append(out, ev)
	}
	return out
}

// TestAuditThroughTheChain: with Options.Audit, the chain's requests are
// audited as kube-apiserver audits them: the aggregator's Audit-ID, the
// caller, the authorization decision, the response; a request authentication
// refused, once, at ResponseStarted.
func TestAuditThroughTheChain(t *testing.T) {
	cluster := aggauthtest.NewCluster(t, aggauthtest.Options{Rules: []aggauthtest.Rule{{
		Users: []string{"alice"}, Verbs: []string{"list"}, APIGroups: []string{"demo.aggauth.io"}, Resources: []string{"widgets"},
	}}})
	var log lockedBuffer
	opts := aggauth.Options{Logger: slog.New(slog.DiscardHandler)}
	opts.Audit.Writer = &log
	opts.Audit.Policy = &auditv1.Policy{Rules: []auditv1.PolicyRule{{Level: auditv1.LevelMetadata}}}
	chain, err := cluster.NewChain(opts)
	require.NoError(t, err)
	h := chain.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("[]")) }))
	const widgets = "/apis/demo.aggauth.io/v1/namespaces/default/widgets"

	assert.Equal(t, 200, cluster.FrontProxy().As("alice").WithHeader("Audit-ID", "id-alice").Do(h, http.MethodGet, widgets, nil).Code)
	assert.Equal(t, 403, cluster.FrontProxy().As("bob").WithHeader("Audit-ID", "id-bob").Do(h, http.MethodGet, widgets, nil).Code)
	assert.Equal(t, 401, aggauthtest.Caller{}.As("mallory").WithHeader("Audit-ID", "id-mallory").Do(h, http.MethodGet, widgets, nil).Code)

	byID := map[string][]auditv1.Event{}
	for _, ev := range log.events(t) {
		byID[string(ev.AuditID)] = append(byID[string(ev.AuditID)], ev)
	}
	alice := byID["id-alice"]
	require.Len(t, alice, 2, "RequestReceived and ResponseComplete")
	assert.Equal(t, auditv1.StageRequestReceived, alice[0].Stage)
	assert.Equal(t, auditv1.StageResponseComplete, alice[1].Stage)
	assert.Equal(t, "alice", alice[1].User.Username)
	assert.Equal(t, "list", alice[1].Verb)
	assert.Equal(t, "widgets", alice[1].ObjectRef.Resource)
	assert.Equal(t, int32(200), alice[1].ResponseStatus.Code)
	assert.Equal(t, "allow", alice[1].Annotations["authorization.k8s.io/decision"])

	bob := byID["id-bob"]
	require.Len(t, bob, 2)
	assert.Equal(t, int32(403), bob[1].ResponseStatus.Code)
	assert.Equal(t, "forbid", bob[1].Annotations["authorization.k8s.io/decision"])
	assert.Equal(t, "Forbidden", string(bob[1].ResponseStatus.Reason))

	mallory := byID["id-mallory"]
	require.Len(t, mallory, 1, "a refused authentication is one event")
	assert.Equal(t, auditv1.StageResponseStarted, mallory[0].Stage)
	assert.Equal(t, int32(401), mallory[0].ResponseStatus.Code)
	assert.Empty(t, mallory[0].User.Username, "nobody was authenticated, as Kubernetes records it")
}
