package audit_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	genericoptions "k8s.io/apiserver/pkg/server/options"

	"github.com/aggauth/aggauth/audit"
)

// TestDefaultsAreKubernetes: NewOptions holds the defaults of Kubernetes'
// log backend.
func TestDefaultsAreKubernetes(t *testing.T) {
	k := genericoptions.NewAuditOptions().LogOptions
	o := audit.NewOptions()
	assert.Equal(t, k.MaxAge, o.MaxAge)
	assert.Equal(t, k.MaxBackups, o.MaxBackups)
	assert.Equal(t, k.MaxSize, o.MaxSize)
	assert.Equal(t, k.Compress, o.Compress)
	assert.Equal(t, k.Format, o.Format)
	assert.Equal(t, k.GroupVersionString, o.Version)
	assert.Equal(t, k.BatchOptions.Mode, o.Mode)
	b := k.BatchOptions.BatchConfig
	assert.Equal(t, b.BufferSize, o.Batch.BufferSize)
	assert.Equal(t, b.MaxBatchSize, o.Batch.MaxSize)
	assert.Equal(t, b.MaxBatchWait, o.Batch.MaxWait)
	assert.Equal(t, b.ThrottleEnable, o.Batch.ThrottleEnable)
	assert.Equal(t, b.ThrottleQPS, o.Batch.ThrottleQPS)
	assert.Equal(t, b.ThrottleBurst, o.Batch.ThrottleBurst)
	assert.Equal(t, k.TruncateOptions.Enabled, o.Truncate.Enabled)
	assert.Equal(t, k.TruncateOptions.TruncateConfig.MaxEventSize, o.Truncate.MaxEventSize)
	assert.Equal(t, k.TruncateOptions.TruncateConfig.MaxBatchSize, o.Truncate.MaxBatchSize)
}

// TestFlagsAreKubernetes: every flag AddFlags binds is kube-apiserver's,
// with its type, default and help, but --audit-log-batch-buffer-bytes (ours).
func TestFlagsAreKubernetes(t *testing.T) {
	theirs := pflag.NewFlagSet("k8s", pflag.ContinueOnError)
	genericoptions.NewAuditOptions().AddFlags(theirs)
	ours := pflag.NewFlagSet("ours", pflag.ContinueOnError)
	audit.NewOptions().AddFlags(ours)
	n := 0
	ours.VisitAll(func(f *pflag.Flag) {
		if f.Name == "audit-log-batch-buffer-bytes" {
			return
		}
		n++
		k := theirs.Lookup(f.Name)
		if !assert.NotNil(t, k, "--%s is Kubernetes'", f.Name) {
			return
		}
		assert.Equal(t, k.DefValue, f.DefValue, "--%s default", f.Name)
		assert.Equal(t, k.Value.Type(), f.Value.Type(), "--%s type", f.Name)
		assert.Equal(t, k.Usage, f.Usage, "--%s help", f.Name)
	})
	assert.Equal(t, 18, n)
	theirs.VisitAll(func(f *pflag.Flag) {
		if ours.Lookup(f.Name) == nil {
			assert.Contains(t, f.Name, "audit-webhook-", "only the webhook flags are left out")
		}
	})
}

// TestFlagZeroIsNone: a flag's 0 keeps Kubernetes' meaning (no limit), which
// the field holds as -1; a negative flag is refused, as Kubernetes refuses it.
func TestFlagZeroIsNone(t *testing.T) {
	o := audit.NewOptions()
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	fs.SetOutput(&bytes.Buffer{})
	o.AddFlags(fs)
	require.NoError(t, fs.Parse([]string{"--audit-log-maxage=0", "--audit-log-maxbackup=7", "--audit-log-maxsize=0",
		"--audit-log-mode=batch", "--audit-log-batch-buffer-size=5", "--audit-log-batch-max-wait=2s",
		"--audit-log-batch-throttle-qps=1.5", "--audit-log-truncate-enabled"}))
	assert.Equal(t, -1, o.MaxAge)
	assert.Equal(t, 7, o.MaxBackups)
	assert.Equal(t, -1, o.MaxSize)
	assert.Equal(t, "0", fs.Lookup("audit-log-maxage").Value.String())
	assert.Equal(t, audit.ModeBatch, o.Mode)
	assert.Equal(t, audit.BatchOptions{BufferSize: 5, BufferBytes: audit.DefaultBatchBufferBytes, MaxSize: 1,
		MaxWait: 2 * time.Second, ThrottleQPS: 1.5}, o.Batch)
	assert.True(t, o.Truncate.Enabled)
	assert.Error(t, fs.Parse([]string{"--audit-log-maxsize=-1"}))
	(*audit.Options)(nil).AddFlags(fs) // no-op
}

