package fakekube_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/aggauth/aggauth/internal/fakekube"
	"github.com/aggauth/aggauth/internal/testutil"
)

// startReviews starts a fake with opts and returns a clientset for it.
func startReviews(t *testing.T, opts fakekube.Options) (*fakekube.Server, kubernetes.Interface) {
	t.Helper()
	s, err := fakekube.Start(opts)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	cfg := s.RestConfig()
	cfg.QPS, cfg.Burst = 1000, 1000
	client, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	return s, client
}

func sar(user string) *authorizationv1.SubjectAccessReview {
	return &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
		User: user, NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: "/metrics", Verb: "get"}}}
}

func TestAnswers(t *testing.T) {
	s, client := startReviews(t, fakekube.Options{})
	sars := client.AuthorizationV1().SubjectAccessReviews()
	ctx := t.Context()

	got, err := sars.Create(ctx, sar("alice"), metav1.CreateOptions{})
	require.NoError(t, err)
	assert.Equal(t, authorizationv1.SubjectAccessReviewStatus{Allowed: true, Reason: "fakekube allows everything"}, got.Status)

	s.SetAuthorize(func(spec authorizationv1.SubjectAccessReviewSpec) (authorizationv1.SubjectAccessReviewStatus, error) {
		switch spec.User {
		case "busy":
			return authorizationv1.SubjectAccessReviewStatus{}, apierrors.NewTooManyRequests("busy", 1)
		case "broken":
			return authorizationv1.SubjectAccessReviewStatus{}, errors.New("broken")
		case "proxy":
			return authorizationv1.SubjectAccessReviewStatus{}, &fakekube.RawError{Code: http.StatusBadGateway, Body: "bad gateway"}
		}
		return authorizationv1.SubjectAccessReviewStatus{Denied: true, Reason: "no"}, nil
	})
	got, err = sars.Create(ctx, sar("alice"), metav1.CreateOptions{})
	require.NoError(t, err)
	assert.Equal(t, authorizationv1.SubjectAccessReviewStatus{Denied: true, Reason: "no"}, got.Status)

	_, err = sars.Create(ctx, sar("busy"), metav1.CreateOptions{})
	assert.True(t, apierrors.IsTooManyRequests(err), "got %v; want a 429 Status", err)
	_, err = sars.Create(ctx, sar("broken"), metav1.CreateOptions{})
	assert.True(t, apierrors.IsInternalError(err), "got %v; want a 500 InternalError Status", err)
	_, err = sars.Create(ctx, sar("proxy"), metav1.CreateOptions{})
	var se apierrors.APIStatus
	require.ErrorAs(t, err, &se)
	assert.Equal(t, int32(http.StatusBadGateway), se.Status().Code)
	assert.Contains(t, err.Error(), "bad gateway")

	assert.Equal(t, fakekube.Counts{Received: 5, MaxActive: 1}, s.SARCounts())
	require.Len(t, s.Reviews(), 5)
	require.Len(t, s.ReviewBodies(), 5)
	assert.Equal(t, "busy", s.Reviews()[2].Spec.User)
	assert.Contains(t, string(s.ReviewBodies()[2]), "busy")
}

func TestTokenReviews(t *testing.T) {
	s, client := startReviews(t, fakekube.Options{})
	trs := client.AuthenticationV1().TokenReviews()
	ctx := t.Context()
	tr := &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: "t"}}
	got, err := trs.Create(ctx, tr, metav1.CreateOptions{})
	require.NoError(t, err)
	assert.False(t, got.Status.Authenticated)

	s.SetAuthenticate(func(spec authenticationv1.TokenReviewSpec) (authenticationv1.TokenReviewStatus, error) {
		if spec.Token == "t" {
			return authenticationv1.TokenReviewStatus{Authenticated: true, User: authenticationv1.UserInfo{Username: "alice"}}, nil
		}
		return authenticationv1.TokenReviewStatus{}, apierrors.NewForbidden(authenticationv1.Resource("tokenreviews"), "", errors.New("no"))
	})
	got, err = trs.Create(ctx, tr, metav1.CreateOptions{})
	require.NoError(t, err)
	assert.Equal(t, "alice", got.Status.User.Username)
	_, err = trs.Create(ctx, &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: "other"}}, metav1.CreateOptions{})
	assert.True(t, apierrors.IsForbidden(err), "got %v", err)
	assert.Equal(t, int64(3), s.TokenReviewCounts().Received)
	assert.Zero(t, s.SARCounts().Received)
	assert.Empty(t, s.Reviews(), "TokenReviews are not SubjectAccessReviews")
}

