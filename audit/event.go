package audit

import (
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/endpoints/request"
	netutils "k8s.io/utils/net"
)

// Bounds of the fields of an event. The User-Agent bound is Kubernetes'; the
// others are ours, and apply only to the events of unauthenticated requests:
// refused by authentication (Auditor.FailedAuthentication), or let through
// as system:anonymous (a user in group system:unauthenticated). A field
// longer than its bound is cut and ends with "...TRUNCATED". With them, such
// an event is at most MaxUnauthenticatedEventBytes, whatever the request.
const (
	// MaxUserAgentLength bounds userAgent, in every event (Kubernetes'
	// maxUserAgentLength).
	MaxUserAgentLength = 1024
	// MaxUnauthenticatedURILength bounds requestURI.
	MaxUnauthenticatedURILength = 2048
	// MaxUnauthenticatedFieldLength bounds each field of objectRef, and the
	// status, reason and details (name, group, kind, uid) of the
	// responseStatus: the longest Kubernetes name is 253 bytes.
	MaxUnauthenticatedFieldLength = 256
	// MaxUnauthenticatedMessageLength bounds the message of the
	// responseStatus (a refusal's Status names the path); its causes are
	// left out.
	MaxUnauthenticatedMessageLength = 1024
	// MaxUnauthenticatedSourceIPs bounds sourceIPs: the last ones are kept
	// (the remote address and the proxies nearest to the server), since all
	// but the last can be set by the client.
	MaxUnauthenticatedSourceIPs = 16
	// MaxUnauthenticatedEventBytes bounds an event of an unauthenticated
	// request, every character escaped by JSON included, with an audit ID
	// of at most 64 bytes (serving's). Its bodies are not recorded
	// (Options.RecordBodies).
	MaxUnauthenticatedEventBytes = 64 << 10

	truncatedSuffix = "...TRUNCATED"
)

// cut returns s, or its first n bytes followed by "...TRUNCATED" (a copy,
// which keeps nothing of a long s alive).
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + truncatedSuffix
}

// unauthenticated reports whether u is no user or an anonymous one.
func unauthenticated(u user.Info) bool {
	return u == nil || slices.Contains(u.GetGroups(), user.AllUnauthenticated)
}

// fillMetadata writes what Kubernetes' LogRequestMetadata records of a
// request into rec's event.
func fillMetadata(rec *Record, r *http.Request, info *request.RequestInfo, u user.Info, received time.Time) {
	ev, ref := &rec.ev, &rec.ref
	bounded := rec.bounded
	ev.RequestReceivedTimestamp = metav1.NewMicroTime(received)
	ev.Verb = info.Verb
	ev.RequestURI = requestURI(r)
	ev.UserAgent = cut(r.UserAgent(), MaxUserAgentLength)
	if bounded {
		ev.RequestURI = cut(ev.RequestURI, MaxUnauthenticatedURILength)
		ev.SourceIPs = sourceIPs(r, MaxUnauthenticatedSourceIPs, rec.ipsBuf[:0])
	} else {
		ev.SourceIPs = sourceIPs(r, 0, rec.ipsBuf[:0])
	}
	if u != nil {
		ev.User = userInfo(u)
	}
	if info.IsResourceRequest {
		*ref = auditv1.ObjectReference{Namespace: info.Namespace, Name: info.Name, Resource: info.Resource,
			Subresource: info.Subresource, APIGroup: info.APIGroup, APIVersion: info.APIVersion}
		if bounded {
			for _, f := range []*string{&ref.Namespace, &ref.Name, &ref.Resource, &ref.Subresource, &ref.APIGroup, &ref.APIVersion} {
				*f = cut(*f, MaxUnauthenticatedFieldLength)
			}
		}
		ev.ObjectRef = ref
	}
}

// userInfo converts u as Kubernetes' audit does. The groups are u's own
// slice, never written.
func userInfo(u user.Info) authnv1.UserInfo {
	info := authnv1.UserInfo{Username: u.GetName(), UID: u.GetUID(), Groups: u.GetGroups()}
	if extra := u.GetExtra(); len(extra) > 0 {
		info.Extra = make(map[string]authnv1.ExtraValue, len(extra))
		for k, v := range extra {
			info.Extra[k] = v
		}
	}
	return info
}

