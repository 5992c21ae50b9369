package audit_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/sets"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	k8saudit "k8s.io/apiserver/pkg/audit"
	"k8s.io/apiserver/pkg/audit/policy"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	genericfilters "k8s.io/apiserver/pkg/endpoints/filters"
	"k8s.io/apiserver/pkg/endpoints/filters/impersonation"
	"k8s.io/apiserver/pkg/endpoints/handlers/negotiation"
	"k8s.io/apiserver/pkg/endpoints/handlers/responsewriters"
	"k8s.io/apiserver/pkg/endpoints/request"
	serverfilters "k8s.io/apiserver/pkg/server/filters"
	pluginlog "k8s.io/apiserver/plugin/pkg/audit/log"

	"github.com/aggauth/aggauth/audit"
)

// This file holds the two implementations the differential tests drive with
// the same policy and requests: Kubernetes' filters in the generic
// apiserver's order (WithAuditInit, WithRequestInfo, WithAuthentication with
// WithFailedAuthenticationAudit, WithAudit, WithImpersonation, a 429 step
// where max-in-flight runs, WithAuthorization) writing through its log
// backend; and a small adapter that drives this package's Auditor as the
// pipeline does, at the same points.

// received is the time every request of the tests was received.
var received = time.Date(2026, 7, 1, 12, 0, 0, 123456789, time.UTC)

// auditID is the Audit-ID every request carries (the aggregator's).
const auditID = "0b5d1c9e-8a1e-4a55-8e32-3b8b9f0f2d11"

var (
	k8sScheme = runtime.NewScheme()
	k8sCodecs = serializer.NewCodecFactory(k8sScheme)
	resolver  = &request.RequestInfoFactory{APIPrefixes: sets.NewString("api", "apis"), GrouplessAPIPrefixes: sets.NewString("api")}
)

func init() {
	metav1.AddToGroupVersion(k8sScheme, schema.GroupVersion{Version: "v1"})
}

// testAuthenticator authenticates X-Test-User (with X-Test-Uid, X-Test-Group
// and X-Test-Scope as extra "scopes"); a bearer token "bad" is an error;
// anything else is no user (401).
var testAuthenticator = authenticator.RequestFunc(func(r *http.Request) (*authenticator.Response, bool, error) {
	if strings.HasPrefix(r.Header.Get("Authorization"), "Bearer bad") {
		return nil, false, errors.New("token rejected")
	}
	name := r.Header.Get("X-Test-User")
	if name == "" {
		return nil, false, nil
	}
	u := &user.DefaultInfo{Name: name, UID: r.Header.Get("X-Test-Uid"), Groups: r.Header.Values("X-Test-Group")}
	if scopes := r.Header.Values("X-Test-Scope"); len(scopes) > 0 {
		u.Extra = map[string][]string{"scopes": scopes, "authentication.kubernetes.io/credential-id": {"X509SHA256=ab"}}
	}
	return &authenticator.Response{User: u}, true, nil
})

// testAuthorizer allows everything except: "broken" gets an error, mallory
// no opinion, impersonation is for alice only, root is allowed without a
// reason.
var testAuthorizer = authorizer.AuthorizerFunc(func(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	name := a.GetUser().GetName()
	switch {
	case name == "broken":
		return authorizer.DecisionNoOpinion, "", errors.New("webhook unreachable")
	case a.GetVerb() == "impersonate" && name != "alice":
		return authorizer.DecisionNoOpinion, "impersonation is for alice", nil
	case name == user.Anonymous && a.GetVerb() != "get" && a.GetVerb() != "list":
		return authorizer.DecisionNoOpinion, "anonymous may only read", nil
	case name == "mallory":
		return authorizer.DecisionDeny, `RBAC: "mallory" is denied`, nil
	case name == "root":
		return authorizer.DecisionAllow, "", nil
	}
	return authorizer.DecisionAllow, `RBAC: allowed by ClusterRoleBinding "widgets" of ClusterRole "edit" to Group "devs"`, nil
})

// throttled answers 429 as Kubernetes' max-in-flight and priority and
// fairness filters do, when the request asks for it (X-Test-Throttle).
func throttled(w http.ResponseWriter, r *http.Request) bool {
	if r.Header.Get("X-Test-Throttle") == "" {
		return false
	}
	w.Header().Set("Retry-After", "1")
	http.Error(w, "Too many requests, please try again later.", http.StatusTooManyRequests)
	return true
}

