// Package e2e holds the end-to-end tests of aggauth: they run against a real
// kube-apiserver aggregation layer and etcd started on loopback by package
// cluster, with the binaries built from the tools module (see the Makefile).
//
// The example server (example/nethttp) is built from the current source on
// every run and runs as an extension apiserver configured only from the
// cluster, registered with an APIService. One test per scenario of the
// aggregation flow (TestScenario1APIServiceAvailable to
// TestScenario15TimeoutAndRollingRestart) checks it from outside, as users and
// kube-apiserver see it; kube-apiserver's audit log says whom every
// SubjectAccessReview the extension sent was about, and the audit ID of every
// widgets request. TestScenario16NamespaceDeletion to
// TestScenario22UndeclaredVerb check what the cluster's own controllers (a
// real kube-controller-manager: namespace, garbage collector, quota) and
// kubectl (get -w, printer columns, replace, 405) do with the example's
// widgets, each against a CustomResourceDefinition as the control, with the
// same outcome. TestSmoke checks the control plane itself with a minimal
// extension.
//
// Run them with `make -C e2e e2e` (or `make e2e` at the root).
package e2e
