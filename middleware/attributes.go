package middleware

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/aggauth/aggauth/internal/logs"
	"github.com/aggauth/aggauth/pipeline"
)

// RequestAttributesOptions configures NewRequestAttributes. There is nothing
// to configure yet: the rules are Kubernetes'.
type RequestAttributesOptions struct{}

// RequestAttributes resolves each request into Kubernetes' RequestInfo, with
// kube-apiserver's exact rules (see requestinfo.New), and stores it with
// request.WithRequestInfo for the handlers after it, with the authorizer
// attributes (AttributesFrom) that Authorization and Admission use. The user
// is the one in the context, so RequestAttributes may run before or after
// authentication.
//
// It makes the path the next handler reads the one that is authorized: every
// router reads the request's path one way or another (net/http's ServeMux
// from URL.EscapedPath(), chi from URL.RawPath when set, gin from URL.Path),
// while Kubernetes resolves the decoded URL.Path. So:
//
//   - a path that routers cannot all read the same way is answered 400: a
//     segment that is "." or "..", an empty segment ("//"), a "/" encoded as
//     %2F inside a segment, or an ASCII control character (NUL included);
//   - URL.RawPath is cleared, so that every router reads URL.Path, exactly
//     what was resolved: /namespaces/%64efault is served as
//     /namespaces/default, the namespace that was authorized and admitted.
//
// A path that names a special verb and nothing after it (such as
// /api/v1/watch), which Kubernetes cannot resolve either, is answered 400 too.
type RequestAttributes struct{}

// NewRequestAttributes returns the step.
func NewRequestAttributes(RequestAttributesOptions) (*RequestAttributes, error) {
	return &RequestAttributes{}, nil
}

// Handler wraps next with the step. It is a func(http.Handler) http.Handler.
func (ra *RequestAttributes) Handler(next http.Handler) http.Handler { return pipeline.New(next, ra) }

func (*RequestAttributes) Serve(w http.ResponseWriter, r *http.Request, s *pipeline.State) *http.Request {
	if err := checkPath(r); err != nil {
		WriteStatus(w, badRequest(err.Error()))
		return nil
	}
	if r.URL.RawPath != "" {
		u := *r.URL
		u.RawPath = ""
		r = r.WithContext(r.Context())
		r.URL = &u
	}
	if _, err := s.Resolve(r); err != nil {
		WriteStatus(w, badRequest(err.Error()))
		return nil
	}
	return r
}

// checkPath refuses a path routers would not all read as Kubernetes does,
// segment by segment in order. It reads the path once, byte by byte: a control
// character is a byte below 0x20 or 0x7f, which never occurs inside a
// multi-byte UTF-8 sequence.
func checkPath(r *http.Request) error {
	if strings.Contains(r.URL.RawPath, "%2F") || strings.Contains(r.URL.RawPath, "%2f") {
		return fmt.Errorf("the path %s has an encoded / in a segment", quotePath(r.URL.RawPath))
	}
	p := r.URL.Path
	if p == "" || p == "/" {
		return nil
	}
	rest := strings.TrimSuffix(p[1:], "/")
	start := 0
	for i := 0; i <= len(rest); i++ {
		if i == len(rest) || rest[i] == '/' {
			switch rest[start:i] {
			case "", ".", "..":
				return fmt.Errorf("the path %s has an empty, \".\" or \"..\" segment", quotePath(r.URL.EscapedPath()))
			}
			start = i + 1
		} else if c := rest[i]; c < 0x20 || c == 0x7f {
			// A segment with a control character is not "", "." or "..":
			// the segments before it were checked.
			return fmt.Errorf("the path %s has a control character", quotePath(r.URL.EscapedPath()))
		}
	}
	return nil
}

// quotePath is a path for an error message, cut short and escaped.
func quotePath(p string) string { return logs.Quote(p, logs.MaxQuoted) }
