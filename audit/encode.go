package audit

import (
	"encoding/json"
	"slices"
	"unicode/utf8"

	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
)

// appendEvent appends ev as Kubernetes' log backend writes it in JSON (its
// audit.k8s.io/v1 codec: encoding/json's output, kind and apiVersion set),
// with the newline. It writes encoding/json's bytes exactly (a tested
// property) without reflection: the fields in declaration order, omitempty
// honoured, map keys sorted, strings escaped as encoding/json escapes them
// (HTML-safe, invalid UTF-8 as U+FFFD).
//
// The annotations are ann, or ev.Annotations when ann is nil.
func appendEvent(b []byte, ev *auditv1.Event, ann annotations) []byte {
	b = append(b, `{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":`...)
	b = appendString(b, string(ev.Level))
	b = append(b, `,"auditID":`...)
	b = appendString(b, string(ev.AuditID))
	b = append(b, `,"stage":`...)
	b = appendString(b, string(ev.Stage))
	b = append(b, `,"requestURI":`...)
	b = appendString(b, ev.RequestURI)
	b = append(b, `,"verb":`...)
	b = appendString(b, ev.Verb)
	b = append(b, `,"user":`...)
	b = appendUser(b, &ev.User)
	if ev.ImpersonatedUser != nil {
		b = append(b, `,"impersonatedUser":`...)
		b = appendUser(b, ev.ImpersonatedUser)
	}
	if m := ev.AuthenticationMetadata; m != nil {
		b = append(b, `,"authenticationMetadata":{`...)
		if m.ImpersonationConstraint != "" {
			b = append(b, `"impersonationConstraint":`...)
			b = appendString(b, m.ImpersonationConstraint)
		}
		b = append(b, '}')
	}
	if len(ev.SourceIPs) > 0 {
		b = append(b, `,"sourceIPs":`...)
		b = appendStrings(b, ev.SourceIPs)
	}
	if ev.UserAgent != "" {
		b = append(b, `,"userAgent":`...)
		b = appendString(b, ev.UserAgent)
	}
	if ev.ObjectRef != nil {
		b = append(b, `,"objectRef":`...)
		b = appendObjectRef(b, ev.ObjectRef)
	}
	if ev.ResponseStatus != nil {
		b = append(b, `,"responseStatus":`...)
		b = appendStatus(b, ev.ResponseStatus)
	}
	if ev.RequestObject != nil {
		b = append(b, `,"requestObject":`...)
		b = appendRaw(b, ev.RequestObject)
	}
	if ev.ResponseObject != nil {
		b = append(b, `,"responseObject":`...)
		b = appendRaw(b, ev.ResponseObject)
	}
	b = append(b, `,"requestReceivedTimestamp":`...)
	b = appendMicroTime(b, ev.RequestReceivedTimestamp)
	b = append(b, `,"stageTimestamp":`...)
	b = appendMicroTime(b, ev.StageTimestamp)
	if ann == nil {
		ann = annotationsOf(ev.Annotations)
	}
	if len(ann) > 0 {
		b = append(b, `,"annotations":{`...)
		for i, a := range ann {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, a.key)
			b = append(b, ':')
			b = appendString(b, a.value)
		}
		b = append(b, '}')
	}
	return append(b, "}\n"...)
}

// field appends ,"name":value (or "name":value first in its object) when
// value is not empty.
func field(b []byte, first *bool, name, value string) []byte {
	if value == "" {
		return b
	}
	if !*first {
		b = append(b, ',')
	}
	*first = false
	b = append(b, '"')
	b = append(b, name...)
	b = append(b, `":`...)
	return appendString(b, value)
}

func appendUser(b []byte, u *authnv1.UserInfo) []byte {
	b = append(b, '{')
	first := true
	b = field(b, &first, "username", u.Username)
	b = field(b, &first, "uid", u.UID)
	if len(u.Groups) > 0 {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, `"groups":`...)
		b = appendStrings(b, u.Groups)
	}
	if len(u.Extra) > 0 {
		if !first {
			b = append(b, ',')
		}
		b = append(b, `"extra":{`...)
		for i, k := range sortedKeys(u.Extra) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			b = appendStrings(b, u.Extra[k])
		}
		b = append(b, '}')
	}
	return append(b, '}')
}

