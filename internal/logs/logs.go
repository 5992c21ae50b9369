// Package logs writes the library's logs within bounds: what a client sends
// appears only cut short (Cut, for a log attribute, which the slog handler
// escapes) or cut short and escaped (Quote, for a message text), and lines a client can cause at
// will (a refused request, a failed review) go through a Limited logger, which
// writes a few lines a second and counts the rest.
package logs

import (
	"context"
	"log/slog"
	"strconv"
	"sync/atomic"
	"unicode"
	"unicode/utf8"

	"golang.org/x/time/rate"
)

// Bounds of quoted text: client-controlled text (a path, a user name) and an
// error message.
const (
	MaxQuoted      = 64
	MaxQuotedError = 256
)

// Quote returns s cut to max bytes (with "..." when cut), escaped and quoted as
// a Go string: at most 4×max+5 bytes, whatever s holds.
func Quote(s string, max int) string {
	if len(s) <= max {
		return strconv.Quote(s)
	}
	return strconv.Quote(s[:max]) + "..."
}

// Cut returns s cut to max bytes (with "..." when cut), as the value of a log
// attribute: the slog handler escapes it as its format requires (quoted by
// slog.TextHandler when it holds a space, a quote or a control character;
// escaped by slog.JSONHandler), so printable text is not quoted here. Text
// that is not printable (a control character, such as a newline, or invalid
// UTF-8) is escaped as in a Go string, without the quotes, so that no
// handler, however plain, writes a forged line: at most 4×max+3 bytes. A
// cut in the middle of a UTF-8 sequence drops the partial rune.
func Cut(s string, max int) string {
	cut := len(s) > max
	if cut {
		s = s[:max]
		for i := 0; i < utf8.UTFMax && len(s) > 0; i++ {
			if r, size := utf8.DecodeLastRuneInString(s); r != utf8.RuneError || size != 1 {
				break
			}
			s = s[:len(s)-1]
		}
	}
	if !printable(s) {
		q := strconv.Quote(s)
		s = q[1 : len(q)-1]
	}
	if cut {
		return s + "..."
	}
	return s
}

// printable reports whether s is valid UTF-8 of printable runes and spaces.
func printable(s string) bool {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(s[i:]); size == 1 {
				return false
			}
		}
		if r != ' ' && !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// Limited writes at most Burst lines at once and PerSecond lines a second on
// average to its logger; a line beyond is dropped and counted, and the count is
// added to the next line written (as "suppressed"). It is safe for concurrent
// use.
type Limited struct {
	logger  *slog.Logger
	limiter *rate.Limiter
	dropped atomic.Int64
}

// Default rate of a Limited logger: a refused client must not be able to write
// more than this, however fast it sends.
const (
	DefaultPerSecond = 1
	DefaultBurst     = 10
)

// NewLimited returns a Limited logger writing to logger (slog.Default() when
// nil) at the default rate.
func NewLimited(logger *slog.Logger) *Limited {
	if logger == nil {
		logger = slog.Default()
	}
	return &Limited{logger: logger, limiter: rate.NewLimiter(DefaultPerSecond, DefaultBurst)}
}

// Log writes msg and args at level, unless the rate is exceeded.
func (l *Limited) Log(level slog.Level, msg string, args ...any) {
	if !l.logger.Enabled(context.Background(), level) {
		return
	}
	if !l.limiter.Allow() {
		l.dropped.Add(1)
		return
	}
	if n := l.dropped.Swap(0); n > 0 {
		args = append(args, "suppressed", n)
	}
	l.logger.Log(context.Background(), level, msg, args...)
}
