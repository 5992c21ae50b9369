// Package audit writes audit.k8s.io/v1 events as kube-apiserver writes them.
package audit
