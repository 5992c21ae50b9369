// Package userinfo is the user.Info of a request forwarded by the front proxy:
// user.DefaultInfo's fields, with the extra kept as a short list sorted by key
// and turned into a map only when GetExtra is first called.
//
// Every request forwarded by kube-apiserver's aggregator carries an extra (at
// least authentication.kubernetes.io/credential-id), and a map for it was two
// of the chain's four allocations and a third of its bytes per request, while
// most handlers never read it: the authorization cache key reads the sorted
// list directly (Pairs), and a SubjectAccessReview, sent only on a cache miss,
// asks for the map.
package userinfo

import (
	"encoding/json"
	"slices"
	"strings"
	"sync/atomic"

	"k8s.io/apiserver/pkg/authentication/user"
)

// Pair is one extra key and its values.
type Pair struct {
	Key    string
	Values []string
}

// Info is a user.Info. Its fields are set by the authenticator that makes it,
// before it is handed on, and never changed after (user.Info is read-only for
// everyone downstream, as the README says).
type Info struct {
	Name   string
	UID    string
	Groups []string
	// Pairs is the extra, sorted by key, each key once; empty when there is
	// no extra.
	Pairs []Pair

	extra atomic.Pointer[map[string][]string] // made from Pairs by GetExtra
}

var _ user.Info = (*Info)(nil)

// GetName implements user.Info.
func (u *Info) GetName() string { return u.Name }

// GetUID implements user.Info.
func (u *Info) GetUID() string { return u.UID }

// GetGroups implements user.Info.
func (u *Info) GetGroups() []string { return u.Groups }

// GetExtra implements user.Info: the map of Pairs, made on the first call
// and the same map after (nil when there is no extra). Like
// user.DefaultInfo's, it is this user's own: no other request shares it.
func (u *Info) GetExtra() map[string][]string {
	if len(u.Pairs) == 0 {
		return nil
	}
	if m := u.extra.Load(); m != nil {
		return *m
	}
	m := make(map[string][]string, len(u.Pairs))
	for _, p := range u.Pairs {
		m[p.Key] = p.Values
	}
	if !u.extra.CompareAndSwap(nil, &m) {
		return *u.extra.Load() // another goroutine made it first: one map for all callers
	}
	return m
}

// AddExtra adds values under key, keeping Pairs sorted: a key seen before
// gets the values appended to its own (values that were clipped, as a
// header's, are then copied). It is for the authenticator making u, before u
// is handed on.
func (u *Info) AddExtra(key string, values []string) {
	i, found := slices.BinarySearchFunc(u.Pairs, key, func(p Pair, k string) int { return strings.Compare(p.Key, k) })
	if found {
		u.Pairs[i].Values = append(u.Pairs[i].Values, values...)
		return
	}
	u.Pairs = slices.Insert(u.Pairs, i, Pair{Key: key, Values: values})
}

// MarshalJSON encodes u as user.DefaultInfo encodes.
func (u *Info) MarshalJSON() ([]byte, error) {
	return json.Marshal(user.DefaultInfo{Name: u.Name, UID: u.UID, Groups: u.Groups, Extra: u.GetExtra()})
}
