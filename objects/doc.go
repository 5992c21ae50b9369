// Package objects writes a handler's objects and lists as kube-apiserver
// writes them, so that kubectl, client-go's informers and the cluster's
// controllers read an extension apiserver's resources as they read a
// CustomResourceDefinition's.
package objects
