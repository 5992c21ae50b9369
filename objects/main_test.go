package objects_test

import (
	"os"
	"testing"

	"github.com/go-logr/logr"
	"go.uber.org/goleak"
	"k8s.io/klog/v2"
)

func TestMain(m *testing.M) {
	// Kubernetes' handlers, run side by side with ours, log every error
	// that is not a Status through klog.
	klog.SetLogger(logr.Discard())
	goleak.VerifyTestMain(m)
	os.Exit(0)
}
