package audit

import (
	"slices"
	"strings"
)

// annotations are an event's annotations sorted by key (the order
// encoding/json writes a map in), without a map for the few a request has.
type annotations []annotation

type annotation struct{ key, value string }

// add returns a with key set to value, unless key is set already: the first
// value stays, as Kubernetes' AddAuditAnnotation keeps it.
func (a annotations) add(key, value string) annotations {
	i, found := slices.BinarySearchFunc(a, key, func(x annotation, k string) int { return strings.Compare(x.key, k) })
	if found {
		return a
	}
	return slices.Insert(a, i, annotation{key, value})
}

// annotationsOf returns m sorted; nil when m is empty.
func annotationsOf(m map[string]string) annotations {
	if len(m) == 0 {
		return nil
	}
	a := make(annotations, 0, len(m))
	for k, v := range m {
		a = append(a, annotation{k, v})
	}
	slices.SortFunc(a, func(x, y annotation) int { return strings.Compare(x.key, y.key) })
	return a
}
