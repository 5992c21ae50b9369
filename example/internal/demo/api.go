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
// discovery like any other path.
func Discovery() (*discovery.Discovery, error) {
	schema, err := discovery.SchemaOf(Widget{})
	if err != nil {
		return nil, err
	}
	return discovery.New(discovery.Group{
		Name: Group,
		Versions: []discovery.Version{{Name: Version, Resources: []discovery.Resource{{
			Plural:     Resource,
			Singular:   "widget",
			Kind:       Kind,
			ListKind:   ListKind,
			Namespaced: true,
			Verbs:      metav1.Verbs{"get", "list", "create", "patch", "delete"}, // what every router serves
			ShortNames: []string{"wg"},
			Categories: []string{"all", "demo"}, // kubectl get all, kubectl get demo
			Schema:     schema,
		}}}},
	})
}
