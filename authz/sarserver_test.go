package authz_test

import (
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	authorizationv1client "k8s.io/client-go/kubernetes/typed/authorization/v1"
	"k8s.io/client-go/rest"

	"github.com/aggauth/aggauth/authz"
)

const sarPath = "/apis/authorization.k8s.io/v1/subjectaccessreviews"

// sarServer is an HTTPS (HTTP/2) server that speaks the SubjectAccessReview
// API and records every review it receives.
type sarServer struct {
	*httptest.Server
	// answer decides each review; it returns the status, or an API error to send.
	answer func(spec authorizationv1.SubjectAccessReviewSpec) (authorizationv1.SubjectAccessReviewStatus, *apierrors.StatusError)
	// gate, when set, holds every answer until it is closed.
	gate chan struct{}

	mu     sync.Mutex
	specs  []authorizationv1.SubjectAccessReviewSpec
	bodies [][]byte

	count, active, maxActive atomic.Int64
	// cancelled counts the held reviews whose client went away.
	cancelled atomic.Int64
}

// allowAll answers every review with an allow.
func allowAll(authorizationv1.SubjectAccessReviewSpec) (authorizationv1.SubjectAccessReviewStatus, *apierrors.StatusError) {
	return authorizationv1.SubjectAccessReviewStatus{Allowed: true, Reason: "allowed by test"}, nil
}

func newSARServer(t testing.TB, answer func(authorizationv1.SubjectAccessReviewSpec) (authorizationv1.SubjectAccessReviewStatus, *apierrors.StatusError)) *sarServer {
	s := &sarServer{answer: answer}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.EnableHTTP2 = true
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

func (s *sarServer) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != sarPath {
		http.NotFound(w, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	// client-go sends protobuf or JSON; the universal deserializer reads both.
	var sar authorizationv1.SubjectAccessReview
	if _, _, err := scheme.Codecs.UniversalDeserializer().Decode(body, nil, &sar); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.count.Add(1)
	n := s.active.Add(1)
	defer s.active.Add(-1)
	for {
		m := s.maxActive.Load()
		if n <= m || s.maxActive.CompareAndSwap(m, n) {
			break
		}
	}
	s.mu.Lock()
	s.specs = append(s.specs, sar.Spec)
	s.bodies = append(s.bodies, body)
	gate, answer := s.gate, s.answer
	s.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
			s.cancelled.Add(1)
			return
		}
	}
	status, apiErr := answer(sar.Spec)
	w.Header().Set("Content-Type", "application/json")
	if apiErr != nil {
		st := apiErr.Status()
		st.Kind, st.APIVersion = "Status", "v1"
		// Retry-After travels in the Status only: client-go would act on the
		// header itself, sleeping, before the authorizer sees the error.
		w.WriteHeader(int(st.Code))
		_ = json.NewEncoder(w).Encode(st)
		return
	}
	sar.Status = status
	sar.APIVersion, sar.Kind = "authorization.k8s.io/v1", "SubjectAccessReview"
	_ = json.NewEncoder(w).Encode(&sar)
}

// setAnswer replaces how reviews are answered.
func (s *sarServer) setAnswer(answer func(authorizationv1.SubjectAccessReviewSpec) (authorizationv1.SubjectAccessReviewStatus, *apierrors.StatusError)) {
	s.mu.Lock()
	s.answer = answer
	s.mu.Unlock()
}

// hold makes every answer wait until the returned function is called, or the
// test ends.
func (s *sarServer) hold(t testing.TB) (release func()) {
	gate := make(chan struct{})
	s.mu.Lock()
	s.gate = gate
	s.mu.Unlock()
	var once sync.Once
	release = func() { once.Do(func() { close(gate) }) }
	t.Cleanup(release) // runs before the server closes
	return release
}

func (s *sarServer) received() []authorizationv1.SubjectAccessReviewSpec {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]authorizationv1.SubjectAccessReviewSpec(nil), s.specs...)
}

func (s *sarServer) receivedBodies() [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]byte(nil), s.bodies...)
}

// restConfig returns a client configuration trusting the server's certificate.
func (s *sarServer) restConfig() *rest.Config {
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})
	return &rest.Config{Host: s.URL, TLSClientConfig: rest.TLSClientConfig{CAData: caPEM}, QPS: 200, Burst: 400}
}

// client returns our SubjectAccessReview client for the server.
func (s *sarServer) client(t testing.TB) authorizationv1client.SubjectAccessReviewInterface {
	c, err := authz.NewClient(s.restConfig(), authz.ClientOptions{})
	require.NoError(t, err)
	return c
}

// statusError is an API error with the given code, suggesting a retry delay
// when retryAfter is set.
func statusError(code int32, retryAfter bool) *apierrors.StatusError {
	st := metav1.Status{Status: metav1.StatusFailure, Code: code, Reason: metav1.StatusReasonUnknown, Message: "test failure"}
	switch code {
	case http.StatusInternalServerError:
		st.Reason = metav1.StatusReasonInternalError
	case http.StatusGatewayTimeout:
		st.Reason = metav1.StatusReasonTimeout
	case http.StatusTooManyRequests:
		st.Reason = metav1.StatusReasonTooManyRequests
	case http.StatusForbidden:
		st.Reason = metav1.StatusReasonForbidden
	case http.StatusServiceUnavailable:
		st.Reason = metav1.StatusReasonServiceUnavailable
	}
	if retryAfter {
		st.Details = &metav1.StatusDetails{RetryAfterSeconds: 1}
	}
	return &apierrors.StatusError{ErrStatus: st}
}
