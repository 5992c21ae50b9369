package demo

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aggauth/aggauth/discovery"
)

// Discovery declares the demo API once, for the discovery package to build
// every document from: the discovery documents the aggregator and kubectl read
// (/apis, GroupPath, VersionPath: the aggregator marks the APIService
// v1.demo.aggauth.io Available once VersionPath answers 200) and the OpenAPI
// documents kubectl explain and client-side apply read (/openapi/v2,
// /openapi/v3). Serve it with Handler behind the chain: Kubernetes authorizes
// discovery like any other path. The declaration also decides what reaches
// the routes (an undeclared verb is a 405) and the columns of kubectl get.
//
// The verbs are those of a CustomResourceDefinition, which the cluster's
// controllers need: the garbage collector and the quota controller use a
// resource only when it has list, watch and delete; the namespace controller
// empties a namespace with deletecollection. The status subresource only
// reads (status.createdBy is the server's).
func Discovery() (*discovery.Discovery, error) {
	schema, err := discovery.SchemaOf(Widget{})
	if err != nil {
		return nil, err
	}
	return discovery.New(discovery.Group{
		Name: Group,
		Versions: []discovery.Version{{Name: Version, Resources: []discovery.Resource{{
			Plural:       Resource,
			Singular:     "widget",
			Kind:         Kind,
			ListKind:     ListKind,
			Namespaced:   true,
			Verbs:        metav1.Verbs{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}, // what every router serves
			Subresources: []discovery.Subresource{{Name: "status", Verbs: metav1.Verbs{"get"}}},
			ShortNames:   []string{"wg"},
			Categories:   []string{"all", "demo"}, // kubectl get all, kubectl get demo
			Columns: []discovery.Column{ // kubectl get widgets: NAME COLOR SIZE AGE
				{Name: "Color", Type: "string", JSONPath: ".spec.color"},
				{Name: "Size", Type: "integer", JSONPath: ".spec.size"},
				{Name: "Age", Type: "date", JSONPath: ".metadata.creationTimestamp"},
			},
			Schema: schema,
		}}}},
	})
}
