package demo

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The discovery documents. The aggregator marks the APIService
// v1.demo.aggauth.io Available once GET VersionPath answers 200; kubectl reads
// them to map "widgets" to its path.
var (
	groupVersion = metav1.GroupVersionForDiscovery{GroupVersion: GroupVersion, Version: Version}

	// APIGroup is the answer to GET GroupPath.
	APIGroup = &metav1.APIGroup{
		TypeMeta:         metav1.TypeMeta{APIVersion: "v1", Kind: "APIGroup"},
		Name:             Group,
		Versions:         []metav1.GroupVersionForDiscovery{groupVersion},
		PreferredVersion: groupVersion,
	}

	// APIGroupList is the answer to GET /apis.
	APIGroupList = &metav1.APIGroupList{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "APIGroupList"},
		Groups:   []metav1.APIGroup{*APIGroup},
	}

	// APIResourceList is the answer to GET VersionPath.
	APIResourceList = &metav1.APIResourceList{
		TypeMeta:     metav1.TypeMeta{APIVersion: "v1", Kind: "APIResourceList"},
		GroupVersion: GroupVersion,
		APIResources: []metav1.APIResource{{
			Name:         Resource,
			SingularName: "widget",
			Namespaced:   true,
			Kind:         Kind,
			Verbs:        metav1.Verbs{"get", "list", "create", "delete"},
		}},
	}
)
