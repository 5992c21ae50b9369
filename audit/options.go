package audit

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// Modes of the log backend (--audit-log-mode), as Kubernetes names them.
const (
	// ModeBlocking writes each event before the request goes on (the
	// default): a slow disk slows the requests down, and a failed write is
	// counted and logged but fails nothing.
	ModeBlocking = "blocking"
	// ModeBlockingStrict is ModeBlocking, except that a request whose
	// RequestReceived event cannot be written fails with 500.
	ModeBlockingStrict = "blocking-strict"
	// ModeBatch queues events in a bounded buffer written by one goroutine:
	// requests never wait for the disk, and events that find the buffer full
	// are dropped and counted (apiserver_audit_error_total{plugin="buffered"}).
	ModeBatch = "batch"
)

// Formats of the log (--audit-log-format).
const (
	// FormatJSON writes one audit.k8s.io/v1 Event per line, as JSON (the default).
	FormatJSON = "json"
	// FormatLegacy writes one line of text per event, as Kubernetes'
	// legacy format.
	FormatLegacy = "legacy"
)

// Defaults, Kubernetes' (pkg/server/options/audit.go) unless said otherwise.
const (
	DefaultMaxAge           = 366 // days
	DefaultMaxBackups       = 100
	DefaultMaxSize          = 100 // megabytes
	DefaultBatchBufferSize  = 10000
	DefaultBatchMaxSize     = 1
	DefaultTruncateMaxEvent = 100 * 1024
	DefaultTruncateMaxBatch = 10 * 1024 * 1024
	DefaultMaxBodyBytes     = 64 * 1024
	DefaultBatchBufferBytes = 64 << 20 // ours: Kubernetes bounds the buffer in events only
	DefaultVersion          = "audit.k8s.io/v1"
)

// Options configures New. Start from NewOptions (Kubernetes' defaults) and
// bind them to flags with AddFlags, or fill them in code; the zero value works
// too and means the same defaults (audit off: no policy). Field comments give
// the flag and the default.
//
// Audit is on when a policy (PolicyFile or Policy) and a log (Path or Writer)
// are both given, as in Kubernetes, where a policy without a backend, or a
// backend without a policy, records nothing.
type Options struct {
	// PolicyFile is the audit.k8s.io/v1 Policy file (--audit-policy-file),
	// read once by New. Default: none, audit off.
	PolicyFile string
	// Policy is the policy in memory, instead of PolicyFile (set one or the
	// other). It is validated and copied by New. Default: none.
	Policy *auditv1.Policy

	// Path is the log file (--audit-log-path); "-" is standard output. The
	// file is created (mode 0600, its directory 0700) if missing, appended
	// to, and rotated as MaxSize, MaxBackups, MaxAge and Compress say.
	// Default: none, audit off.
	Path string
	// Writer receives the log instead of Path (set one or the other): one
	// Write per event line. Writes to it are serialized. New does not close
	// it. Default: none.
	Writer io.Writer
	// MaxAge is how many days rotated files are kept (--audit-log-maxage).
	// Default 366; negative: kept whatever their age (the flag's 0, as in
	// Kubernetes).
	MaxAge int
	// MaxBackups is how many rotated files are kept (--audit-log-maxbackup).
	// Default 100; negative: all of them (the flag's 0).
	MaxBackups int
	// MaxSize is the size in megabytes at which the file is rotated
	// (--audit-log-maxsize). Default 100; negative: never rotated (the
	// flag's 0, which Kubernetes does not recommend).
	MaxSize int
	// Compress gzips rotated files (--audit-log-compress). Default false.
	Compress bool
	// Format is FormatJSON or FormatLegacy (--audit-log-format). Default
	// FormatJSON.
	Format string
	// Version is the API version events are written in (--audit-log-version);
	// only audit.k8s.io/v1 exists. Default audit.k8s.io/v1.
	Version string
	// Mode is ModeBlocking, ModeBatch or ModeBlockingStrict
	// (--audit-log-mode). Default ModeBlocking, as Kubernetes' log backend.
	Mode string
	// Batch configures ModeBatch.
	Batch BatchOptions
	// Truncate bounds the size of events, as Kubernetes' truncate plugin
	// (--audit-log-truncate-*). Default: off, as in Kubernetes.
	Truncate TruncateOptions

	// RecordBodies records, at levels Request and RequestResponse, the
	// request body the handler read as the event's requestObject and, at
	// RequestResponse, the response body as its responseObject, when they
	// are JSON and no longer than MaxBodyBytes (Record.Body, Record.Writer),
	// except for unauthenticated requests. Default false, as Kubernetes'
	// audit filter for a handler that is not one of its REST handlers: see
	// the package documentation. A Status the pipeline answers with
	// (Record.SetResponseStatus) is recorded either way.
	RecordBodies bool
	// MaxBodyBytes bounds each body RecordBodies records; a longer one is
	// left out and the event annotated audit.k8s.io/truncated=true.
	// Default 64 KiB.
	MaxBodyBytes int

	// Logger receives write failures (a few lines a second at most) and
	// policy warnings. Default slog.Default().
	Logger *slog.Logger
	// Clock gives the stageTimestamp of the events after RequestReceived
	// (whose timestamp is the request's). Default time.Now.
	Clock func() time.Time
}

