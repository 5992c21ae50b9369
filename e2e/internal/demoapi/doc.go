// Package demoapi runs the example servers of the aggauth repository (the
// demo.aggauth.io/v1 widgets API, in ../example) against a local control plane
// from package cluster, as a user would run them: built from the current
// source, configured only from the cluster (a kubeconfig of the extension's own
// service-account identity; the front-proxy and client CAs from the
// extension-apiserver-authentication ConfigMap) and registered with an
// APIService. The end-to-end tests and the demo share it.
package demoapi
