package cluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/aggauth/aggauth/internal/testpki"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// identityTokenTTL is how long the extension identity's token is valid.
const identityTokenTTL = 7 * 24 * 3600

// ExtensionOptions describes an extension apiserver listening on loopback.
type ExtensionOptions struct {
	// Group and Version are the API the extension serves. Required.
	Group, Version string
	// Namespace holds the Service and ServiceAccount. Default "aggauth-system".
	Namespace string
	// Name is the Service's and ServiceAccount's name. Default "aggauth-extension".
	Name string
	// Port is the loopback port the extension listens on. Default: a free port.
	Port int
	// InsecureSkipTLSVerify registers the APIService without a caBundle, so the
	// aggregator does not verify the extension's serving certificate.
	// Default false: caBundle is the extension's CA.
	InsecureSkipTLSVerify bool
	// GroupPriorityMinimum and VersionPriority go to the APIService.
	// Defaults 1000 and 15.
	GroupPriorityMinimum, VersionPriority int32
}

// Extension is an extension apiserver prepared for registration: its serving
// certificate, its identity and the RBAC that identity needs. The server
// itself runs in the test (Listen) or as a child process (Start).
type Extension struct {
	Options ExtensionOptions // with defaults applied
	// Port is the loopback port the extension must listen on.
	Port int
	// CA signs Serving; the APIService's caBundle.
	CA *testpki.Cert
	// Serving is the serving certificate: SANs <name>.<namespace>.svc,
	// localhost and 127.0.0.1.
	Serving *testpki.Cert
	// CertFile, KeyFile and CAFile are Serving and CA on disk.
	CertFile, KeyFile, CAFile string
	// Identity is the extension's own identity, the service account
	// <namespace>/<name>, with a token kubeconfig (Identity.Kubeconfig). It is
	// bound to system:auth-delegator, to extension-apiserver-authentication-reader
	// in kube-system, and may get, list and watch namespaces.
	Identity *User

	cluster *Cluster
}

// PrepareExtension creates the namespace, the service account with its RBAC
// and token kubeconfig, and the serving certificate of an extension. Register
// it once it listens.
func (c *Cluster) PrepareExtension(ctx context.Context, opts ExtensionOptions) (*Extension, error) {
	if opts.Group == "" || opts.Version == "" {
		return nil, errors.New("cluster: ExtensionOptions needs Group and Version")
	}
	if opts.Namespace == "" {
		opts.Namespace = "aggauth-system"
	}
	if opts.Name == "" {
		opts.Name = "aggauth-extension"
	}
	if opts.GroupPriorityMinimum == 0 {
		opts.GroupPriorityMinimum = 1000
	}
	if opts.VersionPriority == 0 {
		opts.VersionPriority = 15
	}
	if opts.Port == 0 {
		p, err := freePorts(1)
		if err != nil {
			return nil, err
		}
		opts.Port = p[0]
	}
	e := &Extension{Options: opts, Port: opts.Port, cluster: c}
	if err := e.writeServingCert(); err != nil {
		return nil, err
	}
	if err := c.ensureNamespace(ctx, opts.Namespace); err != nil {
		return nil, err
	}
	if err := e.createIdentity(ctx); err != nil {
		return nil, err
	}
	if err := e.bindRBAC(ctx); err != nil {
		return nil, err
	}
	return e, nil
}

// Dir is where the extension's files are.
func (e *Extension) Dir() string {
	return filepath.Join(e.cluster.dir, "extensions", e.Options.Namespace+"_"+e.Options.Name)
}

// ServiceHost is the name the aggregator checks on the serving certificate.
func (e *Extension) ServiceHost() string {
	return e.Options.Name + "." + e.Options.Namespace + ".svc"
}

// Args are the flags, named as Kubernetes' secure serving and delegating
// authentication and authorization options name them, that configure an
// extension server for this registration: --bind-address=127.0.0.1,
// --secure-port, --tls-cert-file, --tls-private-key-file and --kubeconfig.
func (e *Extension) Args() []string {
	return []string{
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(e.Port),
		"--tls-cert-file=" + e.CertFile,
		"--tls-private-key-file=" + e.KeyFile,
		"--kubeconfig=" + e.Identity.Kubeconfig,
	}
}

