package audit

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
)

// AddFlags binds o to fs with the names, defaults and meanings of
// kube-apiserver's audit log flags (the --audit-webhook-* family is not
// offered). --audit-log-batch-buffer-bytes is ours.
//
// A flag's 0 keeps Kubernetes' meaning where the field's zero would mean the
// default: --audit-log-maxage=0 keeps files whatever their age,
// --audit-log-maxbackup=0 keeps all of them, --audit-log-maxsize=0 never
// rotates (each stored as -1 in the field).
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	if o == nil {
		return
	}
	fs.StringVar(&o.PolicyFile, "audit-policy-file", o.PolicyFile,
		"Path to the file that defines the audit policy configuration.")
	fs.StringVar(&o.Path, "audit-log-path", o.Path,
		"If set, all requests coming to the apiserver will be logged to this file.  '-' means standard out.")
	fs.Var((*noneIfZero)(&o.MaxAge), "audit-log-maxage",
		"The maximum number of days to retain old audit log files based on the timestamp encoded in their filename. Setting a value of 0 means old audit log files are not removed based on age.")
	fs.Var((*noneIfZero)(&o.MaxBackups), "audit-log-maxbackup",
		"The maximum number of old audit log files to retain. Setting a value of 0 will mean there's no restriction on the number of files.")
	fs.Var((*noneIfZero)(&o.MaxSize), "audit-log-maxsize",
		"The maximum size in megabytes of the audit log file before it gets rotated. Setting to 0 disables rotation (not recommended).")
	fs.StringVar(&o.Format, "audit-log-format", o.Format,
		"Format of saved audits. \"legacy\" indicates 1-line text format for each event. \"json\" indicates structured json format. Known formats are legacy,json.")
	fs.StringVar(&o.Version, "audit-log-version", o.Version,
		"API group and version used for serializing audit events written to log.")
	fs.BoolVar(&o.Compress, "audit-log-compress", o.Compress,
		"If set, the rotated log files will be compressed using gzip.")
	fs.StringVar(&o.Mode, "audit-log-mode", o.Mode,
		"Strategy for sending audit events. Blocking indicates sending events should block server responses. Batch causes the backend to buffer and write events asynchronously. Known modes are "+
			strings.Join([]string{ModeBatch, ModeBlocking, ModeBlockingStrict}, ",")+".")
	b := &o.Batch
	fs.IntVar(&b.BufferSize, "audit-log-batch-buffer-size", b.BufferSize,
		"The size of the buffer to store events before batching and writing. Only used in batch mode.")
	fs.Int64Var(&b.BufferBytes, "audit-log-batch-buffer-bytes", b.BufferBytes,
		"The most bytes of events the buffer holds, with the batch being written; beyond, events are dropped and counted. Only used in batch mode.")
	fs.IntVar(&b.MaxSize, "audit-log-batch-max-size", b.MaxSize,
		"The maximum size of a batch. Only used in batch mode.")
	fs.DurationVar(&b.MaxWait, "audit-log-batch-max-wait", b.MaxWait,
		"The amount of time to wait before force writing the batch that hadn't reached the max size. Only used in batch mode.")
	fs.BoolVar(&b.ThrottleEnable, "audit-log-batch-throttle-enable", b.ThrottleEnable,
		"Whether batching throttling is enabled. Only used in batch mode.")
	fs.Float32Var(&b.ThrottleQPS, "audit-log-batch-throttle-qps", b.ThrottleQPS,
		"Maximum average number of batches per second. Only used in batch mode.")
	fs.IntVar(&b.ThrottleBurst, "audit-log-batch-throttle-burst", b.ThrottleBurst,
		"Maximum number of requests sent at the same moment if ThrottleQPS was not utilized before. Only used in batch mode.")
	t := &o.Truncate
	fs.BoolVar(&t.Enabled, "audit-log-truncate-enabled", t.Enabled,
		"Whether event and batch truncating is enabled.")
	fs.Int64Var(&t.MaxBatchSize, "audit-log-truncate-max-batch-size", t.MaxBatchSize,
		"Maximum size of the batch sent to the underlying backend. Actual serialized size can be several hundreds of bytes greater. If a batch exceeds this limit, it is split into several batches of smaller size.")
	fs.Int64Var(&t.MaxEventSize, "audit-log-truncate-max-event-size", t.MaxEventSize,
		"Maximum size of the audit event sent to the underlying backend. If the size of an event is greater than this number, first request and response are removed, and if this doesn't reduce the size enough, event is discarded.")
}

// noneIfZero is an int flag whose 0 is stored as -1 ("none"), and whose
// negative values are refused, as Kubernetes refuses them.
type noneIfZero int

func (v *noneIfZero) String() string {
	if *v < 0 {
		return "0"
	}
	return strconv.Itoa(int(*v))
}

func (v *noneIfZero) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return err
	}
	if n < 0 {
		return fmt.Errorf("%d can't be a negative number", n)
	}
	if n == 0 {
		n = -1
	}
	*v = noneIfZero(n)
	return nil
}

func (v *noneIfZero) Type() string { return "int" }
