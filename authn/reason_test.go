package authn_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	utilerrors "k8s.io/apimachinery/pkg/util/errors"

	"github.com/aggauth/aggauth/authn"
	"github.com/aggauth/aggauth/internal/testpki"
)

func TestFailureReason(t *testing.T) {
	p := newPKI(t)
	u := newUnion(t, p, false)
	wrongName := p.proxyCA.Issue(testpki.Spec{CommonName: "someone-else"})
	badUID := p.clientCA.Issue(testpki.Spec{CommonName: "eve", UIDs: []any{"a", "b"}})
	stranger := p.otherCA.Issue(testpki.Spec{CommonName: "mallory"})
	tests := []struct {
		name  string
		certs []*testpki.Cert
		want  string
	}{
		{"no certificate", nil, authn.ReasonNoCredentials},
		{"unknown CA", chain(stranger), authn.ReasonCertificateInvalid},
		{"proxy name not allowed", chain(wrongName), authn.ReasonProxyNameNotAllowed},
		{"malformed UID", chain(badUID), authn.ReasonCertificateUIDMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ok, err := u.AuthenticateRequest(newRequest(tt.certs, "X-Remote-User", "bob"))
			assert.False(t, ok)
			assert.Equal(t, tt.want, authn.FailureReason(err), "error: %v", err)
		})
	}
	assert.Equal(t, authn.ReasonSharedCA, authn.FailureReason(utilerrors.NewAggregate([]error{authn.ErrSharedCA})))
	assert.Equal(t, authn.ReasonOther, authn.FailureReason(errors.New("token expired")))
	assert.Equal(t, authn.ReasonOther, authn.FailureReason(utilerrors.NewAggregate([]error{errors.New("x")})))
	assert.Equal(t, authn.ReasonSharedCA, authn.FailureReason(fmt.Errorf("wrapped: %w", authn.ErrSharedCA)))
}
