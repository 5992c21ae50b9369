// Package health holds the one list of health endpoints: the paths the chain
// answers without authentication (the kubelet probes them without a
// certificate) and that Kubernetes' delegated authorization allows without a
// review by default.
package health

import "slices"

// Paths are /healthz, /readyz and /livez, in the order of Kubernetes' default
// --authorization-always-allow-paths.
var Paths = []string{"/healthz", "/readyz", "/livez"}

// Is reports whether path is one of Paths.
func Is(path string) bool { return slices.Contains(Paths, path) }
