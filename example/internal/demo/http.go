package demo

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metainternalversionscheme "k8s.io/apimachinery/pkg/apis/meta/internalversion/scheme"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/aggauth/aggauth/middleware"
	"github.com/aggauth/aggauth/objects"
	"github.com/aggauth/aggauth/serving"
)

// MaxBodyBytes bounds a request body, as kube-apiserver bounds them (3 MiB).
const MaxBodyBytes = 3 << 20

// A Handler serves one verb on widgets, for the namespace and name the router
// read from the path ("" where the path has none). Each server adapts it to
// its router.
type Handler func(w http.ResponseWriter, r *http.Request, namespace, name string)

// API serves the widgets of Store, one Handler per verb, behind aggauth's
// chain (which authenticates, authorizes and admits the request, and puts
// the caller and Kubernetes' RequestInfo in its context) and the discovery
// Handler (which refuses undeclared verbs with a 405 and puts the declared
// Endpoint in the context). Answers are written as kube-apiserver writes them
// (objects.Write: JSON, YAML, the Table of kubectl get, the
// PartialObjectMetadata of the cluster's controllers, 406 otherwise), and so
// are errors (objects.WriteError).
type API struct{ Store *Store }

// List lists the widgets of namespace (of every namespace for ""), or
// watches them (?watch=true, as kubectl get -w and informers ask).
func (a API) List(w http.ResponseWriter, r *http.Request, namespace, _ string) {
	if objects.IsWatch(r) {
		objects.ServeWatch(w, r, a.Store)
		return
	}
	caller, _ := request.UserFrom(r.Context()) // the user kube-apiserver forwarded, as aggauth authenticated it
	slog.DebugContext(r.Context(), "list widgets", "user", Username(caller))
	// The selectors are part of what was authorized: a list with
	// ?fieldSelector=metadata.name=x may be allowed for x alone.
	sel, err := middleware.SelectorsFrom(r.Context())
	if err != nil {
		objects.WriteError(w, r, err) // a 400 Status for a bad or unsupported selector
		return
	}
	objects.Write(w, r, http.StatusOK, a.Store.List(namespace, sel))
}

// Get gets a widget, or runs the demonstration its name is reserved for.
func (a API) Get(w http.ResponseWriter, r *http.Request, namespace, name string) {
	if Demonstrate(r.Context(), name) { // demo-panic panics, demo-slow waits: serving answers 500 or 504
		return
	}
	caller, _ := request.UserFrom(r.Context())
	auditID, _ := serving.AuditIDFrom(r.Context()) // kube-apiserver's, forwarded by its aggregator
	slog.DebugContext(r.Context(), "get widget", "user", Username(caller), "auditID", auditID)
	obj, err := a.Store.Get(namespace, name)
	respond(w, r, http.StatusOK, obj, err)
}

// Create creates a widget, recording the caller in status.createdBy.
func (a API) Create(w http.ResponseWriter, r *http.Request, namespace, _ string) {
	caller, _ := request.UserFrom(r.Context())
	var in Widget
	if err := objects.Decode(r, &in); err != nil { // 406, 415, 413, 422 or 400, as kube-apiserver
		objects.WriteError(w, r, err)
		return
	}
	Default(r.Context(), &in) // spec.color defaults to gray, with a warning kubectl prints
	obj, err := a.Store.Create(namespace, &in, caller)
	if err != nil {
		objects.WriteError(w, r, err)
		return
	}
	// The audit ID is kube-apiserver's for this request, as its audit log records it.
	auditID, _ := serving.AuditIDFrom(r.Context())
	slog.InfoContext(r.Context(), "created widget", "namespace", obj.Namespace, "name", obj.Name,
		"user", Username(caller), "auditID", auditID)
	objects.Write(w, r, http.StatusCreated, obj)
}

// Update replaces a widget (PUT, kubectl replace).
func (a API) Update(w http.ResponseWriter, r *http.Request, namespace, name string) {
	var in Widget
	if err := objects.Decode(r, &in); err != nil {
		objects.WriteError(w, r, err)
		return
	}
	obj, err := a.Store.Update(namespace, name, &in)
	respond(w, r, http.StatusOK, obj, err)
}

// Patch patches a widget (JSON merge patch or JSON patch).
func (a API) Patch(w http.ResponseWriter, r *http.Request, namespace, name string) {
	obj, err := a.Store.Patch(w, r, namespace, name)
	respond(w, r, http.StatusOK, obj, err)
}

