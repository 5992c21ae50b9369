// Package aggauthtest tests the handlers of an extension apiserver through
// the real aggauth chain, in process, without a cluster: what
// controller-runtime's envtest and client-go's fake clientsets are to their
// users.
//
// A Cluster is a fake kube-apiserver on a loopback port. It publishes the
// authentication ConfigMap (a front-proxy CA and a client CA of its own),
// serves namespaces (Options.Namespaces, Options.TerminatingNamespaces),
// answers SubjectAccessReviews from rules (Options.Rules: who may do what)
// and TokenReviews from Options.Tokens, and counts the reviews it received
// (Counts, Reviews). NewCluster starts one for a test and stops it at the
// test's end; Cluster.NewChain builds the chain with aggauth.New against it,
// exactly as production builds it against a real cluster:
//
//	cluster := aggauthtest.NewCluster(t, aggauthtest.Options{
//		Rules:  []aggauthtest.Rule{{Users: []string{"alice"}, Verbs: []string{"get", "list"}}},
//		Tokens: map[string]user.Info{"carol-token": &user.DefaultInfo{Name: "carol"}},
//	})
//	chain, err := cluster.NewChain(aggauth.Options{})
//	require.NoError(t, err)
//	h := chain.Handler(myAPI)
//
// A Caller sends requests the way each kind of client does:
// cluster.FrontProxy().As("alice") as kube-apiserver's aggregator forwards
// alice (its front-proxy client certificate and X-Remote-* headers);
// cluster.RogueProxy() with a front-proxy name but a certificate the cluster
// does not trust; cluster.User("bob") with a client certificate of the
// cluster's client CA; BearerToken("carol-token"); the zero Caller with no
// credentials at all. In process, Caller.Do (or NewRequest and
// httptest.NewRecorder) serves a request whose req.TLS carries the caller's
// certificate as a TLS server would set it; over real TLS, Caller.Client
// presents it in the handshake.
//
// The Cluster is a test fixture: it trusts its callers, keeps at most
// MaxKeptReviews reviews, and owns no goroutine past Close.
package aggauthtest
