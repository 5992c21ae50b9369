package discovery

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apiserver/pkg/endpoints/handlers/negotiation"

	ournegotiation "github.com/aggauth/aggauth/internal/negotiation"
)

// TestNegotiateMediaTypeMatchesKubernetes: our Accept negotiation of the
// discovery documents' serializers, with discovery's restrictions, picks
// what negotiation.NegotiateMediaTypeOptions picks, with the same options.
func TestNegotiateMediaTypeMatchesKubernetes(t *testing.T) {
	m, err := newMedia()
	require.NoError(t, err)
	const v2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList" // client-go's AcceptV2
	headers := []string{
		"", "*/*", "application/*", "application/json", "application/yaml", "application/vnd.kubernetes.protobuf",
		"text/html", "text/*", "application/json;pretty=1", "application/json;pretty=0", "application/yaml;pretty=1",
		"application/json;stream=watch", "application/json;stream=other", "application/vnd.kubernetes.protobuf;stream=watch",
		"application/json;sv=v1", "application/json;sv=", "application/json;as=Table;v=v1;g=meta.k8s.io",
		v2, v2 + ",application/json", "application/json," + v2,
		"application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList;q=0.5,application/yaml;q=0.9",
		"application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
		"application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList", "application/json;as=APIGroupDiscoveryList",
		"application/json;profile=local;export=1;unknown=x", "text/html;q=0.9,application/yaml;q=0.1", "garbage", ";;;", "application/",
	}
	restrictions := map[string]ournegotiation.Restrictions{"default": ournegotiation.Default{}, "aggregated": aggregatedRestrictions{}}
	for rname, r := range restrictions {
		for _, h := range headers {
			want, wantOK := negotiation.NegotiateMediaTypeOptions(h, m.infos, r)
			got, gotOK := ournegotiation.MediaType(h, m.infos, r)
			require.Equal(t, wantOK, gotOK, "%s restrictions, Accept %q", rname, h)
			assert.Equal(t, want.Accepted.MediaType, got.Accepted.MediaType, "%s restrictions, Accept %q", rname, h)
			assert.Equal(t, want.Pretty, got.Pretty, "%s restrictions, Accept %q", rname, h)
			assert.Equal(t, want.Convert, got.Convert, "%s restrictions, Accept %q", rname, h)
		}
	}
}

func TestNotAcceptableMatchesKubernetes(t *testing.T) {
	m, err := newMedia()
	require.NoError(t, err)
	supported, _ := negotiation.MediaTypesForSerializer(m.codecs)
	assert.Equal(t, supported, m.supported)
	want := statusOf(negotiation.NewNotAcceptableError(supported).(apierrors.APIStatus))
	assert.Equal(t, want, ournegotiation.NotAcceptable(m.supported))
}
