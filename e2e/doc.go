// Package e2e holds the end-to-end tests of aggauth: they run against a real
// kube-apiserver aggregation layer and etcd started on loopback by package
// cluster, with the binaries built from the tools module (see the Makefile).
//
// Run them with `make -C e2e e2e` (or `make e2e` at the root).
package e2e
