package audit_test

import (
	"os"
	"testing"

	"github.com/go-logr/logr"
	"go.uber.org/goleak"
	"k8s.io/klog/v2"
)

// TestMain discards klog (Kubernetes' filters, run beside ours, log their
// refusals) and checks that no goroutine outlives the tests: an Auditor's
// writer stops with Close. lumberjack's cleanup goroutine outlives its
// Logger's Close (natefinch/lumberjack#56), one per rotated log file.
func TestMain(m *testing.M) {
	klog.SetLogger(logr.Discard())
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("gopkg.in/natefinch/lumberjack%2ev2.(*Logger).millRun"))
	os.Exit(0)
}