// BatchOptions configures ModeBatch (--audit-log-batch-*). Events wait in a
// buffer bounded in events and bytes; one goroutine writes them in batches.
type BatchOptions struct {
	// BufferSize is the most events the buffer holds
	// (--audit-log-batch-buffer-size). Default 10000.
	BufferSize int
	// BufferBytes is the most bytes of encoded events the buffer holds,
	// counting the batch being written (--audit-log-batch-buffer-bytes, ours:
	// Kubernetes bounds the buffer in events only). Default 64 MiB.
	BufferBytes int64
	// MaxSize is the most events in one batch (--audit-log-batch-max-size).
	// Default 1: batching does nothing for a log file.
	MaxSize int
	// MaxWait is how long a batch smaller than MaxSize waits for more events
	// (--audit-log-batch-max-wait). Used only when MaxSize > 1. Default 0.
	MaxWait time.Duration
	// ThrottleEnable limits the batches written per second
	// (--audit-log-batch-throttle-enable). Default false.
	ThrottleEnable bool
	// ThrottleQPS is the average number of batches a second
	// (--audit-log-batch-throttle-qps). Required with ThrottleEnable.
	ThrottleQPS float32
	// ThrottleBurst is the most batches written at once
	// (--audit-log-batch-throttle-burst). Required with ThrottleEnable.
	ThrottleBurst int
}

// TruncateOptions configures the truncation of large events
// (--audit-log-truncate-*), as Kubernetes' truncate plugin: an event larger
// than MaxEventSize at level Request or RequestResponse loses its request and
// response objects and gains the annotation audit.k8s.io/truncated=true; an
// event still too large is dropped and counted
// (apiserver_audit_error_total{plugin="truncate"}).
type TruncateOptions struct {
	// Enabled turns truncation on (--audit-log-truncate-enabled). Default false.
	Enabled bool
	// MaxBatchSize is the most bytes of a batch
	// (--audit-log-truncate-max-batch-size); it must be at least MaxEventSize.
	// Events are written one at a time here, so it only bounds MaxEventSize.
	// Default 10 MiB.
	MaxBatchSize int64
	// MaxEventSize is the most bytes of an event
	// (--audit-log-truncate-max-event-size). Default 100 KiB.
	MaxEventSize int64
}

// NewOptions returns Kubernetes' defaults (audit off until a policy and a
// log are given).
func NewOptions() *Options {
	return &Options{
		MaxAge:     DefaultMaxAge,
		MaxBackups: DefaultMaxBackups,
		MaxSize:    DefaultMaxSize,
		Format:     FormatJSON,
		Version:    DefaultVersion,
		Mode:       ModeBlocking,
		Batch: BatchOptions{
			BufferSize:  DefaultBatchBufferSize,
			BufferBytes: DefaultBatchBufferBytes,
			MaxSize:     DefaultBatchMaxSize,
		},
		Truncate: TruncateOptions{
			MaxBatchSize: DefaultTruncateMaxBatch,
			MaxEventSize: DefaultTruncateMaxEvent,
		},
		MaxBodyBytes: DefaultMaxBodyBytes,
	}
}

