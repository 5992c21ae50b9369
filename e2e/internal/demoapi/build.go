package demoapi

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// Servers are the example servers, one per router, each a main package of
// the example module.
var Servers = []string{"nethttp", "chi", "gin"}

// ExampleDir returns the example module's directory: $AGGAUTH_EXAMPLE_DIR, else
// ../example next to the e2e module.
func ExampleDir() string {
	if d := os.Getenv("AGGAUTH_EXAMPLE_DIR"); d != "" {
		return d
	}
	return filepath.Join(e2eDir(), "..", "example")
}

// CacheDir is where Build puts the binaries: e2e/.cache/example.
func CacheDir() string { return filepath.Join(e2eDir(), ".cache", "example") }

// e2eDir is the e2e module's directory, found from this file's path.
func e2eDir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok || !filepath.IsAbs(file) {
		return "." // go test and go run in the e2e module run there
	}
	// file is e2e/internal/demoapi/build.go.
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Build compiles the example server named server (see Servers) from the
// current source into CacheDir and returns the binary's path. It always
// builds, so that the caller runs the code as it is now; the Go build cache
// makes a rebuild take seconds. The binary replaces the previous one
// atomically, so a concurrent Build never runs a half-written file.
func Build(ctx context.Context, server string) (string, error) {
	dir, err := filepath.Abs(ExampleDir())
	if err != nil {
		return "", err
	}
	out, err := filepath.Abs(CacheDir())
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(out, server+".tmp-*")
	if err != nil {
		return "", err
	}
	tmp.Close()
	defer os.Remove(tmp.Name()) // left behind only when the build failed
	goBin := os.Getenv("GO")
	if goBin == "" {
		goBin = "go"
	}
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", tmp.Name(), "./"+server)
	cmd.Dir = dir
	if msg, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("demoapi: go build ./%s in %s: %w\n%s", server, dir, err, strings.TrimSpace(string(msg)))
	}
	path := filepath.Join(out, server)
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", err
	}
	return path, nil
}
