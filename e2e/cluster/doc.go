// Package cluster runs a real Kubernetes control plane on loopback for
// end-to-end tests and the demo: etcd and kube-apiserver (with its aggregation
// layer) as child processes, with every certificate generated at start-up.
//
// Start (or StartT in a test) picks free ports, writes the cluster CA, the
// front-proxy CA and client certificate, kube-apiserver's serving
// certificate and the service-account keys into a temporary directory, starts
// etcd and kube-apiserver, and waits for /readyz. The Cluster then hands out
// clients and kubeconfigs for the administrator and for any user
// (Cluster.User) with RBAC (Cluster.Grant), restarts kube-apiserver (optionally with a new front-proxy CA,
// RestartAPIServer) or stops it for an outage (StopAPIServer, StartAPIServer),
// runs kube-controller-manager with the controllers that act on every API
// (StartControllerManager), and runs kubectl.
//
// An extension apiserver listening on loopback is registered in two steps:
// PrepareExtension creates its namespace, a service-account identity with the
// RBAC a delegating extension apiserver needs and a token kubeconfig, and a
// serving certificate for <name>.<namespace>.svc from a CA of its own; once the
// server listens (in the test, with Extension.Listen and ServerTLSConfig, or
// as a child process with Extension.Start), Extension.Register creates an
// ExternalName Service to localhost and the APIService, and waits until the
// aggregator reports it Available. Extension.ProxyClient sends requests
// straight to the extension with the front-proxy client certificate, as the
// aggregator does.
//
// Every child process runs in its own process group and is killed by the
// kernel if this program dies (Pdeathsig). Cluster.Stop stops them and removes
// the directory; Main, for TestMain, also does so on SIGINT and SIGTERM, and a
// later start removes the directories of programs that were killed outright.
//
// The binaries come from BinDir: $AGGAUTH_E2E_BIN, else e2e/.cache/bin, built
// by `make -C e2e tools` from the e2e/tools module (kube-controller-manager
// only for StartControllerManager: the demo does not build it).
package cluster