// withDefaults returns o with NewOptions' value in every zero field that has
// a default.
func (o Options) withDefaults() Options {
	d := NewOptions()
	def := func(v *int, dv int) {
		if *v == 0 {
			*v = dv
		}
	}
	def(&o.MaxAge, d.MaxAge)
	def(&o.MaxBackups, d.MaxBackups)
	def(&o.MaxSize, d.MaxSize)
	def(&o.Batch.BufferSize, d.Batch.BufferSize)
	def(&o.Batch.MaxSize, d.Batch.MaxSize)
	def(&o.MaxBodyBytes, d.MaxBodyBytes)
	if o.Batch.BufferBytes == 0 {
		o.Batch.BufferBytes = d.Batch.BufferBytes
	}
	if o.Truncate.MaxBatchSize == 0 {
		o.Truncate.MaxBatchSize = d.Truncate.MaxBatchSize
	}
	if o.Truncate.MaxEventSize == 0 {
		o.Truncate.MaxEventSize = d.Truncate.MaxEventSize
	}
	if o.Format == "" {
		o.Format = d.Format
	}
	if o.Version == "" {
		o.Version = d.Version
	}
	if o.Mode == "" {
		o.Mode = d.Mode
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Clock == nil {
		o.Clock = time.Now
	}
	return o
}

// enabled reports whether o turns audit on: a policy and a log.
func (o *Options) enabled() bool {
	return (o.PolicyFile != "" || o.Policy != nil) && (o.Path != "" || o.Writer != nil)
}

// Validate returns what is wrong with o (after defaults), with Kubernetes'
// messages where it has the same check. Options that audit does not use when
// off are not checked, as in Kubernetes.
func (o *Options) Validate() error {
	var errs []error
	if o.PolicyFile != "" && o.Policy != nil {
		errs = append(errs, errors.New("audit: set PolicyFile or Policy, not both"))
	}
	if o.Path != "" && o.Writer != nil {
		errs = append(errs, errors.New("audit: set Path or Writer, not both"))
	}
	if o.Path == "" && o.Writer == nil {
		return errors.Join(errs...)
	}
	d := o.withDefaults()
	switch d.Mode {
	case ModeBlocking, ModeBlockingStrict:
	case ModeBatch:
		errs = append(errs, d.Batch.validate()...)
	default:
		errs = append(errs, fmt.Errorf("invalid audit log mode %s, allowed modes are %q", d.Mode,
			strings.Join([]string{ModeBatch, ModeBlocking, ModeBlockingStrict}, ",")))
	}
	if t := d.Truncate; t.MaxEventSize <= 0 {
		errs = append(errs, fmt.Errorf("invalid audit truncate log max event size %v, must be a positive number", t.MaxEventSize))
	} else if t.MaxBatchSize < t.MaxEventSize {
		errs = append(errs, fmt.Errorf("invalid audit truncate log max batch size %v, must be greater than max event size (%v)",
			t.MaxBatchSize, t.MaxEventSize))
	}
	if d.Version != DefaultVersion {
		errs = append(errs, fmt.Errorf("invalid group version, allowed versions are %q", []string{DefaultVersion}))
	}
	if d.Format != FormatJSON && d.Format != FormatLegacy {
		errs = append(errs, fmt.Errorf("invalid audit log format %s, allowed formats are %q", d.Format,
			strings.Join([]string{FormatLegacy, FormatJSON}, ",")))
	}
	if d.MaxBodyBytes < 0 {
		errs = append(errs, fmt.Errorf("audit: MaxBodyBytes %d can't be a negative number", d.MaxBodyBytes))
	}
	return errors.Join(errs...)
}

func (b BatchOptions) validate() []error {
	var errs []error
	if b.BufferSize <= 0 {
		errs = append(errs, fmt.Errorf("invalid audit batch log buffer size %v, must be a positive number", b.BufferSize))
	}
	if b.BufferBytes <= 0 {
		errs = append(errs, fmt.Errorf("invalid audit batch log buffer bytes %v, must be a positive number", b.BufferBytes))
	}
	if b.MaxSize <= 0 {
		errs = append(errs, fmt.Errorf("invalid audit batch log max batch size %v, must be a positive number", b.MaxSize))
	}
	if b.ThrottleEnable {
		if b.ThrottleQPS <= 0 {
			errs = append(errs, fmt.Errorf("invalid audit batch log throttle QPS %v, must be a positive number", b.ThrottleQPS))
		}
		if b.ThrottleBurst <= 0 {
			errs = append(errs, fmt.Errorf("invalid audit batch log throttle burst %v, must be a positive number", b.ThrottleBurst))
		}
	}
	return errs
}
