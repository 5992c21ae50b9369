package authn

import (
	"errors"

	utilerrors "k8s.io/apimachinery/pkg/util/errors"
)

// Why a request was not authenticated, as FailureReason tells it: a label for
// metrics and logs that says what failed without repeating what the client
// sent.
const (
	ReasonNoCredentials           = "no_credentials"           // no authenticator had an opinion
	ReasonCertificateInvalid      = "certificate_invalid"      // the chain did not verify
	ReasonProxyNameNotAllowed     = "proxy_name_not_allowed"   // a front-proxy certificate with a CN not allowed
	ReasonSharedCA                = "shared_ca"                // see ErrSharedCA
	ReasonCertificateUIDMalformed = "certificate_uid_invalid"  // a client certificate's UID attribute
	ReasonTokenInvalid            = "token_invalid"            // kube-apiserver did not authenticate the bearer token
	ReasonTokenReviewFailed       = "token_review_failed"      // the TokenReview could not be completed
	ReasonTokenTooManyInFlight    = "token_too_many_in_flight" // see ErrTooManyInFlight; answered 429
	ReasonOther                   = "other"                    // an error of another authenticator
)

// FailureReason classifies err, the error of an authenticator, nil when none
// had an opinion. For an aggregate of errors (a union of authenticators) the
// most telling one decides: a certificate that verified but was refused for
// its name or UID says more than another authenticator's refusal to verify it,
// and a token refused for too many reviews in flight decides the answer (429).
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
	ReasonTokenReviewFailed:       2,
	ReasonTokenInvalid:            3,
	ReasonCertificateUIDMalformed: 4,
	ReasonProxyNameNotAllowed:     5,
	ReasonSharedCA:                6,
	ReasonTokenTooManyInFlight:    7,
}

func reasonOf(err error) string {
	var (
		cert    *certError
		name    *nameError
		uid     *uidError
		invalid *tokenInvalidError
		review  *tokenReviewError
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
	case errors.Is(err, ErrTooManyInFlight):
		return ReasonTokenTooManyInFlight
	case errors.As(err, &invalid):
		return ReasonTokenInvalid
	case errors.As(err, &review):
		return ReasonTokenReviewFailed
	}
	return ReasonOther
}

// FailureReason returns the reason of a failure of t, for metrics.
func (t *Token) FailureReason(err error) string { return FailureReason(err) }

// FailureReason returns the reason of a failure of f, for metrics.
func (f *FrontProxy) FailureReason(err error) string { return FailureReason(err) }

// FailureReason returns the reason of a failure of c, for metrics.
func (c *ClientCert) FailureReason(err error) string { return FailureReason(err) }