// sourceIPs is Kubernetes' utilnet.SourceIPs, as strings, appended to ips:
// the valid addresses of X-Forwarded-For, then X-Real-Ip unless already
// listed, then the remote address unless it is the last listed. With limit >
// 0, only the last limit addresses are kept. Nil when there are none.
func sourceIPs(r *http.Request, limit int, ips []string) []string {
	if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
		for xff != "" {
			part, rest, _ := strings.Cut(xff, ",")
			if ip, ok := canonicalIP(strings.TrimSpace(part)); ok {
				ips = append(ips, ip)
			}
			xff = rest
		}
	}
	if real := r.Header.Get("X-Real-Ip"); real != "" {
		if ip, ok := canonicalIP(real); ok && !slices.Contains(ips, ip) {
			ips = append(ips, ip)
		}
	}
	remote, ok := "", false
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		remote, ok = canonicalIP(host)
	}
	if !ok {
		remote, ok = canonicalIP(r.RemoteAddr)
	}
	if ok && (len(ips) == 0 || ips[len(ips)-1] != remote) {
		ips = append(ips, remote)
	}
	if limit > 0 && len(ips) > limit {
		ips = slices.Clone(ips[len(ips)-limit:])
	}
	if len(ips) == 0 {
		return nil
	}
	return ips
}

// requestURI is r.URL.RequestURI(), which Kubernetes records, without
// building it again when it is the request target as received (a path that
// needs no escaping, and its query).
func requestURI(r *http.Request) string {
	u, raw := r.URL, r.RequestURI
	if raw == "" || u.Opaque != "" || u.Scheme != "" || u.RawPath != "" || u.Path == "" || !plainPath(u.Path) ||
		!strings.HasPrefix(raw, u.Path) {
		return u.RequestURI()
	}
	rest := raw[len(u.Path):]
	if u.ForceQuery || u.RawQuery != "" {
		if len(rest) == 1+len(u.RawQuery) && rest[0] == '?' && rest[1:] == u.RawQuery {
			return raw
		}
	} else if rest == "" {
		return raw
	}
	return u.RequestURI()
}

// plainPath reports whether net/url writes path unescaped: made of the
// characters a path segment may hold as they are, and not "*".
func plainPath(path string) bool {
	if path == "*" {
		return false
	}
	for i := 0; i < len(path); i++ {
		if c := path[i]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("-_.~$&+,/:;=@", c) >= 0) {
			return false
		}
	}
	return true
}

// canonicalIP returns s parsed as Kubernetes parses addresses
// (netutils.ParseIPSloppy: IPv4 with leading zeros is decimal) and written as
// net.IP writes them; two addresses are equal (net.IP.Equal) when their
// strings are. A canonical IPv4 address, the common case, is returned as is.
func canonicalIP(s string) (string, bool) {
	if a, err := netip.ParseAddr(s); err == nil && a.Is4() {
		return s, true
	}
	ip := netutils.ParseIPSloppy(s)
	if ip == nil {
		return "", false
	}
	return ip.String(), true
}

// boundedStatus returns a copy of s within the bounds of an unauthenticated
// request's event.
func boundedStatus(s *metav1.Status) *metav1.Status {
	c := &metav1.Status{TypeMeta: s.TypeMeta, Status: cut(s.Status, MaxUnauthenticatedFieldLength),
		Message: cut(s.Message, MaxUnauthenticatedMessageLength),
		Reason:  metav1.StatusReason(cut(string(s.Reason), MaxUnauthenticatedFieldLength)), Code: s.Code}
	if d := s.Details; d != nil {
		c.Details = &metav1.StatusDetails{Name: cut(d.Name, MaxUnauthenticatedFieldLength),
			Group: cut(d.Group, MaxUnauthenticatedFieldLength), Kind: cut(d.Kind, MaxUnauthenticatedFieldLength),
			UID: types.UID(cut(string(d.UID), MaxUnauthenticatedFieldLength)), RetryAfterSeconds: d.RetryAfterSeconds}
	}
	return c
}
