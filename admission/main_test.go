package admission

import (
	"os"
	"testing"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"
)

func TestMain(m *testing.M) {
	// client-go's reflectors log every watch they lose, which a test does on
	// purpose each time it stops an informer.
	klog.SetLogger(logr.Discard())
	os.Exit(m.Run())
}