// Start runs the extension binary at path with Args followed by extra, its
// log in the cluster's LogDir as <Name>.log.
func (e *Extension) Start(path string, extra ...string) (*Process, error) {
	return e.StartAs(e.Options.Name, path, extra...)
}

// StartAs is Start with the process and its log file named name (log
// <name>.log): another process of the same extension, such as the new one of
// a rolling restart.
func (e *Extension) StartAs(name, path string, extra ...string) (*Process, error) {
	return e.cluster.StartProcess(ProcessSpec{
		Name: name,
		Path: path,
		Args: append(e.Args(), extra...),
	})
}

func (e *Extension) writeServingCert() error {
	ca := newCA("aggauth-e2e-extension-ca", testpki.ECDSA)
	serving := issue(ca, servingSpec(e.ServiceHost(), e.ServiceHost(), "localhost"))
	e.CA, e.Serving = ca, serving
	var err error
	if e.CertFile, e.KeyFile, err = serving.WriteFiles(e.Dir(), "serving"); err != nil {
		return err
	}
	e.CAFile = filepath.Join(e.Dir(), "ca.crt")
	return os.WriteFile(e.CAFile, ca.PEM(), 0o600)
}

func (c *Cluster) ensureNamespace(ctx context.Context, name string) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	_, err := c.Client().CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("cluster: create namespace %s: %w", name, err)
	}
	return nil
}

// createIdentity creates the service account and a kubeconfig with a token for it.
func (e *Extension) createIdentity(ctx context.Context) error {
	ns, name := e.Options.Namespace, e.Options.Name
	sas := e.cluster.Client().CoreV1().ServiceAccounts(ns)
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := sas.Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("cluster: create service account %s/%s: %w", ns, name, err)
	}
	ttl := int64(identityTokenTTL)
	tr, err := sas.CreateToken(ctx, name, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &ttl},
	}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("cluster: token for %s/%s: %w", ns, name, err)
	}
	user := "system:serviceaccount:" + ns + ":" + name
	u, err := e.cluster.userFor(user, &clientcmdapi.AuthInfo{Token: tr.Status.Token})
	if err != nil {
		return err
	}
	u.Groups = []string{"system:serviceaccounts", "system:serviceaccounts:" + ns}
	e.Identity = u
	return nil
}

// bindRBAC grants the extension's identity what a delegating extension
// apiserver needs: TokenReview and SubjectAccessReview, the authentication
// ConfigMap, and namespaces for admission.
func (e *Extension) bindRBAC(ctx context.Context) error {
	rbac := e.cluster.Client().RbacV1()
	ns, name := e.Options.Namespace, e.Options.Name
	prefix := "aggauth-e2e:" + ns + ":" + name
	subjects := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: name}}
	objects := []func() error{
		func() error {
			_, err := rbac.ClusterRoles().Create(ctx, &rbacv1.ClusterRole{
				ObjectMeta: metav1.ObjectMeta{Name: prefix + ":namespace-reader"},
				Rules: []rbacv1.PolicyRule{{
					APIGroups: []string{""}, Resources: []string{"namespaces"}, Verbs: []string{"get", "list", "watch"},
				}},
			}, metav1.CreateOptions{})
			return err
		},
		func() error {
			return e.cluster.bindClusterRole(ctx, prefix+":namespace-reader", prefix+":namespace-reader", subjects)
		},
		func() error {
			return e.cluster.bindClusterRole(ctx, prefix+":auth-delegator", "system:auth-delegator", subjects)
		},
		func() error {
			_, err := rbac.RoleBindings(AuthConfigMapNamespace).Create(ctx, &rbacv1.RoleBinding{
				ObjectMeta: metav1.ObjectMeta{Name: prefix + ":authentication-reader"},
				RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: "extension-apiserver-authentication-reader"},
				Subjects:   subjects,
			}, metav1.CreateOptions{})
			return err
		},
	}
	for _, create := range objects {
		if err := create(); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("cluster: RBAC for %s/%s: %w", ns, name, err)
		}
	}
	return nil
}
