package discovery

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/munnerz/goautoneg"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The Accept negotiation of k8s.io/apiserver/pkg/endpoints/handlers/negotiation
// (v0.37.2), restated: importing that package pulls in Kubernetes' feature
// gates and, through component-base's metrics, OpenTelemetry. The
// differential tests compare the answers with Kubernetes' own handlers.

// endpointRestrictions is negotiation.EndpointRestrictions: which media type
// parameters an endpoint supports.
type endpointRestrictions interface {
	// allowsMediaTypeTransform reports whether the endpoint allows the media
	// type, or the conversion to target when target is not nil.
	allowsMediaTypeTransform(mimeType, mimeSubType string, target *schema.GroupVersionKind) bool
	// allowsServerVersion reports whether the server version (sv=) is valid.
	allowsServerVersion(version string) bool
	// allowsStreamSchema reports whether the stream schema (stream=) is valid.
	allowsStreamSchema(schema string) bool
}

// defaultRestrictions is negotiation.DefaultEndpointRestrictions: no
// conversion, no server version, the watch stream.
type defaultRestrictions struct{}

func (defaultRestrictions) allowsMediaTypeTransform(_, _ string, gvk *schema.GroupVersionKind) bool {
	return gvk == nil
}
func (defaultRestrictions) allowsServerVersion(string) bool  { return false }
func (defaultRestrictions) allowsStreamSchema(s string) bool { return s == "watch" }

// mediaTypeOptions is the part of negotiation.MediaTypeOptions discovery
// reads: the parameters of the Accept clause chosen, and its serializer.
type mediaTypeOptions struct {
	pretty   bool                     // pretty=1
	convert  *schema.GroupVersionKind // g=, v=, as=
	accepted runtime.SerializerInfo
}

// negotiateMediaType is negotiation.NegotiateMediaTypeOptions: the first
// clause of the Accept header, in the order goautoneg sorts them, that one of
// infos matches with parameters endpoint allows. An empty header gets
// infos[0].
func negotiateMediaType(header string, infos []runtime.SerializerInfo, endpoint endpointRestrictions) (mediaTypeOptions, bool) {
	if header == "" && len(infos) > 0 {
		return mediaTypeOptions{accepted: infos[0]}, true
	}
	for _, clause := range goautoneg.ParseAccept(header) {
		for i := range infos {
			info := &infos[i]
			if clause.Type == "*" && clause.SubType == "*" ||
				clause.Type == info.MediaTypeType && (clause.SubType == info.MediaTypeSubType || clause.SubType == "*") {
				if opts, ok := acceptMediaType(clause.Params, info, endpoint); ok {
					return opts, true
				}
			}
		}
	}
	return mediaTypeOptions{}, false
}

// acceptMediaType is negotiation.acceptMediaTypeOptions: the options params
// ask for, unless endpoint or info does not allow them.
func acceptMediaType(params map[string]string, info *runtime.SerializerInfo, endpoint endpointRestrictions) (mediaTypeOptions, bool) {
	var opts mediaTypeOptions
	convert := func() *schema.GroupVersionKind {
		if opts.convert == nil {
			opts.convert = &schema.GroupVersionKind{}
		}
		return opts.convert
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
			if v != "" && (info.StreamSerializer == nil || !endpoint.allowsStreamSchema(v)) {
				return mediaTypeOptions{}, false
			}
		case "sv":
			if v != "" && !endpoint.allowsServerVersion(v) {
				return mediaTypeOptions{}, false
			}
		case "pretty":
			opts.pretty = v == "1"
		}
	}
	if !endpoint.allowsMediaTypeTransform(info.MediaTypeType, info.MediaTypeSubType, opts.convert) {
		return mediaTypeOptions{}, false
	}
	opts.accepted = *info
	return opts, true
}

// mediaTypes is the first result of negotiation.MediaTypesForSerializer: the
// media types of infos, as a 406 lists them.
func mediaTypes(infos []runtime.SerializerInfo) []string {
	types := make([]string, len(infos))
	for i, info := range infos {
		types[i] = info.MediaType
	}
	return types
}

// notAcceptable is the Status of negotiation.NewNotAcceptableError(accepted),
// completed as responsewriters.ErrorToAPIStatus completes it.
func notAcceptable(accepted []string) *metav1.Status {
	return &metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure,
		Code:     http.StatusNotAcceptable,
		Reason:   metav1.StatusReasonNotAcceptable,
		Message:  fmt.Sprintf("only the following media types are accepted: %v", strings.Join(accepted, ", ")),
	}
}