// Delete deletes a widget: the answer is the success Status kube-apiserver
// answers when it is gone, or the widget while its finalizers keep it.
func (a API) Delete(w http.ResponseWriter, r *http.Request, namespace, name string) {
	caller, _ := request.UserFrom(r.Context())
	_, reason, _ := middleware.DecisionFrom(r.Context()) // why the authorizer allowed it
	slog.InfoContext(r.Context(), "delete widget", "user", Username(caller), "reason", reason)
	opts, err := deleteOptions(w, r)
	if err != nil {
		objects.WriteError(w, r, err)
		return
	}
	obj, gone, err := a.Store.Delete(namespace, name, opts)
	switch {
	case err != nil:
		objects.WriteError(w, r, err)
	case gone:
		objects.Write(w, r, http.StatusOK, &metav1.Status{
			Status:  metav1.StatusSuccess,
			Details: &metav1.StatusDetails{Name: name, Group: Group, Kind: Resource, UID: obj.UID},
		})
	default:
		objects.Write(w, r, http.StatusOK, obj)
	}
}

// DeleteCollection deletes the widgets of namespace the selectors select
// (kubectl delete --all, the namespace controller) and answers them.
func (a API) DeleteCollection(w http.ResponseWriter, r *http.Request, namespace, _ string) {
	sel, err := middleware.SelectorsFrom(r.Context())
	if err != nil {
		objects.WriteError(w, r, err)
		return
	}
	opts, err := deleteOptions(w, r)
	if err != nil {
		objects.WriteError(w, r, err)
		return
	}
	list, err := a.Store.DeleteCollection(namespace, sel, opts)
	respond(w, r, http.StatusOK, list, err)
}

// respond writes what the store answered: obj with code, or err.
func respond(w http.ResponseWriter, r *http.Request, code int, obj any, err error) {
	if err != nil {
		objects.WriteError(w, r, err)
		return
	}
	objects.Write(w, r, code, obj)
}

// deleteOptions reads the DeleteOptions of a delete from its body, else from
// its query, and checks them, as kube-apiserver does. A dry run is refused:
// the store cannot pretend to delete (kubectl delete --dry-run=server sends
// it in the body).
func deleteOptions(w http.ResponseWriter, r *http.Request) (*metav1.DeleteOptions, error) {
	body, err := readBody(w, r)
	if err != nil {
		return nil, err
	}
	opts := &metav1.DeleteOptions{}
	if len(body) > 0 {
		err = json.Unmarshal(body, opts)
	} else {
		err = metainternalversionscheme.ParameterCodec.DecodeParameters(r.URL.Query(), metav1.SchemeGroupVersion, opts)
	}
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	if errs := metav1validation.ValidateDeleteOptions(opts); len(errs) > 0 {
		return nil, apierrors.NewInvalid(schema.GroupKind{Group: metav1.GroupName, Kind: "DeleteOptions"}, "", errs)
	}
	if len(opts.DryRun) > 0 {
		return nil, errNoDryRun
	}
	return opts, nil
}

// readBody reads the body of r, at most MaxBodyBytes (a 413 beyond).
func readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, apierrors.NewRequestEntityTooLargeError(fmt.Sprintf("limit is %d", MaxBodyBytes))
		}
		return nil, apierrors.NewBadRequest("reading the request body: " + err.Error())
	}
	return data, nil
}

// NotFound answers a path the API does not serve with the 404 Status
// kube-apiserver answers one with.
func NotFound(w http.ResponseWriter, r *http.Request) {
	objects.WriteError(w, r, &apierrors.StatusError{ErrStatus: metav1.Status{
		Status:  metav1.StatusFailure,
		Code:    http.StatusNotFound,
		Reason:  metav1.StatusReasonNotFound,
		Message: "the server could not find the requested resource",
		Details: &metav1.StatusDetails{},
	}})
}

// MethodNotAllowed answers a method a path does not serve with a 405 Status.
func MethodNotAllowed(w http.ResponseWriter, r *http.Request) {
	objects.WriteError(w, r, apierrors.NewMethodNotSupported(GroupResource, r.Method))
}

var errNoDryRun = apierrors.NewBadRequest("dry run is not supported by this server")

// NoDryRun refuses, with a 400 Status, a mutating request that asks for a
// dry run (?dryRun=All, as kubectl --dry-run=server sends): the store cannot
// pretend to change, and a server must never apply a change the client asked
// only to try.
func NoDryRun(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead && r.URL.Query().Has("dryRun") {
			objects.WriteError(w, r, errNoDryRun)
			return
		}
		next.ServeHTTP(w, r)
	})
}
