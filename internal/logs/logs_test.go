package logs

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"golang.org/x/time/rate"
)

func TestQuote(t *testing.T) {
	assert.Equal(t, `"/healthz"`, Quote("/healthz", MaxQuoted))
	long := strings.Repeat("\x00", 10000)
	q := Quote(long, MaxQuoted)
	assert.LessOrEqual(t, len(q), 4*MaxQuoted+5)
	assert.True(t, strings.HasSuffix(q, `"...`))
	assert.NotContains(t, Quote("a\nb", MaxQuoted), "\n")
}

func TestLimited(t *testing.T) {
	var buf bytes.Buffer
	l := NewLimited(slog.New(slog.NewTextHandler(&buf, nil)))
	for range 1000 {
		l.Log(slog.LevelWarn, "refused")
	}
	lines := strings.Count(buf.String(), "\n")
	assert.GreaterOrEqual(t, lines, DefaultBurst)
	assert.LessOrEqual(t, lines, DefaultBurst+2, "a burst of 1,000 writes about the burst")
	l.limiter = rate.NewLimiter(rate.Inf, 1) // the next line is allowed
	l.Log(slog.LevelWarn, "refused")
	assert.Contains(t, buf.String(), "suppressed=", "the dropped lines are counted")
}

func TestCut(t *testing.T) {
	assert.Equal(t, "/healthz", Cut("/healthz", MaxQuoted))
	assert.Equal(t, strings.Repeat("a", MaxQuoted)+"...", Cut(strings.Repeat("a", 10000), MaxQuoted))
	// A cut inside a rune drops the partial rune.
	assert.Equal(t, "ab...", Cut("ab€", 3))
	// slog escapes what Cut leaves: printable text is quoted once.
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("m", "path", Cut("/a b\"c\"", MaxQuoted), "evil", Cut("x\ny", MaxQuoted))
	assert.Contains(t, buf.String(), `path="/a b\"c\""`)
	assert.Equal(t, 1, strings.Count(buf.String(), "\n"))
	// A handler that writes values as they are still writes one line: text
	// that is not printable is escaped here.
	assert.Equal(t, `a\nlevel=ERROR msg=forged`, Cut("a\nlevel=ERROR msg=forged", MaxQuotedError))
	assert.Equal(t, `\x00\xff\u202e`, Cut("\x00\xff\u202e", MaxQuoted))
	assert.Equal(t, `\r...`, Cut("\r\r\r", 1))
	assert.Equal(t, "café \"ok\"", Cut("café \"ok\"", MaxQuoted), "printable text is left to the handler")
}
