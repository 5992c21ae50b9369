package demo_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aggauth/aggauth/example/internal/demo"
)

const (
	jsonPatch  = "application/json-patch+json"
	mergePatch = "application/merge-patch+json"
)

// jsonPatchOps is a JSON patch of n copies of op.
func jsonPatchOps(n int, op string) string {
	return "[" + strings.Repeat(op+",", n-1) + op + "]"
}

// doublingCopies is the JSON patch that copies /metadata into itself n
// times: each copy doubles the document, 20 make it a million times larger.
func doublingCopies(n int) string {
	ops := make([]string, n)
	for i := range ops {
		ops[i] = fmt.Sprintf(`{"op":"copy","from":"/metadata","path":"/metadata/m%d"}`, i)
	}
	return "[" + strings.Join(ops, ",") + "]"
}

// copies is the JSON patch that copies spec.color n times into fields the
// Widget does not have (dropped when decoded).
func copies(n int) string {
	ops := make([]string, n)
	for i := range ops {
		ops[i] = fmt.Sprintf(`{"op":"copy","from":"/spec/color","path":"/spec/copy%d"}`, i)
	}
	return "[" + strings.Join(ops, ",") + "]"
}

// Kubernetes' answers, from k8s.io/apiserver v0.37.2
// pkg/endpoints/handlers/patch.go (applyJSPatch).
const (
	// Any JSON patch that does not apply, the copy limit included, is a 422
	// through errors.NewGenericServerResponse, which leaves out why.
	notApplied = "the server rejected our request due to an error in our request"
	// maxJSONPatchOperations = 10000
	tooManyOps = "Request entity too large: The allowed maximum operations in a JSON patch is 10000, got 10001"
)

// patchStore returns a store with the widget ns/w, labelled app=demo, with
// a spec.color of bigBytes when it is not 0.
func patchStore(t testing.TB, bigBytes int) *demo.Store {
	t.Helper()
	s := demo.NewStore()
	w := widget("w")
	w.Labels = map[string]string{"app": "demo"}
	if bigBytes > 0 {
		w.Spec.Color = strings.Repeat("a", bigBytes)
	}
	_, err := s.Create("ns", w, bob)
	require.NoError(t, err)
	return s
}

func patch(s *demo.Store, ctype, body string) (*demo.Widget, error) {
	r := httptest.NewRequest(http.MethodPatch, "/", strings.NewReader(body))
	r.Header.Set("Content-Type", ctype)
	return s.Patch(httptest.NewRecorder(), r, "ns", "w")
}

// statusOf is the code and message of the Status err answers.
func statusOf(t *testing.T, err error) (int32, string) {
	t.Helper()
	if err == nil {
		return 200, ""
	}
	st, ok := err.(apierrors.APIStatus)
	require.True(t, ok, "got %T %v; want a Status error", err, err)
	return st.Status().Code, st.Status().Message
}

// TestPatchLimits: the demo answers each patch as kube-apiserver does, 200 or
// a Status of the same code and message. The copy limit is Kubernetes'
// JSONPatchMaxCopyBytes, 3 MiB (k8s.io/apiserver pkg/server/config.go): three
// copies of a string of 1 MiB - 2 bytes, 1 MiB with its quotes, are exactly
// the limit. (These cases were run once through k8s.io/apiserver's
// handlers.PatchResource, serving a ConfigMap, with the same answers; importing
// it here would add gRPC, OpenTelemetry and cel-go to the example's go.mod.)
func TestPatchLimits(t *testing.T) {
	const testApp = `{"op":"test","path":"/metadata/labels/app","value":"demo"}`
	tests := []struct {
		name, ctype, body string
		bigBytes          int // the size of spec.color, when not 0
		code              int32
		message           string
	}{
		{name: "merge patch", ctype: mergePatch, body: `{"metadata":{"labels":{"tier":"gold"}}}`, code: 200},
		{name: "one copy", ctype: jsonPatch, body: `[{"op":"copy","from":"/metadata/labels/app","path":"/metadata/labels/copy"}]`, code: 200},
		{name: "20 doubling copies", ctype: jsonPatch, body: doublingCopies(20), code: 422, message: notApplied},
		{name: "10,000 operations", ctype: jsonPatch, body: jsonPatchOps(10000, testApp), code: 200},
		{name: "10,001 operations", ctype: jsonPatch, body: jsonPatchOps(10001, testApp), code: 413, message: tooManyOps},
		{name: "copies of 3 MiB", ctype: jsonPatch, body: copies(3), bigBytes: 1<<20 - 2, code: 200},
		{name: "copies of 3 MiB and 3 bytes", ctype: jsonPatch, body: copies(3), bigBytes: 1<<20 - 1, code: 422, message: notApplied},
		{name: "a test that fails", ctype: jsonPatch, body: `[{"op":"test","path":"/metadata/labels/app","value":"other"}]`, code: 422, message: notApplied},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := patchStore(t, tt.bigBytes)
			_, err := patch(s, tt.ctype, tt.body)
			code, message := statusOf(t, err)
			assert.Equal(t, tt.code, code, "got %v", err)
			assert.Equal(t, tt.message, message)
			if tt.code == 422 {
				assert.Equal(t, metav1.StatusReasonInvalid, apierrors.ReasonForError(err))
			}
		})
	}
}

