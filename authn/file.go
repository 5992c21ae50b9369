package authn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
)

// FileCAOptions configures a FileCA.
type FileCAOptions struct {
	// Path of the PEM bundle (--client-ca-file, --requestheader-client-ca-file).
	// Required.
	Path string

	// Interval between re-reads that do not wait for a file event, as Kubernetes
	// re-checks its CA files. Default: 1 minute.
	Interval time.Duration

	// Logger receives why a change was not applied. Default: slog.Default().
	Logger *slog.Logger
}

// FileCA is a CAProvider read from a PEM file and re-read when it changes
// (fsnotify on its directory, so that the atomic symlink swaps of mounted Secrets
// and ConfigMaps are seen, plus a periodic re-read). A change that cannot be
// parsed keeps the last good bundle.
type FileCA struct {
	DynamicCA
	opts    FileCAOptions
	started atomic.Bool
}

// NewFileCA reads the bundle once; an unreadable or invalid file is an error.
func NewFileCA(opts FileCAOptions) (*FileCA, error) {
	if opts.Path == "" {
		return nil, errors.New("authn: FileCAOptions.Path is required")
	}
	if opts.Interval <= 0 {
		opts.Interval = time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	f := &FileCA{opts: opts}
	if err := f.reload(); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *FileCA) reload() error {
	data, err := os.ReadFile(f.opts.Path)
	if err != nil {
		return fmt.Errorf("authn: reading CA file: %w", err)
	}
	changed, err := f.SetPEM(data)
	if err != nil {
		return fmt.Errorf("authn: CA file %s: %w", f.opts.Path, err)
	}
	if changed {
		f.opts.Logger.Info("CA bundle loaded", "path", f.opts.Path, "certificates", len(f.CABundle().Certificates()))
	}
	return nil
}

// Start watches the file, in a goroutine of its own, until ctx is done. A
// second Start does nothing.
func (f *FileCA) Start(ctx context.Context) {
	if f.started.CompareAndSwap(false, true) {
		go f.watch(ctx)
	}
}

func (f *FileCA) watch(ctx context.Context) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		f.opts.Logger.Warn("no file events; re-reading periodically only", "path", f.opts.Path, "err", err)
	} else {
		defer w.Close()
		if err := w.Add(filepath.Dir(f.opts.Path)); err != nil {
			f.opts.Logger.Warn("no file events; re-reading periodically only", "path", f.opts.Path, "err", err)
		}
	}
	var events <-chan fsnotify.Event
	var errs <-chan error
	if w != nil {
		events, errs = w.Events, w.Errors
	}
	// The file may have changed between NewFileCA's read and the watch being
	// in place: read it once more now that no change can go unnoticed.
	if err := f.reload(); err != nil {
		f.opts.Logger.Warn("keeping the last good CA bundle", "err", err)
	}
	tick := time.NewTicker(f.opts.Interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-events:
		case err := <-errs:
			f.opts.Logger.Warn("file watch error", "path", f.opts.Path, "err", err)
			continue
		}
		if err := f.reload(); err != nil {
			f.opts.Logger.Warn("keeping the last good CA bundle", "err", err)
		}
	}
}

// RequestHeaderFromCA returns a RequestHeaderProvider whose configuration is
// template with the CA in force from ca (nil while ca has none): the front-proxy
// configuration when the CA comes from a file and the header names from flags.
func RequestHeaderFromCA(ca CAProvider, template RequestHeaderConfig) (RequestHeaderProvider, error) {
	template.CA = nil
	probe := template
	probe.CA = &CABundle{}
	if err := probe.Validate(); err != nil {
		return nil, err
	}
	return &caRequestHeader{ca: ca, template: template}, nil
}

type caRequestHeader struct {
	ca       CAProvider
	template RequestHeaderConfig
	current  atomic.Pointer[RequestHeaderConfig]
}

func (c *caRequestHeader) RequestHeaderConfig() *RequestHeaderConfig {
	ca := c.ca.CABundle()
	if ca == nil {
		return nil
	}
	if cur := c.current.Load(); cur != nil && cur.CA == ca {
		return cur
	}
	cfg := c.template
	cfg.CA = ca
	c.current.Store(&cfg)
	return &cfg
}
