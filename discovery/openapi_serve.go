package discovery

import (
	"bytes"
	"crypto/sha512"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	"github.com/munnerz/goautoneg"
	"google.golang.org/protobuf/proto"
	"k8s.io/kube-openapi/pkg/handler3"
	"k8s.io/kube-openapi/pkg/openapiconv"
	"k8s.io/kube-openapi/pkg/validation/spec"

	"github.com/aggauth/aggauth/internal/negotiation"
)

// openAPI holds the OpenAPI documents, encoded once.
type openAPI struct {
	modified time.Time              // Last-Modified of every document: when New built them
	v2       *openAPIDoc            // /openapi/v2
	index    *openAPIDoc            // /openapi/v3
	v3       map[string]*openAPIDoc // /openapi/v3/apis/<group>/<version>, by apis/<group>/<version>
}

// openAPIDoc is one OpenAPI document in JSON and protobuf.
type openAPIDoc struct {
	hash  string // kube-openapi's ETag: the upper-case hex SHA-512 of the JSON
	json  []byte
	proto []byte // nil for the v3 index, which is JSON only
}

// The protobuf media subtypes kube-openapi serves, the deprecated one first;
// answers carry the second.
var (
	v2ProtoTypes = []string{"com.github.proto-openapi.spec.v2@v1.0+protobuf", "com.github.proto-openapi.spec.v2.v1.0+protobuf"}
	v3ProtoTypes = []string{"com.github.proto-openapi.spec.v3@v1.0+protobuf", "com.github.proto-openapi.spec.v3.v1.0+protobuf"}
)

// newOpenAPI builds the v2 document of every group version and the v3
// document of each, with the v3 index that names them by hash.
func newOpenAPI(groups []Group) (*openAPI, error) {
	meta, err := metaDefinitions()
	if err != nil {
		return nil, err
	}
	o := &openAPI{modified: time.Now(), v3: map[string]*openAPIDoc{}}
	paths, defs := map[string]spec.PathItem{}, spec.Definitions{}
	index := handler3.OpenAPIV3Discovery{Paths: map[string]handler3.OpenAPIV3DiscoveryGroupVersion{}}
	for i := range groups {
		for j := range groups[i].Versions {
			sw, err := gvSwagger(meta, &groups[i], &groups[i].Versions[j])
			if err != nil {
				return nil, err
			}
			for p, item := range sw.Paths.Paths {
				paths[p] = item
			}
			for name, d := range sw.Definitions {
				if _, ok := defs[name]; !ok {
					defs[name] = d
				}
			}
			key := "apis/" + groups[i].Name + "/" + groups[i].Versions[j].Name
			if o.v3[key], err = v3Document(sw); err != nil {
				return nil, err
			}
			index.Paths[key] = handler3.OpenAPIV3DiscoveryGroupVersion{ServerRelativeURL: "/openapi/v3/" + key + "?hash=" + o.v3[key].hash}
		}
	}
	if o.v2, err = v2Document(newSwagger(paths, defs)); err != nil {
		return nil, err
	}
	data, err := json.Marshal(index)
	if err != nil {
		return nil, err
	}
	o.index = &openAPIDoc{hash: hash512(data), json: data}
	return o, nil
}

func v2Document(sw *spec.Swagger) (*openAPIDoc, error) {
	data, err := json.Marshal(sw)
	if err != nil {
		return nil, err
	}
	// handler.ToProtoBinary
	doc, err := openapi_v2.ParseDocument(data)
	if err != nil {
		return nil, fmt.Errorf("the OpenAPI v2 document does not parse: %w", err)
	}
	pb, err := proto.Marshal(doc)
	if err != nil {
		return nil, err
	}
	return &openAPIDoc{hash: hash512(data), json: data, proto: pb}, nil
}

func v3Document(sw *spec.Swagger) (*openAPIDoc, error) {
	data, err := json.Marshal(openapiconv.ConvertV2ToV3(sw))
	if err != nil {
		return nil, err
	}
	pb, err := handler3.ToV3ProtoBinary(data)
	if err != nil {
		return nil, fmt.Errorf("the OpenAPI v3 document does not parse: %w", err)
	}
	return &openAPIDoc{hash: hash512(data), json: data, proto: pb}, nil
}

func hash512(data []byte) string { return fmt.Sprintf("%X", sha512.Sum512(data)) }

// serveOpenAPIV2 answers GET /openapi/v2 as kube-openapi's handler does.
func (d *Discovery) serveOpenAPIV2(w http.ResponseWriter, r *http.Request) {
	d.serveOpenAPI(w, r, d.openapi.v2, v2ProtoTypes)
}

// serveOpenAPIV3Index answers GET /openapi/v3 as kube-openapi's handler3
// does: JSON whatever the Accept header.
func (d *Discovery) serveOpenAPIV3Index(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Etag", strconv.Quote(d.openapi.index.hash))
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", noCache)
	h.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, "", d.openapi.modified, bytes.NewReader(d.openapi.index.json))
}

// serveOpenAPIV3 answers GET /openapi/v3/apis/<group>/<version> as
// handler3 does: with ?hash= the current hash the answer is immutable, and
// another hash is redirected to the current one. An unknown group version is
// a 404 Status (handler3 answers 200 with no body).
func (d *Discovery) serveOpenAPIV3(w http.ResponseWriter, r *http.Request) {
	key := strings.TrimPrefix(r.URL.Path, "/openapi/v3/")
	doc := d.openapi.v3[key]
	if doc == nil {
		d.media.writeStatus(w, r, notFound())
		return
	}
	if hash := r.URL.Query().Get("hash"); hash != "" {
		if hash != doc.hash {
			http.Redirect(w, r, "/openapi/v3/"+key+"?hash="+doc.hash, http.StatusMovedPermanently)
			return
		}
		w.Header().Set("Cache-Control", "public, immutable")
		w.Header().Set("Expires", time.Now().AddDate(1, 0, 0).Format(time.RFC1123))
	}
	d.serveOpenAPI(w, r, doc, v3ProtoTypes)
}

// serveOpenAPI writes doc in the first media type of r's Accept header that
// it has, through http.ServeContent (ETag, Last-Modified, 304, ranges), as
// kube-openapi does; 406 when there is none.
func (d *Discovery) serveOpenAPI(w http.ResponseWriter, r *http.Request, doc *openAPIDoc, protoTypes []string) {
	accept := r.Header.Get("Accept")
	if accept == "" {
		accept = "*/*"
	}
	h := w.Header()
	h.Add("Vary", "Accept")
	for _, clause := range goautoneg.ParseAccept(accept) {
		for _, subtype := range []string{"json", protoTypes[0], protoTypes[1]} {
			if clause.Type != "application" && clause.Type != "*" || clause.SubType != subtype && clause.SubType != "*" {
				continue
			}
			body, contentType := doc.json, "application/json"
			if subtype != "json" {
				body, contentType = doc.proto, "application/"+protoTypes[1]
			}
			h.Set("Content-Type", contentType)
			h.Set("Etag", strconv.Quote(doc.hash))
			if h.Get("Cache-Control") == "" {
				h.Set("Cache-Control", noCache)
			}
			h.Set("X-Content-Type-Options", "nosniff")
			http.ServeContent(w, r, "", d.openapi.modified, bytes.NewReader(body))
			return
		}
	}
	accepted := []string{"application/json", "application/" + protoTypes[1]}
	writeRawJSON(w, negotiation.NotAcceptable(accepted))
}