func TestPatchApplies(t *testing.T) {
	s := patchStore(t, 0)
	got, err := patch(s, jsonPatch, `[{"op":"copy","from":"/metadata/labels/app","path":"/metadata/labels/copy"},
		{"op":"replace","path":"/spec/color","value":"red"}]`)
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"app": "demo", "copy": "demo"}, got.Labels)
	assert.Equal(t, "red", got.Spec.Color)
	assert.Equal(t, "2", got.ResourceVersion)
	again, err := s.Get("ns", "w")
	require.NoError(t, err)
	assert.Equal(t, got, again)

	_, err = patch(s, jsonPatch, `[{"op":"copy","from":"/metadata/labels/app","path":"/metadata/labels/again"}]`)
	require.NoError(t, err)
	again, err = s.Get("ns", "w")
	require.NoError(t, err)
	assert.Equal(t, "3", again.ResourceVersion)
	assert.Len(t, again.Labels, 3, "the second patch applied to what the first stored")
}

// TestPatchConcurrent: concurrent patches of one widget all take effect.
func TestPatchConcurrent(t *testing.T) {
	s := patchStore(t, 0)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 20 {
				_, err := patch(s, mergePatch, fmt.Sprintf(`{"metadata":{"labels":{"l-%d-%d":"x"}}}`, i, j))
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
	got, err := s.Get("ns", "w")
	require.NoError(t, err)
	assert.Len(t, got.Labels, 1+8*20)
	assert.Equal(t, "161", got.ResourceVersion)
}

// TestPatchCopyBomb: 20 copies that each double the document, about 1 kB,
// would allocate gigabytes (about 30 would exhaust the memory); they are
// refused at the copy limit. Kubernetes' limit still lets them allocate 16 to
// 32 MiB: the copies stop once their sum passes 3 MiB (5.3 MiB here), and
// json-patch marshals each one into a growing buffer, then copies it twice.
// The bound is 16 times the limit.
func TestPatchCopyBomb(t *testing.T) {
	s := patchStore(t, 0)
	body := doublingCopies(20)
	require.Less(t, len(body), 1200, "about 1 kB")
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	start := time.Now()
	_, err := patch(s, jsonPatch, body)
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("%d bytes of patch: answered in %v, %.1f MiB allocated", len(body), elapsed, float64(allocated)/(1<<20))
	code, _ := statusOf(t, err)
	assert.Equal(t, int32(422), code, "got %v", err)
	assert.Less(t, allocated, uint64(16*3<<20), "bytes allocated")
}

// TestPatchGetNotBlocked: a GET does not wait while a patch is applied, only
// while it is stored. The patch is as costly as Kubernetes allows in copies:
// 3 MiB of copies of a spec.color of 1 MiB. Latencies say little on a busy
// machine; what the GETs that start and end while one patch is in flight
// count does: a handful when the store is locked while the patch applies.
func TestPatchGetNotBlocked(t *testing.T) {
	s := patchStore(t, 1<<20-2)
	body := copies(3) // the Widget drops them
	const patches = 5
	var (
		wg     sync.WaitGroup
		seq    atomic.Int64 // odd while a patch is in flight
		during int          // GETs that start and end while one patch is in flight
		took   time.Duration
	)
	wg.Go(func() {
		start := time.Now()
		for range patches {
			seq.Add(1)
			_, err := patch(s, jsonPatch, body)
			seq.Add(1)
			assert.NoError(t, err)
		}
		took = time.Since(start)
	})
	for {
		before := seq.Load()
		if before == 2*patches {
			break
		}
		_, err := s.Get("ns", "w")
		require.NoError(t, err)
		if before%2 == 1 && seq.Load() == before {
			during++
		}
	}
	wg.Wait()
	t.Logf("%d patches in %v; %d GETs during them", patches, took, during)
	assert.Greater(t, during, 10000*patches, "GETs during the patches")
}