func appendObjectRef(b []byte, r *auditv1.ObjectReference) []byte {
	b = append(b, '{')
	first := true
	b = field(b, &first, "resource", r.Resource)
	b = field(b, &first, "namespace", r.Namespace)
	b = field(b, &first, "name", r.Name)
	b = field(b, &first, "uid", string(r.UID))
	b = field(b, &first, "apiGroup", r.APIGroup)
	b = field(b, &first, "apiVersion", r.APIVersion)
	b = field(b, &first, "resourceVersion", r.ResourceVersion)
	b = field(b, &first, "subresource", r.Subresource)
	return append(b, '}')
}

// appendStatus writes a Status as encoding/json does; one with details, type
// or list metadata (which the audit code never sets but a caller may) goes
// through encoding/json itself.
func appendStatus(b []byte, s *metav1.Status) []byte {
	if s.Details != nil || s.TypeMeta != (metav1.TypeMeta{}) || s.ListMeta != (metav1.ListMeta{}) {
		return appendMarshal(b, s)
	}
	b = append(b, `{"metadata":{}`...)
	first := false
	b = field(b, &first, "status", s.Status)
	b = field(b, &first, "message", s.Message)
	b = field(b, &first, "reason", string(s.Reason))
	if s.Code != 0 {
		b = append(b, `,"code":`...)
		b = appendInt(b, int64(s.Code))
	}
	return append(b, '}')
}

// appendRaw writes an embedded object as encoding/json writes a
// runtime.Unknown: its raw JSON, compacted and HTML-escaped.
func appendRaw(b []byte, u *runtime.Unknown) []byte {
	return appendMarshal(b, u)
}

func appendMarshal(b []byte, v any) []byte {
	j, err := json.Marshal(v)
	if err != nil {
		return append(b, "null"...) // the caller checked the object is JSON
	}
	return append(b, j...)
}

// appendMicroTime writes t as metav1.MicroTime marshals it: null when zero,
// else quoted in UTC with microseconds (RFC3339Micro).
func appendMicroTime(b []byte, t metav1.MicroTime) []byte {
	if t.IsZero() {
		return append(b, "null"...)
	}
	u := t.UTC()
	year, month, day := u.Date()
	if year < 0 || year > 9999 {
		b = append(b, '"')
		b = u.AppendFormat(b, metav1.RFC3339Micro)
		return append(b, '"')
	}
	hour, minute, sec := u.Clock()
	b = append(b, '"')
	b = appendDigits(b, year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, 'T')
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, minute, 2)
	b = append(b, ':')
	b = appendDigits(b, sec, 2)
	b = append(b, '.')
	b = appendDigits(b, u.Nanosecond()/1000, 6)
	return append(b, 'Z', '"')
}

// appendDigits writes n (>= 0) in width digits, zero-padded.
func appendDigits(b []byte, n, width int) []byte {
	var d [8]byte
	for i := width - 1; i >= 0; i-- {
		d[i] = byte('0' + n%10)
		n /= 10
	}
	return append(b, d[:width]...)
}

func appendInt(b []byte, n int64) []byte {
	if n < 0 {
		b = append(b, '-')
		n = -n
	}
	var d [20]byte
	i := len(d)
	for {
		i--
		d[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return append(b, d[i:]...)
}

func appendStrings(b []byte, list []string) []byte {
	if list == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range list {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, s)
	}
	return append(b, ']')
}

// sortedKeys returns m's keys in order (encoding/json sorts by the bytes of
// the UTF-8 key, as string comparison does).
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

const hexDigits = "0123456789abcdef"

// htmlSafe holds the bytes encoding/json writes as they are when it escapes
// HTML: printable ASCII but for ", \, <, > and &.
var htmlSafe = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendString is encoding/json's appendString with HTML escaping.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if htmlSafe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
