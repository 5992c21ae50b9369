// Package idheaders holds the names of the headers that carry an identity into
// an extension apiserver: kube-apiserver's front-proxy headers and
// Authorization. They are removed from every request before its handler runs,
// whoever sent them; the authenticators (package authn) and the middleware's
// Authentication step both clear them from this one list.
package idheaders

import (
	"net/http"

	"github.com/aggauth/aggauth/internal/fold"
)

// The front-proxy headers kube-apiserver's aggregator sends by default.
const (
	UserHeader        = "X-Remote-User"
	UIDHeader         = "X-Remote-Uid"
	GroupHeader       = "X-Remote-Group"
	ExtraHeaderPrefix = "X-Remote-Extra-"
)

// StandardKeys are the front-proxy headers removed from every request,
// whatever the configuration.
var StandardKeys = []string{UserHeader, UIDHeader, GroupHeader}

// ClearStandard deletes Authorization, the standard front-proxy headers and
// every header under the standard extra prefix from h.
func ClearStandard(h http.Header) {
	delete(h, "Authorization")
	for _, k := range StandardKeys {
		delete(h, k)
	}
	DeletePrefixed(h, []string{ExtraHeaderPrefix})
}

// DeletePrefixed deletes from h every header whose name starts with one of
// prefixes, ignoring case.
func DeletePrefixed(h http.Header, prefixes []string) {
	for k := range h {
		for _, p := range prefixes {
			if fold.HasPrefix(k, p) {
				delete(h, k)
				break
			}
		}
	}
}
