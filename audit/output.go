package audit

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"gopkg.in/natefinch/lumberjack.v2"
)

// openLog returns where the log goes, as Kubernetes' AuditLogOptions.getWriter,
// and what to close at shutdown (nil: nothing, for standard output and a
// Writer given in the options).
func openLog(o Options) (io.Writer, io.Closer, error) {
	switch {
	case o.Writer != nil:
		return o.Writer, nil, nil
	case o.Path == "-":
		return os.Stdout, nil, nil
	}
	if err := ensureLogFile(o.Path); err != nil {
		return nil, nil, fmt.Errorf("ensureLogFile: %w", err)
	}
	if o.MaxSize < 0 { // Kubernetes' --audit-log-maxsize=0: no rotation
		f, err := os.OpenFile(o.Path, os.O_APPEND|os.O_WRONLY, 0644)
		if err != nil {
			return nil, nil, err
		}
		return f, f, nil
	}
	l := &lumberjack.Logger{
		Filename:   o.Path,
		MaxAge:     max(o.MaxAge, 0),
		MaxBackups: max(o.MaxBackups, 0),
		MaxSize:    o.MaxSize,
		Compress:   o.Compress,
	}
	return l, l, nil
}

// ensureLogFile creates the log file (0600) and its directory (0700) if
// missing, as Kubernetes does.
func ensureLogFile(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_RDWR, 0600)
	if err != nil {
		return err
	}
	return f.Close()
}
