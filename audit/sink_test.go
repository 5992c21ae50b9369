package audit_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aggauth/aggauth/audit"
)

// TestWriteFailures: a log that cannot be written fails nothing in blocking
// and batch modes (counted as apiserver_audit_error_total{plugin="log"}),
// and fails the request in blocking-strict mode when its RequestReceived
// event is lost (apiserver_audit_requests_rejected_total), as Kubernetes.
func TestWriteFailures(t *testing.T) {
	tests := []struct {
		mode            string
		wantErr         error
		errors, rejects float64
	}{
		{mode: audit.ModeBlocking, errors: 2},
		{mode: audit.ModeBatch, errors: 2},
		{mode: audit.ModeBlockingStrict, wantErr: audit.ErrNotStored, errors: 1, rejects: 1},
	}
	for _, tt := range tests {
		t.Run(tt.mode, func(t *testing.T) {
			a := newAuditor(t, metadataPolicy, failingWriter{}, audit.Options{Mode: tt.mode})
			err := serve(a, alice, widgets)
			assert.ErrorIs(t, err, tt.wantErr)
			require.NoError(t, a.Shutdown(context.Background()))
			assert.Equal(t, tt.errors, metric(t, a, "apiserver_audit_error_total", "plugin", "log"))
			assert.Equal(t, tt.rejects, metric(t, a, "apiserver_audit_requests_rejected_total"))
			assert.Equal(t, tt.errors, metric(t, a, "apiserver_audit_event_total"), "events generated")
			assert.Equal(t, 1.0, metric(t, a, "apiserver_audit_level_total", "level", "Metadata"))
		})
	}
}

// TestStrictFailsOnlyAtRequestReceived: in blocking-strict mode, a write
// failure after RequestReceived is counted and fails nothing, as Kubernetes
// ignores the result of the later stages.
func TestStrictFailsOnlyAtRequestReceived(t *testing.T) {
	w := &flakyWriter{okFirst: 1}
	a := newAuditor(t, metadataPolicy, w, audit.Options{Mode: audit.ModeBlockingStrict})
	require.NoError(t, serve(a, alice, widgets))
	assert.Equal(t, 1.0, metric(t, a, "apiserver_audit_error_total", "plugin", "log"))
	assert.Equal(t, 0.0, metric(t, a, "apiserver_audit_requests_rejected_total"))
}

type flakyWriter struct{ okFirst int }

func (w *flakyWriter) Write(p []byte) (int, error) {
	if w.okFirst > 0 {
		w.okFirst--
		return len(p), nil
	}
	return 0, errors.New("disk full")
}

// TestBatchStalledWriter: with the writer stalled, requests do not wait,
// the buffer holds at most BufferSize events and BufferBytes bytes (the
// event being written included), the rest is dropped and counted; nothing
// taken is lost once the writer comes back.
func TestBatchStalledWriter(t *testing.T) {
	tests := []struct {
		name   string
		batch  audit.BatchOptions
		queued int // the most events held, the one being written included
	}{
		{name: "bounded in events", batch: audit.BatchOptions{BufferSize: 10}, queued: 11},
		{name: "bounded in bytes", batch: audit.BatchOptions{BufferSize: 10000, BufferBytes: 4096}, queued: 4096 / 500},
		{name: "batches of 5", batch: audit.BatchOptions{BufferSize: 10, MaxSize: 5, MaxWait: time.Millisecond}, queued: 15},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newStalledWriter()
			a := newAuditor(t, metadataPolicy, w, audit.Options{Mode: audit.ModeBatch, Batch: tt.batch})
			require.NoError(t, serve(a, alice, widgets))
			<-w.entered // the goroutine is stuck in Write
			const requests = 1000
			start := time.Now()
			for range requests {
				require.NoError(t, serve(a, alice, widgets))
			}
			assert.Less(t, time.Since(start), 5*time.Second, "requests do not wait for the writer")
			dropped := metric(t, a, "apiserver_audit_error_total", "plugin", "buffered")
			total := 2 * (requests + 1)
			assert.Equal(t, float64(total), metric(t, a, "apiserver_audit_event_total"))
			held := total - int(dropped)
			assert.LessOrEqual(t, held, tt.queued, "events held while the writer is stalled")
			assert.Positive(t, held)
			close(w.release)
			require.NoError(t, a.Shutdown(context.Background()))
			assert.Equal(t, held, w.written(), "every event taken is written")
		})
	}
}

