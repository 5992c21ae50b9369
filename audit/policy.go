package audit

import (
	"errors"
	"fmt"
	"log/slog"
	"os"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/apiserver/pkg/apis/audit/validation"
)

// The scheme of Kubernetes' audit package (pkg/audit/scheme.go), built here
// because that package imports OpenTelemetry through its metrics.
var (
	scheme = runtime.NewScheme()
	codecs = serializer.NewCodecFactory(scheme)
	strict = serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDecoder()
)

func init() {
	metav1.AddToGroupVersion(scheme, schema.GroupVersion{Version: "v1"})
	utilruntime.Must(auditv1.AddToScheme(scheme))
	utilruntime.Must(auditinternal.AddToScheme(scheme))
	utilruntime.Must(scheme.SetVersionPriority(auditv1.SchemeGroupVersion))
}

// loadPolicyFile reads and checks the policy file at path, as Kubernetes'
// policy.LoadPolicyFromFile.
func loadPolicyFile(path string, log *slog.Logger) (*auditinternal.Policy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("failed to read file path %q: %+v", path, err)
	}
	p, err := loadPolicy(b, log)
	if err != nil {
		return nil, fmt.Errorf("%v: from file %v", err, path)
	}
	return p, nil
}

// loadPolicy decodes and checks a policy (YAML or JSON) as Kubernetes'
// policy.LoadPolicyFromBytes: strictly, else leniently with a warning; only
// audit.k8s.io/v1; valid; at least one rule.
func loadPolicy(b []byte, log *slog.Logger) (*auditinternal.Policy, error) {
	p := &auditinternal.Policy{}
	_, gvk, err := strict.Decode(b, nil, p)
	if err != nil {
		if !runtime.IsStrictDecodingError(err) {
			return nil, fmt.Errorf("failed decoding: %w", err)
		}
		var lenientErr error
		_, gvk, lenientErr = codecs.UniversalDecoder(auditv1.SchemeGroupVersion).Decode(b, nil, p)
		if lenientErr != nil {
			return nil, fmt.Errorf("failed lenient decoding: %w", lenientErr)
		}
		log.Warn("audit policy contains errors, falling back to lenient decoding", "err", err.Error())
	}
	if gvk.GroupVersion() != auditv1.SchemeGroupVersion {
		return nil, fmt.Errorf("unknown group version field %v in policy", gvk)
	}
	return checkPolicy(p)
}

// convertPolicy converts and checks a policy given in memory.
func convertPolicy(in *auditv1.Policy) (*auditinternal.Policy, error) {
	p := &auditinternal.Policy{}
	if err := scheme.Convert(in.DeepCopy(), p, nil); err != nil {
		return nil, err
	}
	return checkPolicy(p)
}

func checkPolicy(p *auditinternal.Policy) (*auditinternal.Policy, error) {
	if errs := validation.ValidatePolicy(p); len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	if len(p.Rules) == 0 {
		return nil, errors.New("loaded illegal policy with 0 rules")
	}
	return p, nil
}
