package serving

import (
	"net/http"
	"sync"
	"unicode/utf8"

	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/apiserver/pkg/warning"

	"github.com/aggauth/aggauth/pipeline"
)

// Bounds of the warnings of one response, Kubernetes' own
// (k8s.io/apiserver/pkg/endpoints/filters/warning.go).
const (
	// MaxWarningRunes is how many runes of warning text a response carries
	// before the warnings are cut short.
	MaxWarningRunes = 4 * 1024
	// MaxTruncatedWarningRunes is the length each warning is cut to once
	// MaxWarningRunes is exceeded.
	MaxTruncatedWarningRunes = 256
)

// Warnings returns a filter that lets the handlers after it warn the client
// with k8s.io/apiserver/pkg/warning.AddWarning(ctx, agent, text), as the
// generic apiserver's WithWarningRecorder: each distinct text becomes a
// `Warning: 299 <agent> "<text>"` response header (kubectl prints them),
// within Kubernetes' bounds: once the texts exceed MaxWarningRunes, every
// warning is cut to MaxTruncatedWarningRunes, and once they exceed it again,
// further warnings are dropped. Warnings added after the response has started
// are lost. Install it inside Timeout, as Kubernetes does, so that a late
// warning never races with the response.
func Warnings() func(http.Handler) http.Handler { return pipeline.Handler(warningsStep{}) }

// warningsStep makes the request's state record its warnings, with a
// recorder made on the first one.
type warningsStep struct{}

func (warningsStep) Serve(_ http.ResponseWriter, r *http.Request, s *pipeline.State) *http.Request {
	s.RecordWarnings(newRecorder)
	return r
}

func newRecorder(w http.ResponseWriter) warning.Recorder { return &recorder{writer: w} }

// recordedWarning is one warning of the response.
type recordedWarning struct{ agent, text string }

// recorder is Kubernetes' warning recorder, line for line.
type recorder struct {
	writer http.ResponseWriter

	mu         sync.Mutex      // guards the fields below and the Warning header
	recorded   map[string]bool // texts already warned
	ordered    []recordedWarning
	written    int  // runes of text in Warning headers
	truncating bool // MaxWarningRunes was exceeded
}

// AddWarning implements warning.Recorder.
func (r *recorder) AddWarning(agent, text string) {
	if text == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.written >= MaxWarningRunes && r.truncating {
		return
	}
	if r.recorded == nil {
		r.recorded = map[string]bool{}
	}
	if r.recorded[text] {
		return
	}
	r.recorded[text] = true
	r.ordered = append(r.ordered, recordedWarning{agent: agent, text: text})

	runes := utf8.RuneCountInString(text)
	if r.truncating && runes > MaxTruncatedWarningRunes {
		text, runes = truncateRunes(text), MaxTruncatedWarningRunes
	}
	header, err := utilnet.NewWarningHeader(299, agent, text)
	if err != nil {
		return
	}
	if r.written+runes <= MaxWarningRunes || r.truncating {
		r.written += runes
		r.writer.Header().Add("Warning", header)
		return
	}
	r.truncateAll()
}

// truncateAll writes every warning again, cut short.
func (r *recorder) truncateAll() {
	r.truncating = true
	r.written = 0
	r.writer.Header().Del("Warning")
	for _, w := range r.ordered {
		text, runes := w.text, utf8.RuneCountInString(w.text)
		if runes > MaxTruncatedWarningRunes {
			text, runes = truncateRunes(text), MaxTruncatedWarningRunes
		}
		if header, err := utilnet.NewWarningHeader(299, w.agent, text); err == nil {
			r.written += runes
			r.writer.Header().Add("Warning", header)
		}
	}
}

func truncateRunes(s string) string { return string([]rune(s)[:MaxTruncatedWarningRunes]) }
