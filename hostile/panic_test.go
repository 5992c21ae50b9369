//go:build hostile

package hostile

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"
)

// panicky is a transport that panics on a review that names "boom" (the user
// of a SubjectAccessReview, or the token of a TokenReview), as a broken
// client or proxy library would.
type panicky struct{ next http.RoundTripper }

func (p panicky) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		if bytes.Contains(body, []byte("boom")) {
			panic("transport exploded")
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	return p.next.RoundTrip(r)
}

func withPanicky(cfg *rest.Config) {
	cfg.WrapTransport = func(rt http.RoundTripper) http.RoundTripper { return panicky{rt} }
}

// TestPanickingReviewClient: a review client whose transport panics fails
// only the requests waiting for that review, and the server goes on serving
// (it used to exit: the review ran on a goroutine without recover). A
// SubjectAccessReview's panic is a 500 Status, as kube-apiserver answers a
// request whose authorizer panicked; a TokenReview's is a 401, as
// Kubernetes' cached token authenticator answers it. Kubernetes runs its
// authorizer on the request's goroutine: net/http recovers and resets the
// stream (the control's "error").
func TestPanickingReviewClient(t *testing.T) {
	p := thePKI()
	lines := map[string]string{}
	for _, build := range delegatedBuilders {
		kube := cluster(t, p, 0, tokenUser, allowAll)
		im := build(t, p, kube, withPanicky)
		t.Run(im.name, func(t *testing.T) {
			s := serve(t, p, im.handler)
			forwarded := &http.Client{Transport: transport(p, &p.proxy, true), Timeout: time.Minute}
			direct := &http.Client{Transport: transport(p, nil, true), Timeout: time.Minute}
			answer := func(code int, err error) string {
				if err != nil {
					return "error"
				}
				return fmt.Sprint(code)
			}
			sarCode, sarErr := send(context.Background(), forwarded, missURL(s, "boom"), "boom")
			tokenCode, tokenErr := sendToken(context.Background(), direct, s.URL+resourcePath, "boom-token")
			afterCode, afterErr := send(context.Background(), forwarded, missURL(s, "after"), "alice")
			goodCode, goodErr := sendToken(context.Background(), direct, s.URL+resourcePath, "good-after")
			lines[im.name] = fmt.Sprintf("%s: SubjectAccessReview panicking %s, TokenReview panicking %s; then %s and %s",
				im.name, answer(sarCode, sarErr), answer(tokenCode, tokenErr), answer(afterCode, afterErr), answer(goodCode, goodErr))
			if im.name == "aggauth" {
				require.NoError(t, sarErr)
				assert.Equal(t, http.StatusInternalServerError, sarCode, "a SubjectAccessReview that panicked")
				require.NoError(t, tokenErr)
				assert.Equal(t, http.StatusUnauthorized, tokenCode, "a TokenReview that panicked")
				require.NoError(t, afterErr)
				assert.Equal(t, http.StatusOK, afterCode, "the server goes on serving")
				require.NoError(t, goodErr)
				assert.Equal(t, http.StatusOK, goodCode)
			}
		})
	}
	t.Logf("review clients whose transport panics: %s | %s", lines["aggauth"], lines["kubernetes"])
}
