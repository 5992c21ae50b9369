package requestinfo_test

import (
	"fmt"
	"net/http/httptest"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/aggauth/aggauth/requestinfo"
)

func ExampleNew() {
	req := httptest.NewRequest("GET", "/api/v1/namespaces/default/pods?watch=true&fieldSelector=metadata.name%3Dweb-0", nil)
	info, err := requestinfo.New(req)
	if err != nil {
		panic(err)
	}
	fmt.Println(info.Verb, info.Namespace, info.Resource, info.Name, info.FieldSelector)
	// Output: watch default pods web-0 metadata.name=web-0
}

func ExampleFilter() {
	items := []*metav1.ObjectMeta{
		{Name: "alice-widget", Namespace: "team-a", Labels: map[string]string{"app": "web"}},
		{Name: "bob-widget", Namespace: "team-a", Labels: map[string]string{"app": "web"}},
		{Name: "carol-widget", Namespace: "team-a", Labels: map[string]string{"app": "db"}},
	}
	// ?fieldSelector=metadata.name=alice-widget: authorized for alice-widget alone.
	sel, err := requestinfo.NewSelectors(nil, fields.OneTermEqualSelector("metadata.name", "alice-widget"))
	if err != nil {
		panic(err)
	}
	for _, it := range requestinfo.Filter(sel, items) {
		fmt.Println(it.Name)
	}
	sel, _ = requestinfo.NewSelectors(labels.SelectorFromSet(labels.Set{"app": "web"}), nil)
	fmt.Println(len(requestinfo.Filter(sel, items)), "with app=web")
	_, err = requestinfo.NewSelectors(nil, fields.OneTermEqualSelector("spec.color", "blue"))
	fmt.Println(err)
	// Output:
	// alice-widget
	// 2 with app=web
	// "spec.color" is not a known field selector: only "metadata.name", "metadata.namespace"
}
