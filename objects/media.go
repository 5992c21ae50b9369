package objects

import (
	"encoding/json"
	"io"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1beta1 "k8s.io/apimachinery/pkg/apis/meta/v1beta1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"sigs.k8s.io/yaml"
)

// The media types of every answer, as the serializers of kube-apiserver's
// CustomResourceDefinition handler list them: JSON (indented on request,
// and as a watch stream), YAML, and protobuf (as a watch stream too), which
// the CRD handler serves only for metadata and the Status, and which this
// package serves for the types that can be encoded to it. Only their
// presence matters to the negotiation: the encoding is encode's.
const (
	jsonIndex = iota
	yamlIndex
	protobufIndex
)

var (
	marker = runtime.NewCodec(nil, nil) // a non-nil serializer, never called

	infos = []runtime.SerializerInfo{
		{
			MediaType: runtime.ContentTypeJSON, MediaTypeType: "application", MediaTypeSubType: "json", EncodesAsText: true,
			Serializer: marker, PrettySerializer: marker,
			StreamSerializer: &runtime.StreamSerializerInfo{EncodesAsText: true, Serializer: marker},
		},
		{
			MediaType: runtime.ContentTypeYAML, MediaTypeType: "application", MediaTypeSubType: "yaml", EncodesAsText: true,
			Serializer: marker,
		},
		{
			MediaType: runtime.ContentTypeProtobuf, MediaTypeType: "application", MediaTypeSubType: "vnd.kubernetes.protobuf",
			Serializer: marker, StreamSerializer: &runtime.StreamSerializerInfo{Serializer: marker},
		},
	}

	// protobufSerializer encodes the objects of the protobuf answers, and
	// rawProtobuf the WatchEvents around them.
	protobufSerializer = protobuf.NewSerializer(nil, nil)
	rawProtobuf        = protobuf.NewRawSerializer(nil, nil)
)

// restrictions is kube-apiserver's RequestScope.AllowsMediaTypeTransform and
// friends for a resource whose objects are protobuf-capable or not (a
// CustomResourceDefinition's are not: its StandardSerializers leave
// protobuf out), and which has printer columns or not.
type restrictions struct {
	protobuf bool // objects can be written as protobuf
	table    bool // the endpoint has columns
}

func (r restrictions) AllowsMediaTypeTransform(mimeType, mimeSubType string, gvk *schema.GroupVersionKind) bool {
	if gvk == nil {
		return mimeSubType != "vnd.kubernetes.protobuf" || r.protobuf
	}
	if gv := gvk.GroupVersion(); gv != metav1.SchemeGroupVersion && gv != metav1beta1.SchemeGroupVersion {
		return false
	}
	switch gvk.Kind {
	case "Table":
		return r.table && mimeType == "application" && (mimeSubType == "json" || mimeSubType == "yaml")
	case "PartialObjectMetadata", "PartialObjectMetadataList":
		return true
	}
	return false
}

// AllowsServerVersion is true for meta.k8s.io's version, v1.
func (restrictions) AllowsServerVersion(version string) bool {
	return version == metav1.SchemeGroupVersion.Version
}

func (restrictions) AllowsStreamSchema(s string) bool { return s == "watch" }

// encode writes obj as the serializer of infos[index] writes it: JSON as
// encoding/json's Encoder (with a newline) or indented without one, YAML
// from that JSON, protobuf in Kubernetes' envelope. Each makes one Write
// call, and none when it fails.
func encode(w io.Writer, index int, pretty bool, obj any) error {
	switch {
	case index == protobufIndex:
		return protobufSerializer.Encode(obj.(runtime.Object), w)
	case index == yamlIndex:
		data, err := json.Marshal(obj)
		if err == nil {
			data, err = yaml.JSONToYAML(data)
		}
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	case pretty:
		data, err := json.MarshalIndent(obj, "", "  ")
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	}
	return json.NewEncoder(w).Encode(obj)
}
