package authn

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"

	asn1util "k8s.io/apimachinery/pkg/apis/asn1"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/utils/clock"
)

// ClientCertOptions configures a ClientCert authenticator.
type ClientCertOptions struct {
	// CA provides the client CA bundle in force (kube-apiserver's
	// --client-ca-file, key client-ca-file of the ConfigMap). Required.
	CA CAProvider

	// CacheSize bounds the number of cached certificate verifications.
	// Default: DefaultVerifyCacheSize (4096).
	CacheSize int

	// Clock tells the time for certificate validity. Default: the real clock.
	Clock clock.PassiveClock
}

// ClientCert authenticates a caller by its own client certificate, with the answers
// of k8s.io/apiserver's x509 authenticator and CommonNameUserConversion: the user is
// the leaf's CommonName, the groups its Organizations, the UID the value of the
// Kubernetes UID attribute (OID 1.3.6.1.4.1.57683.2) when present, and the extra
// authentication.kubernetes.io/credential-id is X509SHA256=<hex of the leaf>. A
// certificate with an empty CommonName is no opinion; one that does not verify is
// an error. It is safe for concurrent use.
type ClientCert struct {
	ca    CAProvider
	cache *verifyCache
}

// NewClientCert returns a ClientCert. It fails when opts.CA is nil.
func NewClientCert(opts ClientCertOptions) (*ClientCert, error) {
	if opts.CA == nil {
		return nil, errors.New("authn: ClientCertOptions.CA is required")
	}
	return &ClientCert{
		ca:    opts.CA,
		cache: newVerifyCache(opts.CacheSize, opts.Clock, certIdentity, wrapClientVerifyError),
	}, nil
}

// identity is what a verified client certificate says; computed once per
// certificate and shared, read-only, by the requests that present it.
type identity struct {
	name, uid string
	groups    []string
	credID    string
	err       error // a malformed UID attribute
	ok        bool
}

// certIdentity is Kubernetes' CommonNameUserConversion, once per certificate. Every
// verified chain starts with the same leaf, so the first chain decides. It returns
// the identity and the bytes it holds; the identity refers to the certificate's
// parsed strings, not to the certificate.
func certIdentity(chains [][]*x509.Certificate) (any, int64) {
	leaf := chains[0][0]
	if leaf.Subject.CommonName == "" {
		return &identity{}, 0
	}
	uid, err := parseUIDFromCert(leaf)
	if err != nil {
		err = &uidError{err}
		return &identity{err: err}, int64(len(err.Error()))
	}
	fp := sha256.Sum256(leaf.Raw)
	id := &identity{
		name:   leaf.Subject.CommonName,
		uid:    uid,
		groups: leaf.Subject.Organization,
		credID: "X509SHA256=" + hex.EncodeToString(fp[:]),
		ok:     true,
	}
	size := int64(len(id.name) + len(id.uid) + len(id.credID))
	for _, g := range id.groups {
		size += int64(len(g)) + 16
	}
	return id, size
}

// AuthenticateRequest implements authenticator.Request.
func (a *ClientCert) AuthenticateRequest(req *http.Request) (*authenticator.Response, bool, error) {
	return a.authenticate(req, 0)
}

func (a *ClientCert) authenticate(req *http.Request, spareGroups int) (*authenticator.Response, bool, error) {
	if req.TLS == nil || len(req.TLS.PeerCertificates) == 0 {
		return nil, false, nil
	}
	ca := a.ca.CABundle()
	if ca == nil {
		return nil, false, nil
	}
	r, err := a.cache.verify(req.TLS, ca)
	if err != nil {
		return nil, false, err
	}
	id := r.value.(*identity)
	if !id.ok {
		return nil, false, id.err
	}
	resp, info := newResponse()
	info.Name = id.name
	info.UID = id.uid
	if len(id.groups)+spareGroups > 0 { // Kubernetes' groups are the Organizations: nil when none
		info.Groups = append(make([]string, 0, len(id.groups)+spareGroups), id.groups...)
	}
	info.Extra = map[string][]string{user.CredentialIDKey: {id.credID}}
	return resp, true, nil
}

func wrapClientVerifyError(leaf *x509.Certificate, err error) error {
	return &certError{leaf: leaf, err: err}
}

// certificateIdentifier is Kubernetes' description of a certificate in errors.
func certificateIdentifier(c *x509.Certificate) string {
	return fmt.Sprintf("SN=%d, SKID=%s, AKID=%s", c.SerialNumber,
		columnSeparatedHex(c.SubjectKeyId), columnSeparatedHex(c.AuthorityKeyId))
}

func columnSeparatedHex(d []byte) string {
	h := strings.ToUpper(hex.EncodeToString(d))
	var sb strings.Builder
	for i, r := range h {
		sb.WriteRune(r)
		if i%2 == 1 && i != len(h)-1 {
			sb.WriteRune(':')
		}
	}
	return sb.String()
}

var uidOID = asn1util.X509UID()

// uidError is a client certificate whose UID attribute is malformed.
type uidError struct{ err error }

func (e *uidError) Error() string { return e.err.Error() }
func (e *uidError) Unwrap() error { return e.err }

// parseUIDFromCert is Kubernetes' (feature AllowParsingUserUIDFromCertAuth, on by
// default since 1.33): at most one non-empty string UID attribute in the Subject.
func parseUIDFromCert(cert *x509.Certificate) (string, error) {
	var uids []string
	for _, name := range cert.Subject.Names {
		if !name.Type.Equal(uidOID) {
			continue
		}
		uid, ok := name.Value.(string)
		if !ok {
			return "", errors.New("unable to parse UID into a string")
		}
		uids = append(uids, uid)
	}
	switch {
	case len(uids) == 0:
		return "", nil
	case len(uids) != 1:
		return "", fmt.Errorf("expected 1 UID, but found multiple: %v", uids)
	case uids[0] == "":
		return "", errors.New("UID cannot be an empty string")
	}
	return uids[0], nil
}
