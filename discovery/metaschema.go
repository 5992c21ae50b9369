package discovery

import (
	"reflect"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// The definitions of the k8s.io/apimachinery types that every OpenAPI
// document refers to, named as in kube-apiserver's documents.
const (
	metaPrefix        = "io.k8s.apimachinery.pkg.apis.meta.v1."
	objectMetaName    = metaPrefix + "ObjectMeta"
	listMetaName      = metaPrefix + "ListMeta"
	statusName        = metaPrefix + "Status"
	deleteOptionsName = metaPrefix + "DeleteOptions"
	patchName         = metaPrefix + "Patch"
	watchEventName    = metaPrefix + "WatchEvent"
)

// The descriptions kube-apiserver gives the standard properties of an object
// and of a list (apiextensions-apiserver's builder).
const (
	objectMetaDoc = "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"
	listMetaDoc   = "Standard list metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"
)

func definitionRef(name string) string { return "#/definitions/" + name }

// metaRefs are the types SchemaOf refers to instead of inlining.
func metaRefs() map[reflect.Type]string {
	return map[reflect.Type]string{
		reflect.TypeFor[metav1.ObjectMeta](): objectMetaName,
		reflect.TypeFor[metav1.ListMeta]():   listMetaName,
	}
}

// metaDefinitions builds the shared definitions from the Go types, with
// their generated SwaggerDoc descriptions.
func metaDefinitions() (spec.Definitions, error) {
	types := map[string]any{
		objectMetaName:    metav1.ObjectMeta{},
		listMetaName:      metav1.ListMeta{},
		statusName:        metav1.Status{},
		deleteOptionsName: metav1.DeleteOptions{},
		patchName:         metav1.Patch{},
		watchEventName:    metav1.WatchEvent{},
	}
	defs := spec.Definitions{}
	for name, v := range types {
		s, err := SchemaOf(v)
		if err != nil {
			return nil, err
		}
		defs[name] = *s
	}
	// WatchEvent's object is any object of the kind watched.
	watch := defs[watchEventName]
	watch.Description = "Event represents a single event to a watched resource."
	defs[watchEventName] = watch
	return defs, nil
}

// typeMetaProperties are the apiVersion and kind properties, with
// metav1.TypeMeta's descriptions.
func typeMetaProperties() map[string]spec.Schema {
	docs := metav1.TypeMeta{}.SwaggerDoc()
	return map[string]spec.Schema{
		"apiVersion": *spec.StringProperty().WithDescription(docs["apiVersion"]),
		"kind":       *spec.StringProperty().WithDescription(docs["kind"]),
	}
}
