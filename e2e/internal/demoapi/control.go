package demoapi

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/yaml"

	"github.com/aggauth/aggauth/e2e/cluster"
)

// The control of the end-to-end scenarios: widgets served by kube-apiserver
// itself, from a CustomResourceDefinition declared as the example servers
// declare theirs (kind, plural, namespaced, a status subresource, the
// printer columns Color, Size and Age), in the group ControlGroup. What the
// cluster's controllers and kubectl do with the example's widgets they must
// do the same with these.
const ControlGroup = "control.aggauth.io"

// ControlWidgets is the control's resource, for the dynamic client.
var ControlWidgets = schema.GroupVersionResource{Group: ControlGroup, Version: Version, Resource: Resource}

// controlCRD is the CustomResourceDefinition of the control.
const controlCRD = `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.` + ControlGroup + `
spec:
  group: ` + ControlGroup + `
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    additionalPrinterColumns:
    - {name: Color, type: string, jsonPath: .spec.color}
    - {name: Size, type: integer, jsonPath: .spec.size}
    - {name: Age, type: date, jsonPath: .metadata.creationTimestamp}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              color: {type: string}
              size: {type: integer, format: int32}
          status:
            type: object
            x-kubernetes-preserve-unknown-fields: true
`

var crdResource = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// CreateControl creates the control's CustomResourceDefinition in c and
// waits until kube-apiserver serves it (condition Established).
func CreateControl(ctx context.Context, c *cluster.Cluster) error {
	var crd unstructured.Unstructured
	if err := yaml.NewYAMLOrJSONDecoder(strings.NewReader(controlCRD), 4096).Decode(&crd.Object); err != nil {
		return err
	}
	crds := c.Dynamic().Resource(crdResource)
	if _, err := crds.Create(ctx, &crd, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("demoapi: create the control's CustomResourceDefinition: %w", err)
	}
	return poll(ctx, time.Minute, func(ctx context.Context) error {
		got, err := crds.Get(ctx, crd.GetName(), metav1.GetOptions{})
		if err != nil {
			return err
		}
		conditions, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
		for _, c := range conditions {
			if m, ok := c.(map[string]any); ok && m["type"] == "Established" && m["status"] == "True" {
				return nil
			}
		}
		return errors.New("not Established yet")
	})
}
