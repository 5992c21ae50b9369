package authn

import (
	"errors"

	utilerrors "k8s.io/apimachinery/pkg/util/errors"
)

// Why a request was not authenticated, as FailureReason tells it: a label for
// metrics and logs that says what failed without repeating what the client
// sent.
const (
	ReasonNoCredentials           = "no_credentials"          // no authenticator had an opinion
	ReasonCertificateInvalid      = "certificate_invalid"     // the chain did not verify
	ReasonProxyNameNotAllowed     = "proxy_name_not_allowed"  // a front-proxy certificate with a CN not allowed
	ReasonSharedCA                = "shared_ca"               // see ErrSharedCA
	ReasonCertificateUIDMalformed = "certificate_uid_invalid" // a client certificate's UID attribute
	ReasonOther                   = "other"                   // an error of another authenticator
)

// FailureReason classifies err, the error of an authenticator, nil when none
// had an opinion. For an aggregate of errors (a union of authenticators) the
// most telling one decides: a certificate that verified but was refused for
// its name or UID says more than another authenticator's refusal to verify it.
func FailureReason(err error) string {
	if err == nil {
		return ReasonNoCredentials
	}
	var agg utilerrors.Aggregate
	if !errors.As(err, &agg) {
		return reasonOf(err)
	}
	best := ReasonOther
	for _, e := range agg.Errors() {
		if r := FailureReason(e); rank[r] > rank[best] {
			best = r
		}
	}
	return best
}

// rank orders the reasons from the least to the most telling.
var rank = map[string]int{
	ReasonOther:                   0,
	ReasonCertificateInvalid:      1,
	ReasonCertificateUIDMalformed: 2,
	ReasonProxyNameNotAllowed:     3,
	ReasonSharedCA:                4,
}

func reasonOf(err error) string {
	var (
		cert *certError
		name *nameError
		uid  *uidError
	)
	switch {
	case errors.As(err, &cert):
		return ReasonCertificateInvalid
	case errors.As(err, &name):
		return ReasonProxyNameNotAllowed
	case errors.Is(err, ErrSharedCA):
		return ReasonSharedCA
	case errors.As(err, &uid):
		return ReasonCertificateUIDMalformed
	}
	return ReasonOther
}
