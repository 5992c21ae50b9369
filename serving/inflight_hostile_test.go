package serving_test

import (
	"bufio"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/aggauth/aggauth/pipeline"
)

// reading answers "ok" once it has read the whole body; inside counts the
// handlers running.
type reading struct{ inside atomic.Int64 }

func (h *reading) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.inside.Add(1)
	defer h.inside.Add(-1)
	if _, err := io.Copy(io.Discard, r.Body); err != nil {
		return
	}
	_, _ = io.WriteString(w, "ok")
}

// TestInflightSlowBodyReleasedAtDeadline: a client that announces a body
// and sends it a byte at a time holds its mutating slot while the handler
// reads, but not past the request's deadline: it gets its 504, and the
// handler's read ends then, so that the slot is free for the next create.
func TestInflightSlowBodyReleasedAtDeadline(t *testing.T) {
	opts := testOptions(t)
	opts.RequestTimeout = 300 * time.Millisecond
	opts.MaxMutatingRequestsInFlight = 1
	h := &reading{}
	r := start(t, opts, pipeline.New(h, testAuthn{}))
	conn := r.dialHTTP1(t)
	_, err := io.WriteString(conn, "POST /apis/g/v1/namespaces/ns/things HTTP/1.1\r\nHost: localhost\r\n"+
		"X-Test-User: mallory\r\nContent-Length: 1000\r\n\r\nx")
	require.NoError(t, err)
	require.Eventually(t, func() bool { return h.inside.Load() == 1 }, 10*time.Second, time.Millisecond)
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(5*time.Second)))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	assert.Equal(t, http.StatusGatewayTimeout, resp.StatusCode)

	c := client(t, true)
	assert.Eventually(t, func() bool {
		return probe(t, c, http.MethodPost, r.url+"/apis/g/v1/namespaces/ns/things").code == http.StatusOK
	}, 2*time.Second, 50*time.Millisecond, "the slot is free again once the deadline has passed")
	assert.Equal(t, int64(0), h.inside.Load(), "the handler's read ended")
}
