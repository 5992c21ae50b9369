package audit

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"sync"

	"k8s.io/apimachinery/pkg/runtime"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// capture keeps the bodies of a request audited at level Request or
// RequestResponse with Options.RecordBodies, each up to max bytes.
type capture struct {
	max      int
	response bool // the response body too (RequestResponse, not long-running)

	mu                sync.Mutex // guards the fields below
	req, resp         []byte
	reqSeen, respSeen bool // some body went through
	reqOver, respOver bool // longer than max: left out
	reqDone, respDone bool // attached (or left out) already
}

// Body returns body wrapped so that, with RecordBodies at level Request or
// RequestResponse, what the handler reads of it is recorded as the event's
// requestObject (when it is JSON and at most MaxBodyBytes). Otherwise, and for
// a nil record, it returns body.
func (r *Record) Body(body io.ReadCloser) io.ReadCloser {
	if r == nil || r.capture == nil || body == nil || body == http.NoBody {
		return body
	}
	return &bodyReader{ReadCloser: body, c: r.capture}
}

type bodyReader struct {
	io.ReadCloser
	c *capture
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.c.mu.Lock()
		b.c.req, b.c.reqOver = keep(b.c.req, p[:n], b.c.reqOver, b.c.max)
		b.c.reqSeen = true
		b.c.mu.Unlock()
	}
	return n, err
}

func (c *capture) writeResponse(p []byte) {
	if len(p) == 0 {
		return
	}
	c.mu.Lock()
	c.resp, c.respOver = keep(c.resp, p, c.respOver, c.max)
	c.respSeen = true
	c.mu.Unlock()
}

// keep appends p to buf unless that passes max; once past, buf is dropped.
func keep(buf, p []byte, over bool, max int) ([]byte, bool) {
	if over || len(buf)+len(p) > max {
		return nil, true
	}
	return append(buf, p...), false
}

// attach puts the bodies kept so far into r's event, at the stages after
// RequestReceived: the request body at the first of them, the response body
// at ResponseComplete, unless a Status was recorded as the response object.
// r.mu is held.
func (c *capture) attach(r *Record, stage auditv1.Stage) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.reqDone && c.reqSeen {
		c.reqDone = true
		r.ev.RequestObject = c.object(r, c.req, c.reqOver)
		c.req = nil
	}
	if c.response && !c.respDone && stage == auditv1.StageResponseComplete {
		c.respDone = true
		if c.respSeen && r.ev.ResponseObject == nil {
			r.ev.ResponseObject = c.object(r, c.resp, c.respOver)
		}
		c.resp = nil
	}
}

// object returns raw as an embedded object: nil when it is not JSON, or was
// too long (the event is then annotated audit.k8s.io/truncated=true).
func (c *capture) object(r *Record, raw []byte, over bool) *runtime.Unknown {
	if over {
		r.annotate(annotationTruncated, "true")
		return nil
	}
	if !json.Valid(raw) {
		return nil
	}
	if r.cfg.omitManagedFields {
		raw = withoutManagedFields(raw)
	}
	return &runtime.Unknown{Raw: raw, ContentType: runtime.ContentTypeJSON}
}

// withoutManagedFields drops metadata.managedFields from an object, from the
// items of a list and from the objects of a Table's rows, as Kubernetes'
// omitManagedFields does for the objects it records.
func withoutManagedFields(raw []byte) []byte {
	if !bytes.Contains(raw, []byte(`"managedFields"`)) {
		return raw
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var obj map[string]any
	if d.Decode(&obj) != nil {
		return raw
	}
	drop := func(o any) {
		if m, ok := o.(map[string]any); ok {
			if meta, ok := m["metadata"].(map[string]any); ok {
				delete(meta, "managedFields")
			}
		}
	}
	drop(obj)
	if items, ok := obj["items"].([]any); ok {
		for _, it := range items {
			drop(it)
		}
	}
	if rows, ok := obj["rows"].([]any); ok {
		for _, row := range rows {
			if m, ok := row.(map[string]any); ok {
				drop(m["object"])
			}
		}
	}
	out, err := json.Marshal(obj)
	if err != nil {
		return raw
	}
	return out
}
