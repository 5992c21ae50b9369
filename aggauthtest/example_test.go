package aggauthtest_test

import (
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/endpoints/request"

	"github.com/aggauth/aggauth"
	"github.com/aggauth/aggauth/aggauthtest"
)

// hello answers with the name of the caller the chain authenticated.
var hello = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	u, _ := request.UserFrom(r.Context())
	fmt.Fprintf(w, "hello %s", u.GetName())
})

// summary is the body of a success, or the reason of a Status.
func summary(code int, body string) string {
	var st metav1.Status
	if code >= 300 && json.Unmarshal([]byte(body), &st) == nil {
		return fmt.Sprint(code, " ", st.Reason)
	}
	return strings.TrimSpace(fmt.Sprint(code, " ", body))
}

// The chain in front of a handler, against a fake cluster where alice and
// carol may list widgets and carol has a bearer token. In a test, NewCluster
// stops the cluster when the test ends.
func Example() {
	cluster, err := aggauthtest.StartCluster(aggauthtest.Options{
		Rules: []aggauthtest.Rule{{
			Users: []string{"alice", "carol"}, Verbs: []string{"list"},
			APIGroups: []string{"demo.aggauth.io"}, Resources: []string{"widgets"},
		}},
		Tokens: map[string]user.Info{"carol-token": &user.DefaultInfo{Name: "carol"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()
	chain, err := cluster.NewChain(aggauth.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	api := chain.Handler(hello)

	const widgets = "/apis/demo.aggauth.io/v1/namespaces/default/widgets"
	for _, c := range []struct {
		name   string
		caller aggauthtest.Caller
	}{
		{"alice, through the aggregator", cluster.FrontProxy().As("alice", "system:authenticated")},
		{"alice again, from the cache", cluster.FrontProxy().As("alice", "system:authenticated")},
		{"bob, through the aggregator", cluster.FrontProxy().As("bob")},
		{"alice's headers, no certificate", aggauthtest.Caller{}.As("alice")},
		{"alice's headers, a rogue proxy", cluster.RogueProxy().As("alice")},
		{"carol's token", aggauthtest.BearerToken("carol-token")},
		{"carol's token again", aggauthtest.BearerToken("carol-token")},
		{"carol's certificate", cluster.User("carol", "devs")},
	} {
		rec := c.caller.Do(api, http.MethodGet, widgets, nil)
		fmt.Printf("%s: %s\n", c.name, summary(rec.Code, rec.Body.String()))
	}
	fmt.Printf("%+v\n", cluster.Counts())
	// Output:
	// alice, through the aggregator: 200 hello alice
	// alice again, from the cache: 200 hello alice
	// bob, through the aggregator: 403 Forbidden
	// alice's headers, no certificate: 401 Unauthorized
	// alice's headers, a rogue proxy: 401 Unauthorized
	// carol's token: 200 hello carol
	// carol's token again: 200 hello carol
	// carol's certificate: 200 hello carol
	// {SubjectAccessReviews:4 TokenReviews:1}
}

// Namespaces the cluster has, or is deleting: the chain refuses creates
// elsewhere, before the handler runs. Reviews shows what the chain asked.
func ExampleOptions_namespaces() {
	cluster, err := aggauthtest.StartCluster(aggauthtest.Options{
		Rules:                 []aggauthtest.Rule{{Users: []string{"alice"}}}, // alice may do anything
		Namespaces:            []string{"team-a"},
		TerminatingNamespaces: []string{"old-team"},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()
	chain, err := cluster.NewChain(aggauth.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	api := chain.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
	}))
	alice := cluster.FrontProxy().As("alice")
	for _, ns := range []string{"team-a", "old-team", "nowhere"} {
		rec := alice.Do(api, http.MethodPost, "/apis/demo.aggauth.io/v1/namespaces/"+ns+"/widgets", strings.NewReader(`{}`))
		fmt.Printf("create in %s: %s\n", ns, summary(rec.Code, rec.Body.String()))
	}
	for _, r := range cluster.Reviews() {
		fmt.Println(r.User, r.ResourceAttributes.Verb, r.ResourceAttributes.Namespace, r.ResourceAttributes.Resource)
	}
	// Output:
	// create in team-a: 201
	// create in old-team: 403 Forbidden
	// create in nowhere: 404 NotFound
	// alice create team-a widgets
	// alice create old-team widgets
	// alice create nowhere widgets
}

// Over real TLS: the server requests client certificates, as serving's TLS
// configuration does, and the caller's client presents its certificate in
// the handshake.
func ExampleCaller_Client() {
	cluster, err := aggauthtest.StartCluster(aggauthtest.Options{Rules: []aggauthtest.Rule{{Users: []string{"alice"}}}})
	if err != nil {
		log.Fatal(err)
	}
	defer cluster.Close()
	chain, err := cluster.NewChain(aggauth.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(chain.Handler(hello))
	srv.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	srv.StartTLS()
	defer srv.Close()

	for _, caller := range []aggauthtest.Caller{cluster.FrontProxy().As("alice"), cluster.RogueProxy().As("alice")} {
		client := caller.Client(srv.Client())
		resp, err := client.Get(srv.URL + "/apis/demo.aggauth.io/v1/widgets")
		if err != nil {
			log.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		client.CloseIdleConnections()
		fmt.Println(summary(resp.StatusCode, string(body)))
	}
	// Output:
	// 200 hello alice
	// 401 Unauthorized
}
