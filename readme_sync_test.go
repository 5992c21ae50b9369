package aggauth_test

import (
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReadme: the README's complete server and its test are this package's
// readme_example_test.go and readme_test.go, from their imports on, in a
// package main.
func TestReadme(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	tests := []struct{ section, file, main string }{
		{"## A complete server", "readme_example_test.go", "func Example_server() { // func main() in a program of its own"},
		{"## Testing your handlers", "readme_test.go", ""},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			_, section, ok := strings.Cut(string(readme), "\n"+tt.section+"\n")
			require.True(t, ok, "README has no %s", tt.section)
			_, code, _ := strings.Cut(section, "```go\n")
			code, _, _ = strings.Cut(code, "```\n")
			src, err := os.ReadFile(tt.file)
			require.NoError(t, err)
			_, imports, _ := strings.Cut(string(src), "\nimport (")
			want := "package main\n\nimport (" + imports
			if tt.main != "" {
				want = strings.Replace(want, tt.main, "func main() {", 1)
			}
			assert.Equal(t, want, code, "got the README's code; want %s's", tt.file)
		})
	}
}
