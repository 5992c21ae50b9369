package authn_test

import (
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
)

const tokenReviewPath = "/apis/authentication.k8s.io/v1/tokenreviews"

// tokenAnswer is how a fake kube-apiserver answers one TokenReview: a status,
// an API error (sent as a Status with its code), or raw text with a code.
type tokenAnswer struct {
	status authenticationv1.TokenReviewStatus
	err    *apierrors.StatusError
	code   int
	raw    string
}

// tokenServer is an HTTPS (HTTP/2) server that speaks the TokenReview API,
// decodes what client-go sends (JSON or protobuf) with the universal
// deserializer, and answers with a function of the review's spec.
type tokenServer struct {
	*httptest.Server
	answer func(authenticationv1.TokenReviewSpec) tokenAnswer
	count  atomic.Int64
}

func newTokenServer(t testing.TB, answer func(authenticationv1.TokenReviewSpec) tokenAnswer) *tokenServer {
	s := &tokenServer{answer: answer}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(s.serve))
	s.EnableHTTP2 = true
	s.StartTLS()
	t.Cleanup(s.Close)
	return s
}

func (s *tokenServer) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != tokenReviewPath {
		http.NotFound(w, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	var tr authenticationv1.TokenReview
	if _, _, err := scheme.Codecs.UniversalDeserializer().Decode(body, nil, &tr); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.count.Add(1)
	a := s.answer(tr.Spec)
	switch {
	case a.raw != "":
		w.WriteHeader(a.code)
		_, _ = io.WriteString(w, a.raw)
	case a.err != nil:
		st := a.err.Status()
		st.Kind, st.APIVersion = "Status", "v1"
		// No Retry-After header: client-go would sleep on it before either
		// authenticator sees the error.
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(int(st.Code))
		_ = json.NewEncoder(w).Encode(st)
	default:
		tr.Status = a.status
		tr.APIVersion, tr.Kind = "authentication.k8s.io/v1", "TokenReview"
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(&tr)
	}
}

// restConfig trusts the server's certificate and does not throttle.
func (s *tokenServer) restConfig() *rest.Config {
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})
	return &rest.Config{Host: s.URL, TLSClientConfig: rest.TLSClientConfig{CAData: caPEM}, QPS: 1e6, Burst: 1e6}
}
