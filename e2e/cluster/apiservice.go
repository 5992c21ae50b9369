package cluster

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// APIServiceResource is the resource of APIService objects.
var APIServiceResource = schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}

// APIServiceName is the name of the APIService: <version>.<group>.
func (e *Extension) APIServiceName() string { return e.Options.Version + "." + e.Options.Group }

// Register creates the ExternalName Service to localhost and the APIService
// that sends the group and version to it, then waits until the aggregator
// reports the APIService Available. The extension must be listening.
func (e *Extension) Register(ctx context.Context) error {
	if err := e.createService(ctx); err != nil {
		return err
	}
	apis := e.cluster.Dynamic().Resource(APIServiceResource)
	obj := e.apiService()
	_, err := apis.Create(ctx, obj, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		var cur *unstructured.Unstructured
		if cur, err = apis.Get(ctx, obj.GetName(), metav1.GetOptions{}); err == nil {
			obj.SetResourceVersion(cur.GetResourceVersion())
			_, err = apis.Update(ctx, obj, metav1.UpdateOptions{})
		}
	}
	if err != nil {
		return fmt.Errorf("cluster: APIService %s: %w", obj.GetName(), err)
	}
	return e.WaitAvailable(ctx)
}

func (e *Extension) createService(ctx context.Context) error {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: e.Options.Name, Namespace: e.Options.Namespace},
		Spec: corev1.ServiceSpec{
			Type:         corev1.ServiceTypeExternalName,
			ExternalName: "localhost",
			Ports:        []corev1.ServicePort{{Name: "https", Port: int32(e.Port), Protocol: corev1.ProtocolTCP}},
		},
	}
	_, err := e.cluster.Client().CoreV1().Services(e.Options.Namespace).Create(ctx, svc, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("cluster: Service %s/%s: %w", e.Options.Namespace, e.Options.Name, err)
	}
	return nil
}

func (e *Extension) apiService() *unstructured.Unstructured {
	spec := map[string]any{
		"group":                e.Options.Group,
		"version":              e.Options.Version,
		"groupPriorityMinimum": int64(e.Options.GroupPriorityMinimum),
		"versionPriority":      int64(e.Options.VersionPriority),
		"service": map[string]any{
			"namespace": e.Options.Namespace,
			"name":      e.Options.Name,
			"port":      int64(e.Port),
		},
	}
	if e.Options.InsecureSkipTLSVerify {
		spec["insecureSkipTLSVerify"] = true
	} else {
		spec["caBundle"] = base64.StdEncoding.EncodeToString(e.CA.PEM())
	}
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiregistration.k8s.io/v1",
		"kind":       "APIService",
		"metadata":   map[string]any{"name": e.APIServiceName()},
		"spec":       spec,
	}}
}

// WaitAvailable waits until the APIService's Available condition is True and
// kube-apiserver proxies the group version's discovery document to the
// extension (as the administrator): right after a restart the stored
// condition may still be True while the proxy is not set up yet.
func (e *Extension) WaitAvailable(ctx context.Context) error {
	apis := e.cluster.Dynamic().Resource(APIServiceResource)
	rc := e.cluster.Client().Discovery().RESTClient()
	path := "/apis/" + e.Options.Group + "/" + e.Options.Version
	return waitFor(ctx, e.cluster.opts.ReadyTimeout, nil, "APIService "+e.APIServiceName()+" Available", func(ctx context.Context) error {
		obj, err := apis.Get(ctx, e.APIServiceName(), metav1.GetOptions{})
		if err != nil {
			return err
		}
		status, reason, message := APIServiceAvailable(obj)
		if status != "True" {
			return fmt.Errorf("condition Available=%q reason %q: %s", status, reason, message)
		}
		if _, err := rc.Get().AbsPath(path).DoRaw(ctx); err != nil {
			return fmt.Errorf("GET %s through kube-apiserver: %w", path, err)
		}
		return nil
	})
}

// APIServiceAvailable returns the status, reason and message of an
// APIService's Available condition; status is "" when there is none.
func APIServiceAvailable(obj *unstructured.Unstructured) (status, reason, message string) {
	conds, _, _ := unstructured.NestedSlice(obj.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if !ok || m["type"] != "Available" {
			continue
		}
		s, _ := m["status"].(string)
		r, _ := m["reason"].(string)
		msg, _ := m["message"].(string)
		return s, r, msg
	}
	return "", "", ""
}

// Listen listens on the extension's loopback port, 127.0.0.1:Port, without
// TLS. Serve HTTPS on it with ServerTLSConfig.
func (e *Extension) Listen() (net.Listener, error) {
	return net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(e.Port)))
}

// ServerTLSConfig serves the extension's certificate over HTTP/2 or HTTP/1.1
// and asks clients for a certificate without verifying it: checking the
// front-proxy certificate is the job of the code under test.
func (e *Extension) ServerTLSConfig() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{e.Serving.TLSCertificate()},
		ClientAuth:   tls.RequestClientCert,
		NextProtos:   []string{"h2", "http/1.1"},
		MinVersion:   tls.VersionTLS12,
	}
}

// URL is the extension's base URL on loopback, https://127.0.0.1:<port>.
func (e *Extension) URL() string { return "https://127.0.0.1:" + strconv.Itoa(e.Port) }

// HTTPClient returns a client that sends requests straight to the extension:
// it trusts the extension's CA and presents the first of certs (none: no
// client certificate). The certificate is presented whatever authorities the
// server names as acceptable, as client-go's transport (and so the aggregator)
// does: the server, not the client, decides whether it is trusted.
func (e *Extension) HTTPClient(certs ...tls.Certificate) *http.Client {
	tlsCfg := &tls.Config{RootCAs: e.CA.Pool(), MinVersion: tls.VersionTLS12}
	if len(certs) > 0 {
		cert := certs[0]
		tlsCfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
	}
	tr := &http.Transport{
		TLSClientConfig:     tlsCfg,
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     30 * time.Second,
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// ProxyClient returns a client that sends requests straight to the extension
// as the aggregator does: presenting the cluster's current front-proxy client
// certificate. Set the X-Remote-* headers on each request.
func (e *Extension) ProxyClient() *http.Client {
	return e.HTTPClient(e.cluster.FrontProxyClient().TLSCertificate())
}

// Unregister deletes the APIService and the Service; the rest stays.
func (e *Extension) Unregister(ctx context.Context) error {
	err := e.cluster.Dynamic().Resource(APIServiceResource).Delete(ctx, e.APIServiceName(), metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	err = e.cluster.Client().CoreV1().Services(e.Options.Namespace).Delete(ctx, e.Options.Name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return nil
}
