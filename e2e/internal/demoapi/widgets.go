package demoapi

import (
	"crypto/sha256"
	"crypto/x509"
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The API the example servers serve.
const (
	Group    = "demo.aggauth.io"
	Version  = "v1"
	Resource = "widgets"
	Kind     = "Widget"
	// GroupResource is how kube-apiserver names widgets in messages.
	GroupResource = Resource + "." + Group
	// VersionPath is the group version's discovery document.
	VersionPath = "/apis/" + Group + "/" + Version
	// APIServiceName is the APIService that registers the group version.
	APIServiceName = Version + "." + Group
)

// Widget names reserved for the example servers' demonstrations of the
// serving package (example/internal/demo/demonstrations.go): a get of
// PanicWidget panics in the handler, a get of SlowWidget waits until its
// request's context ends.
const (
	PanicWidget = "demo-panic"
	SlowWidget  = "demo-slow"
)

// ColorDefaultedWarning is the warning the example servers add, with
// k8s.io/apiserver/pkg/warning.AddWarning, to the create of a widget without
// spec.color, which they default to gray.
const ColorDefaultedWarning = "spec.color is empty; defaulting to gray"

// Widgets is the widgets resource, for the dynamic client.
var Widgets = schema.GroupVersionResource{Group: Group, Version: Version, Resource: Resource}

// CredentialIDExtra is the extra key under which kube-apiserver forwards the
// credential a user authenticated with.
const CredentialIDExtra = "authentication.kubernetes.io/credential-id"

// WidgetsPath is the collection path of widgets in namespace.
func WidgetsPath(namespace string) string {
	return VersionPath + "/namespaces/" + namespace + "/" + Resource
}

// Widget returns a Widget to create.
func Widget(namespace, name, color string) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": Group + "/" + Version,
		"kind":       Kind,
		"metadata":   map[string]any{"name": name, "namespace": namespace},
		"spec":       map[string]any{"color": color},
	}}
}

// WidgetYAML is Widget as a manifest for kubectl create -f.
func WidgetYAML(namespace, name, color string) string {
	return fmt.Sprintf(`apiVersion: %s/%s
kind: %s
metadata:
  name: %s
  namespace: %s
spec:
  color: %s
`, Group, Version, Kind, name, namespace, color)
}

// CreatedBy returns status.createdBy of a Widget: the caller as the server
// saw it.
func CreatedBy(obj *unstructured.Unstructured) (authenticationv1.UserInfo, error) {
	var info authenticationv1.UserInfo
	m, found, err := unstructured.NestedMap(obj.Object, "status", "createdBy")
	if err != nil || !found {
		return info, fmt.Errorf("demoapi: widget %s/%s has no status.createdBy (%v)", obj.GetNamespace(), obj.GetName(), err)
	}
	err = runtime.DefaultUnstructuredConverter.FromUnstructured(m, &info)
	return info, err
}

// CredentialID is the credential id kube-apiserver gives a user authenticated
// by the client certificate cert: X509SHA256=<hex SHA-256 of the DER>.
func CredentialID(cert *x509.Certificate) string {
	return fmt.Sprintf("X509SHA256=%x", sha256.Sum256(cert.Raw))
}