func TestValidate(t *testing.T) {
	log := audit.Options{Writer: &bytes.Buffer{}, Policy: &auditv1.Policy{}}
	with := func(f func(*audit.Options)) audit.Options {
		o := log
		f(&o)
		return o
	}
	tests := []struct {
		name string
		opts audit.Options
		want string // "" = valid
	}{
		{name: "zero", opts: audit.Options{}},
		{name: "defaults", opts: *audit.NewOptions()},
		{name: "log in memory", opts: log},
		{name: "policy twice", opts: with(func(o *audit.Options) { o.PolicyFile = "p.yaml" }), want: "set PolicyFile or Policy"},
		{name: "log twice", opts: with(func(o *audit.Options) { o.Path = "-" }), want: "set Path or Writer"},
		{name: "mode", opts: with(func(o *audit.Options) { o.Mode = "async" }), want: "invalid audit log mode async"},
		{name: "buffer", opts: with(func(o *audit.Options) { o.Mode, o.Batch.BufferSize = audit.ModeBatch, -1 }), want: "buffer size -1"},
		{name: "buffer bytes", opts: with(func(o *audit.Options) { o.Mode, o.Batch.BufferBytes = audit.ModeBatch, -1 }), want: "buffer bytes -1"},
		{name: "batch", opts: with(func(o *audit.Options) { o.Mode, o.Batch.MaxSize = audit.ModeBatch, -3 }), want: "max batch size -3"},
		{name: "batch unused", opts: with(func(o *audit.Options) { o.Batch.MaxSize = -3 })},
		{name: "throttle", opts: with(func(o *audit.Options) { o.Mode, o.Batch.ThrottleEnable = audit.ModeBatch, true }), want: "throttle QPS 0"},
		{name: "throttle burst", opts: with(func(o *audit.Options) {
			o.Mode, o.Batch.ThrottleEnable, o.Batch.ThrottleQPS = audit.ModeBatch, true, 1
		}), want: "throttle burst 0"},
		{name: "truncate", opts: with(func(o *audit.Options) { o.Truncate.MaxEventSize = 20 << 20 }), want: "must be greater than max event size"},
		{name: "truncate event", opts: with(func(o *audit.Options) { o.Truncate.MaxEventSize = -1 }), want: "max event size -1"},
		{name: "version", opts: with(func(o *audit.Options) { o.Version = "audit.k8s.io/v1beta1" }), want: "invalid group version"},
		{name: "format", opts: with(func(o *audit.Options) { o.Format = "xml" }), want: "invalid audit log format xml"},
		{name: "body bound", opts: with(func(o *audit.Options) { o.MaxBodyBytes = -1 }), want: "MaxBodyBytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.opts.Validate()
			if tt.want == "" {
				assert.NoError(t, err)
				return
			}
			assert.ErrorContains(t, err, tt.want)
			_, err = audit.New(tt.opts)
			assert.ErrorContains(t, err, tt.want, "New validates")
		})
	}
}

// TestOff: without a policy or a log, New returns nil, and a nil Auditor
// does nothing.
func TestOff(t *testing.T) {
	policyPath := filepath.Join(t.TempDir(), "policy.yaml")
	require.NoError(t, os.WriteFile(policyPath, []byte(metadataPolicy), 0o600))
	for _, o := range []audit.Options{{}, {PolicyFile: policyPath}, {Path: "-"}, {Writer: &bytes.Buffer{}}} {
		a, err := audit.New(o)
		require.NoError(t, err)
		assert.Nil(t, a)
	}
	var a *audit.Auditor
	require.NoError(t, serve(a, alice, widgets))
	assert.Nil(t, a.FailedAuthentication(nil, nil, "", received))
	assert.Nil(t, a.Collectors())
	assert.NoError(t, a.Close())
}

func TestNewErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("apiVersion: audit.k8s.io/v1\nkind: Policy\n"), 0o600))
	good := filepath.Join(dir, "good.yaml")
	require.NoError(t, os.WriteFile(good, []byte(metadataPolicy), 0o600))
	_, err := audit.New(audit.Options{PolicyFile: bad, Writer: &bytes.Buffer{}})
	assert.ErrorContains(t, err, "loading audit policy file: loaded illegal policy with 0 rules: from file "+bad)
	_, err = audit.New(audit.Options{PolicyFile: filepath.Join(dir, "missing.yaml"), Writer: &bytes.Buffer{}})
	assert.ErrorContains(t, err, "failed to read file path")
	_, err = audit.New(audit.Options{PolicyFile: good, Path: filepath.Join(bad, "audit.log")})
	assert.ErrorContains(t, err, "ensureLogFile")
}
