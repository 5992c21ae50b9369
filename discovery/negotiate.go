package discovery

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"

	"github.com/aggauth/aggauth/internal/negotiation"
)

// media holds the serializers discovery documents are written with: those of
// a scheme with the metav1 discovery types and apidiscovery.k8s.io/v2, as
// kube-apiserver's (JSON, YAML, protobuf).
type media struct {
	codecs    serializer.CodecFactory
	infos     []runtime.SerializerInfo
	supported []string // the media types a 406 lists
}

func newMedia() (*media, error) {
	scheme := runtime.NewScheme()
	metav1.AddToGroupVersion(scheme, schema.GroupVersion{Version: "v1"})
	if err := apidiscoveryv2.AddToScheme(scheme); err != nil {
		return nil, err
	}
	m := &media{codecs: serializer.NewCodecFactory(scheme)}
	m.infos = m.codecs.SupportedMediaTypes()
	m.supported = negotiation.MediaTypes(m.infos)
	return m, nil
}

// document is one discovery document, encoded once in every media type.
type document struct {
	etag   string                   // quoted
	plain  [][]byte                 // by index in media.infos
	pretty [][]byte                 // by index in media.infos; nil without a pretty serializer
	gvk    *schema.GroupVersionKind // added to the Content-Type (aggregated discovery)
}

// newDocument encodes obj, whose TypeMeta is set, with every serializer. The
// ETag is the SHA-512 of etagOf's JSON, as kube-apiserver computes the ETag of
// aggregated discovery (of the list without its TypeMeta).
func (m *media) newDocument(obj runtime.Object, etagOf any) (*document, error) {
	doc := &document{plain: make([][]byte, len(m.infos)), pretty: make([][]byte, len(m.infos))}
	for i, info := range m.infos {
		var err error
		if doc.plain[i], err = runtime.Encode(info.Serializer, obj); err != nil {
			return nil, fmt.Errorf("encoding %T as %s: %w", obj, info.MediaType, err)
		}
		if info.PrettySerializer != nil {
			if doc.pretty[i], err = runtime.Encode(info.PrettySerializer, obj); err != nil {
				return nil, fmt.Errorf("encoding %T as %s: %w", obj, info.MediaType, err)
			}
		}
	}
	data, err := json.Marshal(etagOf)
	if err != nil {
		return nil, err
	}
	doc.etag = strconv.Quote(hash512(data))
	return doc, nil
}

// negotiate picks the media type for r, as
// k8s.io/apiserver/pkg/endpoints/handlers/negotiation.NegotiateOutputMediaType
// does: the index in m.infos and whether to pretty-print.
func (m *media) negotiate(r *http.Request, restrictions negotiation.Restrictions) (opts negotiation.Options, index int, pretty, ok bool) {
	opts, pretty, ok = negotiation.Output(r, m.infos, restrictions)
	return opts, opts.Index, pretty, ok
}

// serve writes doc in the media type r asks for, with its ETag, or 304 when
// r's If-None-Match has it, or a 406 Status when no media type suits.
func (m *media) serve(w http.ResponseWriter, r *http.Request, doc *document, restrictions negotiation.Restrictions, cacheControl string) {
	_, i, pretty, ok := m.negotiate(r, restrictions)
	if !ok {
		writeRawJSON(w, negotiation.NotAcceptable(m.supported))
		return
	}
	h := w.Header()
	h.Set("ETag", doc.etag)
	h.Set("Vary", "Accept")
	h.Set("Cache-Control", cacheControl)
	if etagMatch(r.Header.Get("If-None-Match"), doc.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body := doc.plain[i]
	if pretty {
		body = doc.pretty[i]
	}
	contentType := m.infos[i].MediaType
	if doc.gvk != nil {
		contentType += ";g=" + doc.gvk.Group + ";v=" + doc.gvk.Version + ";as=" + doc.gvk.Kind
	}
	h.Set("Content-Type", contentType)
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// etagMatch reports whether an If-None-Match header names etag (or is "*"),
// with the weak comparison RFC 9110 prescribes for If-None-Match.
func etagMatch(header, etag string) bool {
	for header != "" {
		var tag string
		tag, header, _ = strings.Cut(header, ",")
		tag = strings.TrimPrefix(strings.TrimSpace(tag), "W/")
		if tag == "*" || tag == etag {
			return true
		}
	}
	return false
}
