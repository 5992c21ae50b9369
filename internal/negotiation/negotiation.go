// Package negotiation is k8s.io/apiserver/pkg/endpoints/handlers/negotiation
// (v0.37.2) restated: the Accept and Content-Type negotiation of every
// kube-apiserver answer, and the 406 and 415 Statuses it fails with.
// Importing Kubernetes' package pulls in its feature gates and, through
// component-base's metrics, OpenTelemetry; the differential tests of the
// packages that use this one compare their answers with Kubernetes' own
// handlers.
//
// One difference, for hostile input: only the first MaxClauses clauses of an
// Accept header are read (Kubernetes sorts every clause of a header of any
// size; clients send a handful).
package negotiation

import (
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/munnerz/goautoneg"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// MaxClauses bounds the clauses of an Accept header that are read: the
// rest of a longer header is ignored.
const MaxClauses = 64

// Restrictions is negotiation.EndpointRestrictions: which media type
// parameters an endpoint supports.
type Restrictions interface {
	// AllowsMediaTypeTransform reports whether the endpoint allows the media
	// type, or the conversion to target when target is not nil.
	AllowsMediaTypeTransform(mimeType, mimeSubType string, target *schema.GroupVersionKind) bool
	// AllowsServerVersion reports whether the server version (sv=) is valid.
	AllowsServerVersion(version string) bool
	// AllowsStreamSchema reports whether the stream schema (stream=) is valid.
	AllowsStreamSchema(schema string) bool
}

// Default is negotiation.DefaultEndpointRestrictions: no conversion, no
// server version, the watch stream.
type Default struct{}

// AllowsMediaTypeTransform allows no conversion.
func (Default) AllowsMediaTypeTransform(_, _ string, gvk *schema.GroupVersionKind) bool {
	return gvk == nil
}

// AllowsServerVersion allows none.
func (Default) AllowsServerVersion(string) bool { return false }

// AllowsStreamSchema allows watch.
func (Default) AllowsStreamSchema(s string) bool { return s == "watch" }

// Options is the part of negotiation.MediaTypeOptions the callers read: the
// parameters of the Accept clause chosen, and its serializer.
type Options struct {
	Pretty   bool                     // pretty=1
	Convert  *schema.GroupVersionKind // g=, v=, as=
	Accepted runtime.SerializerInfo
	Index    int // of Accepted in the serializers negotiated
}

// MediaType is negotiation.NegotiateMediaTypeOptions: the first clause of
// the Accept header, in the order goautoneg sorts them, that one of infos
// matches with parameters endpoint allows. An empty header gets infos[0].
func MediaType(header string, infos []runtime.SerializerInfo, endpoint Restrictions) (Options, bool) {
	if header == "" && len(infos) > 0 {
		return Options{Accepted: infos[0]}, true
	}
	for _, clause := range goautoneg.ParseAccept(firstClauses(header)) {
		for i := range infos {
			info := &infos[i]
			if clause.Type == "*" && clause.SubType == "*" ||
				clause.Type == info.MediaTypeType && (clause.SubType == info.MediaTypeSubType || clause.SubType == "*") {
				if opts, ok := accept(clause.Params, info, endpoint); ok {
					opts.Index = i
					return opts, true
				}
			}
		}
	}
	return Options{}, false
}

// firstClauses cuts header after MaxClauses clauses.
func firstClauses(header string) string {
	n, i := 0, 0
	for i < len(header) {
		j := strings.IndexByte(header[i:], ',')
		if j < 0 {
			break
		}
		if n++; n == MaxClauses {
			return header[:i+j]
		}
		i += j + 1
	}
	return header
}

// accept is negotiation.acceptMediaTypeOptions: the options params ask for,
// unless endpoint or info does not allow them.
func accept(params map[string]string, info *runtime.SerializerInfo, endpoint Restrictions) (Options, bool) {
	var opts Options
	convert := func() *schema.GroupVersionKind {
		if opts.Convert == nil {
			opts.Convert = &schema.GroupVersionKind{}
		}
		return opts.Convert
	}
	for k, v := range params {
		switch k {
		case "as":
			convert().Kind = v
		case "g":
			convert().Group = v
		case "v":
			convert().Version = v
		case "stream":
			if v != "" && (info.StreamSerializer == nil || !endpoint.AllowsStreamSchema(v)) {
				return Options{}, false
			}
		case "sv":
			if v != "" && !endpoint.AllowsServerVersion(v) {
				return Options{}, false
			}
		case "pretty":
			opts.Pretty = v == "1"
		}
	}
	if !endpoint.AllowsMediaTypeTransform(info.MediaTypeType, info.MediaTypeSubType, opts.Convert) {
		return Options{}, false
	}
	opts.Accepted = *info
	return opts, true
}

// Output is negotiation.NegotiateOutputMediaType: the media type r accepts,
// and whether to write it indented (the clause's pretty=1, ?pretty=true, or
// a client that is curl, wget or a browser, when infos has a pretty
// serializer for it). ok is false when nothing is acceptable: the answer is
// then NotAcceptable(MediaTypes(infos)).
func Output(r *http.Request, infos []runtime.SerializerInfo, endpoint Restrictions) (opts Options, pretty, ok bool) {
	opts, ok = MediaType(r.Header.Get("Accept"), infos, endpoint)
	if !ok {
		return opts, false, false
	}
	return opts, (opts.Pretty || PrettyPrint(r)) && opts.Accepted.PrettySerializer != nil, true
}

// Input is negotiation.NegotiateInputSerializerForMediaType: the serializer
// of a request body's Content-Type (infos[0] when there is none). ok is
// false when infos has none for it: the answer is then
// UnsupportedMediaType(MediaTypes(infos)).
func Input(contentType string, infos []runtime.SerializerInfo) (index int, ok bool) {
	if contentType == "" {
		return 0, len(infos) > 0
	}
	mediaType, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return 0, false
	}
	for i := range infos {
		if infos[i].MediaType == mediaType {
			return i, true
		}
	}
	return 0, false
}