// testHandler is the API handler behind both chains; annotate and
// writeStatus are each implementation's way for a handler to annotate the
// event and answer with a Status.
func testHandler(annotate func(ctx context.Context, k, v string), writeStatus func(w http.ResponseWriter, r *http.Request, err error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info, _ := request.RequestInfoFrom(r.Context())
		_, _ = io.Copy(io.Discard, r.Body)
		switch {
		case strings.HasSuffix(r.URL.Path, "/panic"):
			panic("boom")
		case strings.HasSuffix(r.URL.Path, "/silent"):
			return
		case strings.HasSuffix(r.URL.Path, "/missing"):
			writeStatus(w, r, apierrors.NewNotFound(schema.GroupResource{Group: info.APIGroup, Resource: info.Resource}, info.Name))
		case strings.HasSuffix(r.URL.Path, "/teapot"):
			w.WriteHeader(http.StatusTeapot)
			_, _ = io.WriteString(w, "short and stout")
		case strings.HasSuffix(r.URL.Path, "/annotated"):
			annotate(r.Context(), "demo.example.com/handler", "seen")
			annotate(r.Context(), "demo.example.com/handler", "seen twice") // the first value stays
			annotate(r.Context(), "authorization.k8s.io/decision", "overridden?")
			_, _ = io.WriteString(w, `{"kind":"Widget"}`)
		case strings.HasSuffix(r.URL.Path, "/hints"):
			w.WriteHeader(http.StatusEarlyHints)
			w.WriteHeader(http.StatusOK)
		case strings.HasSuffix(r.URL.Path, "/flushed"):
			http.NewResponseController(w).Flush()
		case info.Verb == "watch":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			http.NewResponseController(w).Flush()
			_, _ = io.WriteString(w, `{"type":"ADDED","object":{"kind":"Widget"}}`+"\n")
		case r.Method == http.MethodPost:
			w.WriteHeader(http.StatusCreated)
			_, _ = io.WriteString(w, `{"kind":"Widget","metadata":{"name":"w1"}}`)
		default:
			_, _ = io.WriteString(w, `{"kind":"WidgetList","items":[]}`)
		}
	})
}

// k8sChain is Kubernetes' chain, writing its audit log to log.
func k8sChain(t testing.TB, policyYAML string, log io.Writer) http.Handler {
	t.Helper()
	p, err := policy.LoadPolicyFromBytes([]byte(policyYAML))
	require.NoError(t, err)
	eval := policy.NewPolicyRuleEvaluator(p)
	sink := pluginlog.NewBackend(log, pluginlog.FormatJson, auditv1.SchemeGroupVersion)
	longRunning := serverfilters.BasicLongRunningRequestCheck(sets.NewString("watch"), sets.NewString())
	h := testHandler(k8saudit.AddAuditAnnotation, func(w http.ResponseWriter, r *http.Request, err error) {
		info, _ := request.RequestInfoFrom(r.Context())
		responsewriters.ErrorNegotiated(err, k8sCodecs, schema.GroupVersion{Group: info.APIGroup, Version: info.APIVersion}, w, r)
	})
	h = genericfilters.WithAuthorization(h, testAuthorizer, k8sCodecs)
	next := h
	h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !throttled(w, r) {
			next.ServeHTTP(w, r)
		}
	})
	h = impersonation.WithImpersonation(h, testAuthorizer, k8sCodecs)
	h = genericfilters.WithAudit(h, sink, eval, longRunning)
	failed := genericfilters.WithFailedAuthenticationAudit(genericfilters.Unauthorized(k8sCodecs), sink, eval)
	h = genericfilters.WithAuthentication(h, testAuthenticator, failed, nil, nil)
	h = genericfilters.WithRequestInfo(h, resolver)
	h = genericfilters.WithAuditInit(h)
	return withReceived(h)
}

// withReceived gives the request its received time, and absorbs the panic
// both chains pass on.
func withReceived(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { _ = recover() }()
		h.ServeHTTP(w, r.WithContext(request.WithReceivedTimestamp(r.Context(), received)))
	})
}

// newAuditor returns an Auditor of the policy, writing to log.
func newAuditor(t testing.TB, policyYAML string, log io.Writer, opts audit.Options) *audit.Auditor {
	t.Helper()
	path := filepath.Join(t.TempDir(), "policy.yaml")
	require.NoError(t, os.WriteFile(path, []byte(policyYAML), 0o600))
	opts.PolicyFile, opts.Writer = path, log
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	a, err := audit.New(opts)
	require.NoError(t, err)
	require.NotNil(t, a)
	t.Cleanup(func() { _ = a.Close() })
	return a
}

