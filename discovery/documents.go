package discovery

import (
	"slices"
	"strings"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The discovery documents, built from a validated declaration the way
// k8s.io/apiserver's GenericAPIServer.InstallAPIGroups builds them from the
// storage it installs.

// apiGroupList is the answer to GET /apis. Kubernetes strips its apiVersion
// (stripVersionNegotiatedSerializer, kept from release 1.1) and fills
// serverAddressByClientCIDRs from --advertise-address; we leave those out.
func apiGroupList(groups []Group) *metav1.APIGroupList {
	list := &metav1.APIGroupList{TypeMeta: metav1.TypeMeta{Kind: "APIGroupList"}, Groups: []metav1.APIGroup{}}
	for i := range groups {
		g := apiGroup(&groups[i])
		g.TypeMeta = metav1.TypeMeta{}
		list.Groups = append(list.Groups, *g)
	}
	return list
}

// apiGroup is the answer to GET /apis/<group>.
func apiGroup(g *Group) *metav1.APIGroup {
	out := &metav1.APIGroup{
		TypeMeta: metav1.TypeMeta{Kind: "APIGroup", APIVersion: "v1"},
		Name:     g.Name,
		Versions: []metav1.GroupVersionForDiscovery{},
	}
	for _, v := range g.Versions {
		out.Versions = append(out.Versions, metav1.GroupVersionForDiscovery{GroupVersion: g.Name + "/" + v.Name, Version: v.Name})
	}
	out.PreferredVersion = out.Versions[0]
	return out
}

// apiResourceList is the answer to GET /apis/<group>/<version>.
func apiResourceList(g *Group, v *Version) *metav1.APIResourceList {
	return &metav1.APIResourceList{
		TypeMeta:     metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
		GroupVersion: g.Name + "/" + v.Name,
		APIResources: apiResources(v),
	}
}

// apiResources lists a version's resources and subresources sorted by name,
// with sorted verbs, as k8s.io/apiserver's APIInstaller.Install lists them.
func apiResources(v *Version) []metav1.APIResource {
	var out []metav1.APIResource
	for _, r := range v.Resources {
		out = append(out, metav1.APIResource{
			Name:         r.Plural,
			SingularName: r.Singular,
			Namespaced:   r.Namespaced,
			Kind:         r.Kind,
			Verbs:        sortedVerbs(r.Verbs),
			ShortNames:   r.ShortNames,
			Categories:   r.Categories,
		})
		for _, s := range r.Subresources {
			kind := s.Kind.Kind
			if kind == "" {
				kind = r.Kind
			}
			out = append(out, metav1.APIResource{
				Name:       r.Plural + "/" + s.Name,
				Namespaced: r.Namespaced,
				Group:      s.Kind.Group,
				Version:    s.Kind.Version,
				Kind:       kind,
				Verbs:      sortedVerbs(s.Verbs),
			})
		}
	}
	for i := range out {
		if len(out[i].ShortNames) == 0 {
			out[i].ShortNames = nil
		}
		if len(out[i].Categories) == 0 {
			out[i].Categories = nil
		}
	}
	slices.SortFunc(out, func(a, b metav1.APIResource) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// sortedVerbs returns a sorted copy, never nil: Kubernetes always sends
// "verbs", as [] when there is none.
func sortedVerbs(verbs metav1.Verbs) metav1.Verbs {
	out := append(make(metav1.Verbs, 0, len(verbs)), verbs...)
	slices.Sort(out)
	return out
}

// aggregatedList is the aggregated discovery answer to GET /apis: groups and
// versions in declaration (preference) order. kube-apiserver orders them by
// the priorities its APIServices give; the aggregator reorders what it reads
// from an extension server in the same way.
func aggregatedList(groups []Group) *apidiscoveryv2.APIGroupDiscoveryList {
	list := &apidiscoveryv2.APIGroupDiscoveryList{
		TypeMeta: metav1.TypeMeta{Kind: "APIGroupDiscoveryList", APIVersion: apidiscoveryv2.SchemeGroupVersion.String()},
		Items:    []apidiscoveryv2.APIGroupDiscovery{},
	}
	for _, g := range groups {
		item := apidiscoveryv2.APIGroupDiscovery{ObjectMeta: metav1.ObjectMeta{Name: g.Name}}
		for i := range g.Versions {
			item.Versions = append(item.Versions, apidiscoveryv2.APIVersionDiscovery{
				Version:   g.Versions[i].Name,
				Resources: discoveryResources(apiResources(&g.Versions[i])),
				Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent,
			})
		}
		list.Items = append(list.Items, item)
	}
	return list
}

// discoveryResources converts a version's resources as
// k8s.io/apiserver/pkg/endpoints.ConvertGroupVersionIntoToDiscovery does:
// every subresource follows its parent, in the sorted order.
func discoveryResources(list []metav1.APIResource) []apidiscoveryv2.APIResourceDiscovery {
	var out []apidiscoveryv2.APIResourceDiscovery
	parents := map[string]int{}
	for _, r := range list {
		if strings.Contains(r.Name, "/") {
			continue
		}
		scope := apidiscoveryv2.ScopeCluster
		if r.Namespaced {
			scope = apidiscoveryv2.ScopeNamespace
		}
		out = append(out, apidiscoveryv2.APIResourceDiscovery{
			Resource:         r.Name,
			ResponseKind:     &metav1.GroupVersionKind{Group: r.Group, Version: r.Version, Kind: r.Kind},
			Scope:            scope,
			SingularResource: r.SingularName,
			Verbs:            r.Verbs,
			ShortNames:       r.ShortNames,
			Categories:       r.Categories,
		})
		parents[r.Name] = len(out) - 1
	}
	for _, r := range list {
		parent, sub, ok := strings.Cut(r.Name, "/")
		if !ok {
			continue
		}
		p := &out[parents[parent]]
		p.Subresources = append(p.Subresources, apidiscoveryv2.APISubresourceDiscovery{
			Subresource:  sub,
			ResponseKind: &metav1.GroupVersionKind{Group: r.Group, Version: r.Version, Kind: r.Kind},
			Verbs:        r.Verbs,
		})
	}
	return out
}