// PrettyPrint is negotiation.isPrettyPrint: ?pretty=true, or a client that is
// curl, wget or a browser.
func PrettyPrint(r *http.Request) bool {
	if strings.Contains(r.URL.RawQuery, "pretty") {
		if pp := r.URL.Query().Get("pretty"); pp != "" {
			pretty, _ := strconv.ParseBool(pp)
			return pretty
		}
	}
	ua := r.UserAgent()
	return strings.HasPrefix(ua, "curl") || strings.HasPrefix(ua, "Wget") || strings.HasPrefix(ua, "Mozilla/5.0")
}

// MediaTypes is the first result of negotiation.MediaTypesForSerializer: the
// media types of infos, as a 406 or 415 lists them.
func MediaTypes(infos []runtime.SerializerInfo) []string {
	types := make([]string, len(infos))
	for i, info := range infos {
		types[i] = info.MediaType
	}
	return types
}

// StreamMediaTypes is its second result: the watch media types of infos
// with a stream serializer, as the 406 of a watch lists them.
func StreamMediaTypes(infos []runtime.SerializerInfo) []string {
	var types []string
	for _, info := range infos {
		if info.StreamSerializer != nil {
			types = append(types, info.MediaType+";stream=watch")
		}
	}
	return types
}

// NotAcceptable is the Status of negotiation.NewNotAcceptableError(accepted),
// completed as responsewriters.ErrorToAPIStatus completes it.
func NotAcceptable(accepted []string) *metav1.Status {
	return failure(http.StatusNotAcceptable, metav1.StatusReasonNotAcceptable,
		fmt.Sprintf("only the following media types are accepted: %v", strings.Join(accepted, ", ")))
}

// UnsupportedMediaType is the Status of
// negotiation.NewUnsupportedMediaTypeError(accepted), completed.
func UnsupportedMediaType(accepted []string) *metav1.Status {
	return failure(http.StatusUnsupportedMediaType, metav1.StatusReasonUnsupportedMediaType,
		fmt.Sprintf("the body of the request was in an unknown format - accepted media types include: %v", strings.Join(accepted, ", ")))
}

func failure(code int32, reason metav1.StatusReason, message string) *metav1.Status {
	return &metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure,
		Code:     code,
		Reason:   reason,
		Message:  message,
	}
}