// TestBatchThrottle: at most ThrottleBurst batches at once, then
// ThrottleQPS a second.
func TestBatchThrottle(t *testing.T) {
	var log syncBuffer
	a := newAuditor(t, metadataPolicy, &log, audit.Options{Mode: audit.ModeBatch,
		Batch: audit.BatchOptions{ThrottleEnable: true, ThrottleQPS: 20, ThrottleBurst: 2}})
	start := time.Now()
	for range 5 {
		require.NoError(t, serve(a, alice, widgets))
	}
	require.NoError(t, a.Shutdown(context.Background()))
	assert.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond, "10 batches of one event at 20/s after a burst of 2")
	assert.Len(t, lines(log.take()), 10)
}

// TestShutdown: pending events are written, later ones dropped and counted;
// a second Shutdown is harmless; a stalled writer holds Shutdown only as
// long as its context.
func TestShutdown(t *testing.T) {
	for _, mode := range []string{audit.ModeBlocking, audit.ModeBatch} {
		t.Run(mode, func(t *testing.T) {
			var log syncBuffer
			a := newAuditor(t, metadataPolicy, &log, audit.Options{Mode: mode})
			for range 50 {
				require.NoError(t, serve(a, alice, widgets))
			}
			require.NoError(t, a.Shutdown(context.Background()))
			assert.Len(t, lines(log.take()), 100)
			require.NoError(t, serve(a, alice, widgets))
			require.NoError(t, a.Close())
			assert.Empty(t, log.take())
			plugin := map[string]string{audit.ModeBlocking: "log", audit.ModeBatch: "buffered"}[mode]
			assert.Equal(t, 2.0, metric(t, a, "apiserver_audit_error_total", "plugin", plugin))
		})
		t.Run(mode+" stalled", func(t *testing.T) {
			w := newStalledWriter()
			a := newAuditor(t, metadataPolicy, w, audit.Options{Mode: mode})
			go func() { _ = serve(a, alice, widgets) }()
			<-w.entered
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			assert.ErrorIs(t, a.Shutdown(ctx), context.DeadlineExceeded)
			close(w.release)
			require.NoError(t, a.Shutdown(context.Background()))
		})
	}
}

// TestLogFile: the file is created 0600 in a directory created 0700,
// appended to, and rotated by size (lumberjack, as Kubernetes).
func TestLogFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "audit")
	path := filepath.Join(dir, "audit.log")
	policyPath := filepath.Join(t.TempDir(), "policy.yaml")
	require.NoError(t, os.WriteFile(policyPath, []byte(metadataPolicy), 0o600))
	for i, maxSize := range []int{1, -1} {
		a, err := audit.New(audit.Options{PolicyFile: policyPath, Path: path, MaxSize: maxSize})
		require.NoError(t, err)
		require.NoError(t, serve(a, alice, widgets))
		require.NoError(t, a.Close())
		b, err := os.ReadFile(path)
		require.NoError(t, err)
		assert.Len(t, lines(string(b)), 2*(i+1), "appended")
	}
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	st, err = os.Stat(dir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), st.Mode().Perm())

	// 1 MB rotates after about 2,000 events of 600 bytes.
	a, err := audit.New(audit.Options{PolicyFile: policyPath, Path: path, MaxSize: 1, MaxBackups: 2})
	require.NoError(t, err)
	for range 1500 {
		require.NoError(t, serve(a, alice, widgets+"/"+strings.Repeat("x", 100)))
	}
	require.NoError(t, a.Close())
	files, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, len(files), 2, "the log and rotated files")
	assert.LessOrEqual(t, len(files), 3, "at most MaxBackups rotated files")
}

// TestLegacyFormat writes Kubernetes' one-line format.
func TestLegacyFormat(t *testing.T) {
	var log syncBuffer
	a := newAuditor(t, metadataPolicy, &log, audit.Options{Format: audit.FormatLegacy})
	require.NoError(t, serve(a, alice, widgets))
	got := lines(log.take())
	require.Len(t, got, 2)
	assert.Equal(t, `2026-07-01T12:00:00.123456Z AUDIT: id="0b5d1c9e-8a1e-4a55-8e32-3b8b9f0f2d11" stage="ResponseComplete" ip="192.0.2.1" `+
		`method="list" user="alice" groups="\"devs\",\"system:authenticated\"" as="<self>" asgroups="<lookup>" user-agent="" `+
		`namespace="team-a" uri="/apis/demo.example.com/v1/namespaces/team-a/widgets" response="200"`,
		strings.Replace(got[1], received.Local().Format(time.RFC3339Nano), "2026-07-01T12:00:00.123456Z", 1))
}
