package audit

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/runtime"
	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	pluginlog "k8s.io/apiserver/plugin/pkg/audit/log"
	plugintruncate "k8s.io/apiserver/plugin/pkg/audit/truncate"
)

// TestTruncateMatchesKubernetes writes random events of every size, with and
// without objects, at every level, through Kubernetes' truncate plugin over
// its log backend and through ours: the same lines, the same events dropped.
func TestTruncateMatchesKubernetes(t *testing.T) {
	const maxEvent = 2000
	var theirs, ours bytes.Buffer
	k8s := plugintruncate.NewBackend(pluginlog.NewBackend(&theirs, pluginlog.FormatJson, auditv1.SchemeGroupVersion),
		plugintruncate.Config{MaxEventSize: maxEvent, MaxBatchSize: 10 * maxEvent}, auditv1.SchemeGroupVersion)
	a, err := New(Options{Policy: &auditv1.Policy{Rules: []auditv1.PolicyRule{{Level: auditv1.LevelMetadata}}},
		Writer: &ours, Truncate: TruncateOptions{Enabled: true, MaxEventSize: maxEvent, MaxBatchSize: 10 * maxEvent},
		Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	r := rand.New(rand.NewPCG(7, 8))
	dropped, cut := 0, 0
	for i := range 2000 {
		ev := randomEvent(r)
		ev.TypeMeta.Kind, ev.TypeMeta.APIVersion = "", ""
		big := func() *runtime.Unknown {
			b, _ := json.Marshal(map[string]string{"data": strings.Repeat("x", r.IntN(2*maxEvent))})
			return &runtime.Unknown{Raw: b, ContentType: runtime.ContentTypeJSON}
		}
		if r.IntN(2) == 0 {
			ev.RequestObject = big()
		}
		if r.IntN(2) == 0 {
			ev.ResponseObject = big()
		}
		if r.IntN(4) == 0 {
			ev.RequestURI = strings.Repeat("/a", r.IntN(maxEvent))
		}
		in := &auditinternal.Event{}
		require.NoError(t, scheme.Convert(ev, in, nil))
		theirs.Reset()
		ours.Reset()
		k8s.ProcessEvents(in)
		a.emit(ev, nil)
		require.Equal(t, theirs.String(), ours.String(), "event %d", i)
		switch {
		case theirs.Len() == 0:
			dropped++
		case strings.Contains(theirs.String(), annotationTruncated):
			cut++
		}
	}
	t.Logf("2000 events: %d truncated, %d dropped", cut, dropped)
	assert.Positive(t, cut)
	assert.Positive(t, dropped)
	assert.Equal(t, float64(dropped), testutil.ToFloat64(a.m.errTruncate))
}
