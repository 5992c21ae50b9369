package audit_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/aggauth/aggauth/audit"
)

// An Auditor with a policy and a log in memory (a file and --audit-* flags in
// production), auditing one request as the pipeline does: Begin after
// authentication, the authorization decision, the response through Writer,
// End after the handler.
func Example() {
	received := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	a, err := audit.New(audit.Options{
		Policy: &auditv1.Policy{
			OmitStages: []auditv1.Stage{auditv1.StageRequestReceived},
			Rules:      []auditv1.PolicyRule{{Level: auditv1.LevelMetadata}},
		},
		Writer: os.Stdout,
		Clock:  func() time.Time { return received.Add(3 * time.Millisecond) },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer a.Close()

	// A request kube-apiserver's aggregator forwards for alice.
	r := httptest.NewRequest(http.MethodGet, "/apis/demo.example.com/v1/namespaces/team-a/widgets?limit=5", nil)
	r.RemoteAddr = "10.0.0.1:443"
	r.Header.Set("X-Forwarded-For", "192.0.2.7")
	r.Header.Set("User-Agent", "kubectl/v1.37.2")
	info := &request.RequestInfo{IsResourceRequest: true, Path: r.URL.Path, Verb: "list", APIPrefix: "apis",
		APIGroup: "demo.example.com", APIVersion: "v1", Namespace: "team-a", Resource: "widgets"}
	alice := &user.DefaultInfo{Name: "alice", Groups: []string{"devs", "system:authenticated"}}

	rec, err := a.Begin(r, info, alice, "0b5d1c9e-8a1e-4a55-8e32-3b8b9f0f2d11", received, false)
	if err != nil { // only in blocking-strict mode: answer 500
		fmt.Println(err)
		return
	}
	rec.Authorized(authorizer.DecisionAllow, `RBAC: allowed by RoleBinding "widgets/team-a"`, nil)
	w := rec.Writer(httptest.NewRecorder())
	w.WriteHeader(http.StatusOK) // the handler
	rec.End()
	// Output:
	// {"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"0b5d1c9e-8a1e-4a55-8e32-3b8b9f0f2d11","stage":"ResponseComplete","requestURI":"/apis/demo.example.com/v1/namespaces/team-a/widgets?limit=5","verb":"list","user":{"username":"alice","groups":["devs","system:authenticated"]},"sourceIPs":["192.0.2.7","10.0.0.1"],"userAgent":"kubectl/v1.37.2","objectRef":{"resource":"widgets","namespace":"team-a","apiGroup":"demo.example.com","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":200},"requestReceivedTimestamp":"2026-07-01T12:00:00.000000Z","stageTimestamp":"2026-07-01T12:00:00.003000Z","annotations":{"authorization.k8s.io/decision":"allow","authorization.k8s.io/reason":"RBAC: allowed by RoleBinding \"widgets/team-a\""}}
}