// ourChain is the adapter: the same steps as k8sChain, with the Auditor's
// calls where the pipeline makes them.
func ourChain(a *audit.Auditor) http.Handler {
	handler := testHandler(func(ctx context.Context, k, v string) { audit.RecordFrom(ctx).Annotate(k, v) },
		func(w http.ResponseWriter, r *http.Request, err error) {
			st := apierrors.APIStatus(nil)
			if !errors.As(err, &st) {
				panic(err)
			}
			s := st.Status()
			audit.RecordFrom(r.Context()).SetResponseStatus(&s)
			writeStatus(w, &s)
		})
	return withReceived(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info, err := resolver.NewRequestInfo(r)
		if err != nil {
			panic(err)
		}
		ctx := request.WithRequestInfo(r.Context(), info)
		r = r.WithContext(ctx)
		id := r.Header.Get("Audit-ID")
		resp, ok, err := testAuthenticator.AuthenticateRequest(r)
		if err != nil || !ok {
			// Before the 401 is written: the request as it came.
			rec := a.FailedAuthentication(r, info, id, received)
			st := apierrors.NewUnauthorized("Unauthorized").Status()
			if acceptable(r) { // Kubernetes records the Status only when it can negotiate it
				rec.SetResponseStatus(&st)
			}
			writeStatus(rec.Writer(w), &st)
			rec.End()
			return
		}
		r.Header.Del("Authorization")
		u := resp.User
		rec, err := a.Begin(r, info, u, id, received, info.Verb == "watch")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w = rec.Writer(w)
		r = r.WithContext(audit.WithRecord(request.WithUser(ctx, u), rec))
		defer func() {
			if v := recover(); v != nil {
				rec.Panic(v)
				panic(v)
			}
			rec.End()
		}()
		if name := r.Header.Get("Impersonate-User"); name != "" {
			groups := r.Header.Values("Impersonate-Group")
			for _, attrs := range impersonationAttributes(u, name, groups) {
				if d, reason, err := testAuthorizer.Authorize(ctx, attrs); err != nil || d != authorizer.DecisionAllow {
					forbid(w, r, rec, attrs, reason)
					return
				}
			}
			if !sets.NewString(groups...).HasAny(user.AllAuthenticated, user.AllUnauthenticated) {
				groups = append(groups, user.AllAuthenticated)
			}
			u = &user.DefaultInfo{Name: name, Groups: groups, Extra: map[string][]string{}}
			rec.SetImpersonatedUser(u, "")
			r = r.WithContext(request.WithUser(r.Context(), u))
		}
		if throttled(w, r) {
			return
		}
		attrs := attributes(u, info)
		d, reason, err := testAuthorizer.Authorize(ctx, attrs)
		rec.Authorized(d, reason, err)
		if d != authorizer.DecisionAllow {
			if err != nil {
				http.Error(w, "Internal Server Error", http.StatusInternalServerError)
				return
			}
			forbid(w, r, rec, attrs, reason)
			return
		}
		handler.ServeHTTP(w, r)
	}))
}

func impersonationAttributes(requestor user.Info, name string, groups []string) []authorizer.Attributes {
	list := []authorizer.Attributes{&authorizer.AttributesRecord{User: requestor, Verb: "impersonate", APIVersion: "v1",
		Resource: "users", Name: name, ResourceRequest: true}}
	for _, g := range groups {
		list = append(list, &authorizer.AttributesRecord{User: requestor, Verb: "impersonate", APIVersion: "v1",
			Resource: "groups", Name: g, ResourceRequest: true})
	}
	return list
}

func attributes(u user.Info, info *request.RequestInfo) authorizer.Attributes {
	return &authorizer.AttributesRecord{User: u, Verb: info.Verb, Namespace: info.Namespace, APIGroup: info.APIGroup,
		APIVersion: info.APIVersion, Resource: info.Resource, Subresource: info.Subresource, Name: info.Name,
		ResourceRequest: info.IsResourceRequest, Path: info.Path}
}

func forbid(w http.ResponseWriter, r *http.Request, rec *audit.Record, attrs authorizer.Attributes, reason string) {
	st := responsewriters.ForbiddenStatusError(attrs, reason).Status()
	if acceptable(r) {
		rec.SetResponseStatus(&st)
	}
	writeStatus(w, &st)
}

// acceptable reports whether Kubernetes can answer r in a media type it
// accepts (else it writes the Status as raw JSON, without recording it).
func acceptable(r *http.Request) bool {
	_, _, err := negotiation.NegotiateOutputMediaType(r, k8sCodecs, negotiation.DefaultEndpointRestrictions)
	return err == nil
}

func writeStatus(w http.ResponseWriter, s *metav1.Status) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(int(s.Code))
	_, _ = fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","status":%q,"message":%q,"code":%d}`, s.Status, s.Message, s.Code)
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// take returns what was written since the last take.
func (s *syncBuffer) take() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.b.String()
	s.b.Reset()
	return out
}
