// Package discovery serves what kube-apiserver's aggregation layer, kubectl
// and client-go read from an extension apiserver to find and describe its API:
// the discovery documents and the OpenAPI documents, all built from one
// declaration of the served groups, versions and resources.
//
//	schema, err := discovery.SchemaOf(&Widget{})
//	...
//	d, err := discovery.New(discovery.Group{
//		Name: "demo.aggauth.io",
//		Versions: []discovery.Version{{Name: "v1", Resources: []discovery.Resource{{
//			Plural: "widgets", Kind: "Widget", Namespaced: true,
//			Verbs:        metav1.Verbs{"get", "list", "watch", "create", "update", "patch", "delete"},
//			Subresources: []discovery.Subresource{{Name: "status", Verbs: metav1.Verbs{"get", "update", "patch"}}},
//			Schema:       schema,
//		}}}},
//	})
//	...
//	srv := &http.Server{Handler: chain.Handler(d.Handler(widgets)), ...}
//
// New validates the declaration (with the rules kube-apiserver applies to
// APIServices and CustomResourceDefinitions) and builds and encodes every
// document once; serving one is a lookup and a write.
//
// # Documents
//
// Discovery.Handler answers, and passes every other path to the next handler:
//
//   - GET /apis: the APIGroupList; or, when the Accept header asks for
//     application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList
//     (or its protobuf or YAML form), the aggregated discovery document, which
//     the aggregator reads with If-None-Match to merge the extension's API
//     into kube-apiserver's. apidiscovery.k8s.io/v2beta1 is not served:
//     Kubernetes v1.37 no longer serves it either, and answers 406 when it is
//     all a client accepts.
//   - GET /apis/<group>: the APIGroup; GET /apis/<group>/<version>: the
//     APIResourceList. The aggregator's availability probe of an APIService
//     is GET /apis/<group>/<version>, which must answer 2xx. An undeclared
//     group or version is a 404 Status, as kube-apiserver answers.
//   - GET /openapi/v2: the Swagger 2.0 document of every version;
//     GET /openapi/v3: the index of the OpenAPI 3.0 documents, one per
//     version at /openapi/v3/apis/<group>/<version>?hash=<hash>. These are
//     generated from the declaration: each verb adds kube-apiserver's
//     operation (list, watch, create, update, patch, delete, deletecollection
//     and the subresources' ones), each kind a definition with the
//     x-kubernetes-group-version-kind extension, Kubernetes' apiVersion, kind
//     and metadata properties, and its list kind, so that kubectl explain,
//     kubectl apply and client-go's type converter work. ObjectMeta, ListMeta,
//     Status, DeleteOptions, Patch and WatchEvent are defined from the
//     k8s.io/apimachinery types by SchemaOf.
//
// The discovery documents are written as kube-apiserver writes them, with
// k8s.io/apimachinery's serializers and k8s.io/apiserver's content
// negotiation: JSON by default, YAML or protobuf
// (application/vnd.kubernetes.protobuf) when asked, indented JSON for curl,
// wget and browsers or with ?pretty=true, and a 406 Status listing the media
// types when nothing in Accept matches. The tests send the same requests to
// k8s.io/apiserver's own discovery handlers serving the equivalent installed
// API and require the same status, Content-Type and bytes. The OpenAPI
// documents are served as kube-openapi's handlers serve them: JSON or
// protobuf, Last-Modified, ranges, a 301 from a stale ?hash= to the current
// one and "Cache-Control: public, immutable" on the current one.
//
// Every document has a strong ETag (the quoted upper-case hex SHA-512 of its
// JSON, the same for all its encodings, as Kubernetes computes them) and a
// matching If-None-Match gets a 304. The ETag of aggregated discovery is the
// one kube-apiserver would send for the same API, and documents built from
// the same declaration are identical in every replica. Cache-Control is
// "public" on aggregated discovery, as in Kubernetes, and "no-cache, private"
// elsewhere (kube-apiserver's WithCacheControl filter).
//
// # Verbs and printer columns
//
// The declaration also decides what the server's resource handlers are asked
// to serve. Behind the chain (which puts Kubernetes' RequestInfo in the
// context), Handler checks every resource request for a declared resource or
// subresource: a verb the declaration does not list gets the 405
// MethodNotSupported Status kube-apiserver answers for a
// CustomResourceDefinition (`update is not supported on resources of kind
// "widgets.demo.aggauth.io"`), before next runs. So a list handler never sees
// ?watch=true unless watch is declared (watch is its own verb), and PUT on a
// read-only resource is a 405, not the router's 404. A declared request goes
// to next with its Endpoint in the context (EndpointFrom): the kinds and the
// printer columns the objects package writes Tables and lists with.
// Requests for undeclared resources or subresources, in a scope that does
// not match the resource's, and requests without a RequestInfo (Handler
// placed before the chain) go to next unchanged.
//
// Resource.Columns are a CustomResourceDefinition's additionalPrinterColumns,
// with its validation in New (and a JSONPath that must parse, without range
// or end). A Table has a Name column, then the declared columns, or an Age
// column when none is declared; cells are evaluated as kube-apiserver's
// CustomResourceDefinition table convertor evaluates them (the tests compare
// both on the same objects).
//
// # Where it differs from Kubernetes
//
//   - /apis has no serverAddressByClientCIDRs: kube-apiserver fills it from
//     its --advertise-address; behind the aggregator clients read
//     kube-apiserver's /apis, and client-go ignores the field.
//   - Versions are listed in declaration order, and groups too: Versions[0]
//     is the preferred version everywhere. A GenericAPIServer without
//     APIService priorities sorts aggregated discovery by group name and
//     Kubernetes version order; the aggregator reorders by the APIServices'
//     priorities anyway.
//   - Discovery documents other than aggregated discovery have an ETag and a
//     Vary: Accept header; Kubernetes sends neither.
//   - Methods other than GET and HEAD get a 405 Status on every path here
//     (Kubernetes serves the OpenAPI documents to any method), an unknown
//     /openapi/v3/ path gets a 404 Status (kube-openapi answers 200 with no
//     body) and a 406 from the OpenAPI handlers has a Status body.
//   - Responses are not gzip-compressed: put a compression middleware in
//     front if the documents are large.
//   - Only the first 64 clauses of an Accept header are read (Kubernetes
//     sorts all of them, however many).
//   - An undeclared verb is refused as a CustomResourceDefinition's is (405
//     MethodNotSupported, no Allow header). A generic apiserver's go-restful
//     routes answer it with 405 MethodNotAllowed and an Allow header where
//     another method has a route at the path, and 404 where none has; only
//     a watch on a resource that cannot watch gets MethodNotSupported there.
//   - A column whose JSONPath does not parse is refused by New; kube-apiserver
//     accepts the CustomResourceDefinition and prints Name and Age instead.
//
// # Authorization
//
// Put Handler after authentication and authorization: Kubernetes authorizes
// these paths like any request, as non-resource URLs with the verb get (head
// for HEAD). The system:discovery ClusterRole, which a default cluster binds
// to system:authenticated, allows get on /apis, /apis/*, /openapi and
// /openapi/*. The aggregator's availability probes and aggregated discovery
// requests come as system:kube-aggregator in group system:masters, which
// authz allows without a SubjectAccessReview by default; its OpenAPI
// downloads come as system:aggregator, with system:authenticated only, and
// are reviewed like any user's. A cluster that removed the system:discovery
// binding must grant get on those non-resource URLs to the users of the API.
package discovery
