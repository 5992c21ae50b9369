package authn_test

import (
	"os"
	"testing"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
)

func TestMain(m *testing.M) {
	// Kubernetes' authenticators, run side by side with ours, log every
	// refused request and failed review through klog.
	klog.SetLogger(logr.Discard())
	os.Exit(m.Run())
}
