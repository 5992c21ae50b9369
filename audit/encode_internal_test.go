package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	k8saudit "k8s.io/apiserver/pkg/audit"
	pluginlog "k8s.io/apiserver/plugin/pkg/audit/log"
)

// pieces random strings are made of: what encoding/json escapes in every way.
var pieces = []string{"a", "Z", "/", " ", "\"", "\\", "<", ">", "&", "\n", "\r", "\t", "\b", "\f", "\x00", "\x1f", "\x7f",
	"é", "日本", "\u2028", "\u2029", "\xff", "\xe2\x80", "🙂", "\ufffd", "'", "%2F", "?q=1&b=<"}

func randomString(r *rand.Rand) string {
	var b strings.Builder
	for range r.IntN(8) {
		b.WriteString(pieces[r.IntN(len(pieces))])
	}
	return b.String()
}

func randomStrings(r *rand.Rand) []string {
	switch r.IntN(4) {
	case 0:
		return nil
	case 1:
		return []string{}
	}
	var out []string
	for range 1 + r.IntN(3) {
		out = append(out, randomString(r))
	}
	return out
}

func randomUser(r *rand.Rand) authnv1.UserInfo {
	u := authnv1.UserInfo{Username: randomString(r), UID: randomString(r), Groups: randomStrings(r)}
	if r.IntN(2) == 0 {
		u.Extra = map[string]authnv1.ExtraValue{}
		for range r.IntN(3) {
			u.Extra[randomString(r)] = randomStrings(r)
		}
	}
	return u
}

func randomTime(r *rand.Rand) metav1.MicroTime {
	if r.IntN(5) == 0 {
		return metav1.MicroTime{}
	}
	loc := time.FixedZone("x", 3600*(r.IntN(25)-12))
	secs := r.Int64N(4e9)
	if r.IntN(10) == 0 { // years before 0 and after 9999
		secs = r.Int64N(8e11) - 4e11
	}
	return metav1.NewMicroTime(time.Unix(secs, r.Int64N(1e9)).In(loc))
}

func randomEvent(r *rand.Rand) *auditv1.Event {
	ev := &auditv1.Event{TypeMeta: metav1.TypeMeta{Kind: "Event", APIVersion: "audit.k8s.io/v1"},
		Level: pick(r, poolLevels), AuditID: types.UID(randomString(r)), Stage: pick(r, poolStages),
		RequestURI: randomString(r), Verb: randomString(r), User: randomUser(r), SourceIPs: randomStrings(r),
		UserAgent: randomString(r), RequestReceivedTimestamp: randomTime(r), StageTimestamp: randomTime(r)}
	if r.IntN(3) == 0 {
		u := randomUser(r)
		ev.ImpersonatedUser = &u
	}
	if r.IntN(4) == 0 {
		ev.AuthenticationMetadata = &auditv1.AuthenticationMetadata{ImpersonationConstraint: randomString(r)}
	}
	if r.IntN(2) == 0 {
		ev.ObjectRef = &auditv1.ObjectReference{Resource: randomString(r), Namespace: randomString(r), Name: randomString(r),
			UID: types.UID(randomString(r)), APIGroup: randomString(r), APIVersion: randomString(r),
			ResourceVersion: randomString(r), Subresource: randomString(r)}
	}
	if r.IntN(2) == 0 {
		ev.ResponseStatus = &metav1.Status{Status: randomString(r), Message: randomString(r),
			Reason: metav1.StatusReason(randomString(r)), Code: int32(r.IntN(1000) - 100)}
		if r.IntN(4) == 0 {
			ev.ResponseStatus.Details = &metav1.StatusDetails{Name: randomString(r), Kind: randomString(r)}
		}
		if r.IntN(8) == 0 {
			ev.ResponseStatus.ListMeta.Continue = randomString(r)
		}
	}
	raw := func() *runtime.Unknown {
		b, _ := json.Marshal(map[string]any{"kind": randomString(r), "n": r.IntN(100), "list": randomStrings(r)})
		return &runtime.Unknown{Raw: append(append([]byte(" \n"), b...), '\n'), ContentType: runtime.ContentTypeJSON}
	}
	if r.IntN(4) == 0 {
		ev.RequestObject = raw()
	}
	if r.IntN(4) == 0 {
		ev.ResponseObject = raw()
	}
	if r.IntN(2) == 0 {
		ev.Annotations = map[string]string{}
		for range r.IntN(4) {
			ev.Annotations[randomString(r)] = randomString(r)
		}
	}
	return ev
}

// TestAppendEventIsEncodingJSON encodes random events, with every character
// encoding/json escapes, both ways: the same bytes.
func TestAppendEventIsEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 20000 {
		ev := randomEvent(r)
		want, err := json.Marshal(ev)
		require.NoError(t, err)
		got := appendEvent(nil, ev, nil)
		if !bytes.Equal(append(want, '\n'), got) {
			t.Fatalf("event %d:\nencoding/json: %s\nappendEvent:   %s", i, want, got)
		}
	}
}

// TestAppendEventIsKubernetesLog writes random events with Kubernetes' log
// backend (JSON and legacy) and with ours: the same lines.
func TestAppendEventIsKubernetesLog(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	var jsonLog, legacyLog bytes.Buffer
	kjson := pluginlog.NewBackend(&jsonLog, pluginlog.FormatJson, auditv1.SchemeGroupVersion)
	klegacy := pluginlog.NewBackend(&legacyLog, pluginlog.FormatLegacy, auditv1.SchemeGroupVersion)
	for i := range 3000 {
		ev := randomEvent(r)
		ev.TypeMeta = metav1.TypeMeta{}
		in := &auditinternal.Event{}
		require.NoError(t, scheme.Convert(ev, in, nil))
		jsonLog.Reset()
		legacyLog.Reset()
		require.True(t, kjson.ProcessEvents(in))
		require.True(t, klegacy.ProcessEvents(in))
		if got := appendEvent(nil, ev, nil); !bytes.Equal(jsonLog.Bytes(), got) {
			t.Fatalf("event %d:\nkubernetes: %s\nours:       %s", i, jsonLog.Bytes(), got)
		}
		if got := appendLegacy(nil, ev); !bytes.Equal(legacyLog.Bytes(), got) {
			t.Fatalf("event %d (legacy):\nkubernetes: %s\nours:       %s", i, legacyLog.Bytes(), got)
		}
		require.Equal(t, k8saudit.EventString(in)+"\n", string(appendLegacy(nil, ev)))
	}
}

// TestRequestURI: the request target as received is reused only when it is
// what net/url writes.
func TestRequestURI(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	parts := []string{"/", "a", "%2F", "%20", "+", "!", "*", "'", "(", "~", "$", "&", "=", ";", ":", "@", ",", "?", "??", "#",
		"%", "%zz", "é", "%C3%A9", "..", "//", "q=1", "&b=%3C", "<", "\\"}
	reused := 0
	for range 20000 {
		var b strings.Builder
		if r.IntN(10) > 0 {
			b.WriteString("/")
		}
		for range r.IntN(8) {
			b.WriteString(parts[r.IntN(len(parts))])
		}
		req, err := http.ReadRequest(bufio.NewReader(strings.NewReader("GET " + b.String() + " HTTP/1.1\r\nHost: x\r\n\r\n")))
		if err != nil {
			continue
		}
		got := requestURI(req)
		require.Equal(t, req.URL.RequestURI(), got, "target %q", b.String())
		if got == req.RequestURI {
			reused++
		}
	}
	t.Logf("%d of 20000 targets reused", reused)
	assert.Positive(t, reused)
}
