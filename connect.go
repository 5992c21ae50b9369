package aggauth

import (
	"fmt"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// purpose is what a connection to kube-apiserver is for: it chooses the
// kubeconfig (--authentication-kubeconfig or --authorization-kubeconfig,
// else --kubeconfig).
type purpose int

const (
	forAuthentication purpose = iota // the ConfigMap, TokenReviews
	forAuthorization                 // SubjectAccessReviews, namespaces
)

// restConfig returns the client configuration for one purpose, with the
// options' QPS and Burst: RESTConfig when set, else the purpose's kubeconfig,
// else Kubeconfig, else the in-cluster configuration. It is called only when
// a client has to be built, so that options giving every client need none.
func (o Options) restConfig(p purpose) (*rest.Config, error) {
	override := o.AuthenticationKubeconfig
	if p == forAuthorization {
		override = o.AuthorizationKubeconfig
	}
	var cfg *rest.Config
	var err error
	switch path := firstNonEmpty(override, o.Kubeconfig); {
	case o.RESTConfig != nil:
		cfg = rest.CopyConfig(o.RESTConfig)
	case path != "":
		cfg, err = clientcmd.BuildConfigFromFlags("", path)
	default:
		cfg, err = rest.InClusterConfig()
		if err != nil {
			err = fmt.Errorf("%w (outside a cluster, set --kubeconfig)", err)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("aggauth: connecting to kube-apiserver: %w", err)
	}
	cfg.QPS, cfg.Burst = o.QPS, o.Burst
	return cfg, nil
}

// clientset returns Clientset when set, else a clientset of its own (and so a
// budget of its own) for the purpose.
func (o Options) clientset(p purpose) (kubernetes.Interface, error) {
	if o.Clientset != nil {
		return o.Clientset, nil
	}
	cfg, err := o.restConfig(p)
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("aggauth: %w", err)
	}
	return cs, nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