// TestHold: held reviews wait for the release, count as active meanwhile, and
// count as cancelled when their client goes away.
func TestHold(t *testing.T) {
	s, client := startReviews(t, fakekube.Options{})
	sars := client.AuthorizationV1().SubjectAccessReviews()
	release := s.Hold()

	const n = 3
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			_, err := sars.Create(context.Background(), sar("alice"), metav1.CreateOptions{})
			assert.NoError(t, err)
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancelled := make(chan error, 1)
	go func() {
		_, err := sars.Create(ctx, sar("bob"), metav1.CreateOptions{})
		cancelled <- err
	}()
	require.Eventually(t, func() bool { return s.SARCounts().Active == n+1 }, 10*time.Second, time.Millisecond)
	cancel()
	require.Error(t, <-cancelled)
	require.Eventually(t, func() bool { return s.SARCounts().Cancelled == 1 }, 10*time.Second, time.Millisecond)

	release()
	wg.Wait()
	release() // twice is fine
	assert.Equal(t, fakekube.Counts{Received: n + 1, MaxActive: n + 1, Cancelled: 1}, s.SARCounts())

	_, err := sars.Create(t.Context(), sar("carol"), metav1.CreateOptions{})
	require.NoError(t, err, "a review after the release is answered at once")
}

// TestCloseEndsHeldReviews: Close does not wait for a release.
func TestCloseEndsHeldReviews(t *testing.T) {
	s, client := startReviews(t, fakekube.Options{})
	s.Hold()
	done := make(chan error, 1)
	go func() {
		_, err := client.AuthorizationV1().SubjectAccessReviews().Create(context.Background(), sar("alice"), metav1.CreateOptions{})
		done <- err
	}()
	require.Eventually(t, func() bool { return s.SARCounts().Active == 1 }, 10*time.Second, time.Millisecond)
	s.Close()
	require.Error(t, <-done)
	s.Close() // twice is fine
	assert.Zero(t, s.SARCounts().Cancelled, "the server closed; the client did not go away")
}

func TestLatency(t *testing.T) {
	const latency = 50 * time.Millisecond
	s, client := startReviews(t, fakekube.Options{Latency: latency, DiscardReviews: true})
	sars := client.AuthorizationV1().SubjectAccessReviews()
	start := time.Now()
	_, err := sars.Create(t.Context(), sar("alice"), metav1.CreateOptions{})
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Since(start), latency)

	ctx, cancel := context.WithTimeout(t.Context(), latency/5)
	defer cancel()
	_, err = sars.Create(ctx, sar("alice"), metav1.CreateOptions{})
	require.Error(t, err)
	require.Eventually(t, func() bool { return s.SARCounts().Cancelled == 1 }, 10*time.Second, time.Millisecond)
	assert.Equal(t, int64(2), s.SARCounts().Received)
	assert.Empty(t, s.Reviews(), "DiscardReviews keeps none")
	assert.Empty(t, s.ReviewBodies())
}

// TestBadReview: what is not a review gets a 400 Status, uncounted.
func TestBadReview(t *testing.T) {
	s, _ := startReviews(t, fakekube.Options{})
	req, err := http.NewRequest(http.MethodPost, s.URL()+"/apis/authorization.k8s.io/v1/subjectaccessreviews", strings.NewReader("{"))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+s.RestConfig().BearerToken)
	resp, err := s.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, metav1.StatusReasonBadRequest, testutil.Status(t, http.StatusBadRequest, resp.Header, body).Reason)
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.Zero(t, s.SARCounts().Received)
}
