package authn

import (
	"fmt"
	"github.com/aggauth/aggauth/internal/idheaders"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
)

// Kubernetes' standard front-proxy header names: the aggregator always sends these,
// and kube-apiserver's defaults for extension servers read them (reference §1.2).
const (
	DefaultUsernameHeader    = idheaders.UserHeader
	DefaultUIDHeader         = idheaders.UIDHeader
	DefaultGroupHeader       = idheaders.GroupHeader
	DefaultExtraHeaderPrefix = idheaders.ExtraHeaderPrefix
)

// RequestHeaderConfig is the front-proxy configuration: which certificate may speak
// for users, and in which headers. The fields mirror the keys of the ConfigMap
// kube-system/extension-apiserver-authentication. A value handed to a provider must
// not be modified afterwards.
type RequestHeaderConfig struct {
	// CA verifies the front proxy's client certificate (requestheader-client-ca-file).
	// Required: a config without CA authenticates nobody.
	CA *CABundle

	// AllowedNames are the Subject CommonNames the proxy certificate may carry
	// (requestheader-allowed-names), matched exactly and case-sensitively. Empty
	// means any certificate that chains to CA, as in Kubernetes.
	AllowedNames []string

	// UsernameHeaders are checked in order; the first non-empty value wins.
	// Default (NewRequestHeaderConfig): ["X-Remote-User"].
	UsernameHeaders []string

	// UIDHeaders are checked in order; the first non-empty value wins. Default: none,
	// as in Kubernetes, so that a UID is not trusted before every kube-apiserver in
	// front of this server strips it.
	UIDHeaders []string

	// GroupHeaders: every non-empty value of every header is a group, in order, with
	// no splitting on commas. Default: ["X-Remote-Group"].
	GroupHeaders []string

	// ExtraHeaderPrefixes: a header whose name starts with a prefix (ignoring case)
	// adds its values to the extra key made of the rest of the name, lower-cased and
	// then path-unescaped. Default: ["X-Remote-Extra-"].
	ExtraHeaderPrefixes []string
}

// NewRequestHeaderConfig returns a config for ca with Kubernetes' default header
// names and the given allowed names.
func NewRequestHeaderConfig(ca *CABundle, allowedNames ...string) *RequestHeaderConfig {
	return &RequestHeaderConfig{
		CA:                  ca,
		AllowedNames:        allowedNames,
		UsernameHeaders:     []string{DefaultUsernameHeader},
		GroupHeaders:        []string{DefaultGroupHeader},
		ExtraHeaderPrefixes: []string{DefaultExtraHeaderPrefix},
	}
}

// Validate reports a config that Kubernetes would refuse: no CA, or a header name
// that is empty once spaces are trimmed.
func (c *RequestHeaderConfig) Validate() error {
	if c.CA == nil {
		return fmt.Errorf("authn: request-header config has no CA")
	}
	for _, list := range []struct {
		name  string
		names []string
	}{{"username", c.UsernameHeaders}, {"uid", c.UIDHeaders}, {"group", c.GroupHeaders}, {"extra prefix", c.ExtraHeaderPrefixes}} {
		for _, n := range list.names {
			if strings.TrimSpace(n) == "" {
				return fmt.Errorf("authn: empty %s header %q", list.name, n)
			}
		}
	}
	return nil
}

// RequestHeaderProvider returns the front-proxy configuration in force, or nil
// before the first load (then nobody is authenticated from headers).
// Implementations must be safe for concurrent use and return the same pointer
// until the configuration changes.
type RequestHeaderProvider interface {
	RequestHeaderConfig() *RequestHeaderConfig
}

// DynamicRequestHeader is a RequestHeaderProvider that can be swapped at runtime.
// The zero value holds no configuration. It is safe for concurrent use.
type DynamicRequestHeader struct {
	current atomic.Pointer[RequestHeaderConfig]
}

// NewDynamicRequestHeader returns a holder with c in force (c may be nil). It
// panics if c is invalid: that is a programmer error.
func NewDynamicRequestHeader(c *RequestHeaderConfig) *DynamicRequestHeader {
	d := &DynamicRequestHeader{}
	if err := d.Set(c); err != nil {
		panic(err.Error())
	}
	return d
}

// RequestHeaderConfig returns the configuration in force, or nil.
func (d *DynamicRequestHeader) RequestHeaderConfig() *RequestHeaderConfig {
	return d.current.Load()
}

// Set validates c and puts it in force; the very next request uses it. An invalid
// c is refused and the current configuration stays. A nil c clears it.
func (d *DynamicRequestHeader) Set(c *RequestHeaderConfig) error {
	if c != nil {
		if err := c.Validate(); err != nil {
			return err
		}
	}
	d.current.Store(c)
	return nil
}

// compiledHeaders is a RequestHeaderConfig prepared for the hot path: header names
// trimmed and canonicalized once, as Kubernetes' header.Get would do per request.
type compiledHeaders struct {
	src          *RequestHeaderConfig
	allowedNames []string
	userKeys     []string
	uidKeys      []string
	groupKeys    []string
	prefixes     []string
	// clearPrefixes are prefixes plus the standard X-Remote-Extra- when missing.
	clearPrefixes []string
	// clearKeys are the names clearHeaders deletes, besides those under
	// clearPrefixes: Authorization, the standard names, and the configured
	// user, uid and group names that are not standard ones.
	clearKeys []string
	// interned holds decoded extra keys (copy on write, see extraKey).
	interned atomic.Pointer[[]internedKey]
}

func compileHeaders(c *RequestHeaderConfig) *compiledHeaders {
	prefixes := trimmed(c.ExtraHeaderPrefixes)
	clearPrefixes := prefixes
	if !slices.ContainsFunc(prefixes, func(p string) bool { return strings.EqualFold(p, DefaultExtraHeaderPrefix) }) {
		clearPrefixes = append(slices.Clip(prefixes), DefaultExtraHeaderPrefix)
	}
	ch := &compiledHeaders{
		src:           c,
		allowedNames:  c.AllowedNames,
		userKeys:      canonicalKeys(c.UsernameHeaders),
		uidKeys:       canonicalKeys(c.UIDHeaders),
		groupKeys:     canonicalKeys(c.GroupHeaders),
		prefixes:      prefixes,
		clearPrefixes: clearPrefixes,
	}
	ch.clearKeys = slices.Concat(standardClearKeys, otherKeys(ch.userKeys, ch.uidKeys, ch.groupKeys))
	return ch
}

func canonicalKeys(names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, http.CanonicalHeaderKey(n))
		}
	}
	return out
}

func trimmed(names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, n)
		}
	}
	return out
}
