package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/aggauth/aggauth/e2e/cluster"
	"github.com/aggauth/aggauth/e2e/internal/demoapi"
)

// demo is the running demo: the control plane, the example server and the
// tour's users.
type demo struct {
	out        io.Writer
	c          *cluster.Cluster
	srv        *demoapi.Server
	alice, bob *cluster.User
	dir        string            // the tour's manifests
	auditLog   string            // the example server's audit log
	names      *strings.Replacer // long paths to the short names the tour shows
	n          int               // steps shown so far
}

// step is one kubectl command of the tour, run as the user of kubeconfig.
type step struct {
	title      string
	kubeconfig string
	args       []string
	// check says whether the command behaved as the title says.
	check func(stdout, stderr string, err error) error
	// filter, when set, selects the output lines to show.
	filter func(line string) bool
	// show, when set, is run instead of kubectl: the command it shows and its
	// output (a file the tour reads).
	show func() (command, output string, err error)
}

// tour runs the steps, each shown with its output; it stops at the first step
// that does not behave as shown.
func (d *demo) tour(ctx context.Context) error {
	if err := d.prepare(); err != nil {
		return err
	}
	steps := [][]step{d.registration(), d.allowed(), d.audited(), d.refused(), d.missingNamespace(), d.scraping()}
	for _, group := range steps {
		for _, s := range group {
			if err := d.run(ctx, s); err != nil {
				return err
			}
		}
	}
	return d.cache(ctx)
}

// prepare writes the manifests and shows the names the commands use.
func (d *demo) prepare() error {
	d.dir = filepath.Join(d.c.Dir(), "tour")
	if err := os.MkdirAll(d.dir, 0o700); err != nil {
		return err
	}
	files := map[string]string{
		"blue.yaml":    demoapi.WidgetYAML("default", "blue", "blue"),
		"plain.yaml":   plainYAML,
		"nowhere.yaml": demoapi.WidgetYAML("nowhere", "red", "red"),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(d.dir, name), []byte(content), 0o600); err != nil {
			return err
		}
	}
	vars := []struct{ name, value, about string }{
		{"ADMIN", d.c.AdminKubeconfig(), "kubeconfig of admin, in group system:masters"},
		{"ALICE", d.alice.Kubeconfig, "kubeconfig of alice, with RBAC for widgets"},
		{"BOB", d.bob.Kubeconfig, "kubeconfig of bob, without RBAC"},
		{"EXAMPLE_CA", d.srv.CAFile, "the example server's CA"},
		{"EXAMPLE", d.srv.URL(), "the example server, straight (not through kube-apiserver)"},
		{"TOUR", d.dir, "the tour's manifests"},
	}
	fmt.Fprintf(d.out, "\nThe tour. Each step is a kubectl command and its output. To run them yourself:\n\n   alias kubectl=%s\n", d.c.KubectlPath())
	var pairs []string
	for _, v := range vars {
		fmt.Fprintf(d.out, "   export %s=%s   # %s\n", v.name, v.value, v.about)
		pairs = append(pairs, v.value, "$"+v.name)
	}
	d.names = strings.NewReplacer(pairs...)
	return nil
}

func (d *demo) registration() []step {
	return []step{{
		title:      "kube-apiserver's aggregation layer has registered the example server and reports it Available.",
		kubeconfig: d.c.AdminKubeconfig(),
		args:       []string{"get", "apiservice", demoapi.APIServiceName},
		check: matches(`(?m)^` + regexp.QuoteMeta(demoapi.APIServiceName) + `\s+` +
			demoapi.Namespace + `/` + demoapi.ServiceName + `\s+True\s`),
	}}
}

func (d *demo) allowed() []step {
	return []step{{
		title: "alice, who has RBAC for widgets, lists them. kube-apiserver authorizes her and proxies the request " +
			"to the example server with her identity in headers; aggauth checks the front proxy's certificate, " +
			"and authorizes alice again with a SubjectAccessReview.",
		kubeconfig: d.alice.Kubeconfig,
		args:       []string{"get", "widgets", "-n", "default"},
		check:      matches(`^No resources found in default namespace\.\n$`),
	}, {
		title:      "alice creates a widget from $TOUR/blue.yaml:\n" + indent(demoapi.WidgetYAML("default", "blue", "blue")),
		kubeconfig: d.alice.Kubeconfig,
		args:       []string{"create", "-f", filepath.Join(d.dir, "blue.yaml")},
		check:      matches(`^widget\.demo\.aggauth\.io/blue created\n$`),
	}, {
		title: "The example server recorded who created it, as aggauth authenticated her: " +
			"her name, her groups and the credential id of her client certificate.",
		kubeconfig: d.alice.Kubeconfig,
		args:       []string{"get", "widget", "blue", "-n", "default", "-o", "jsonpath={.status.createdBy}"},
		check: matches(`"username":"alice"`, `"widget-makers"`, `"system:authenticated"`,
			regexp.QuoteMeta(demoapi.CredentialID(d.alice.Cert.Cert))),
	}, {
		title: "alice creates a widget without spec.color. The example server defaults it to gray and says so " +
			"with warning.AddWarning (k8s.io/apiserver/pkg/warning), as kube-apiserver's own handlers warn; " +
			"the serving package sends it as a Warning header, which kubectl prints. $TOUR/plain.yaml:\n" + indent(plainYAML),
		kubeconfig: d.alice.Kubeconfig,
		args:       []string{"create", "-f", filepath.Join(d.dir, "plain.yaml")},
		check: matches(`(?m)^widget\.demo\.aggauth\.io/plain created$`,
			`(?m)^Warning: `+regexp.QuoteMeta(demoapi.ColorDefaultedWarning)+`$`),
	}}
}

// audited shows alice's create in the example server's own audit log
// (--audit-policy-file, --audit-log-path), under the audit ID kube-apiserver
// gave the request, with the decision and the response kube-apiserver's log
// cannot record for an aggregated request.
func (d *demo) audited() []step {
	return []step{{
		title: "The example server runs with Kubernetes' audit flags (--audit-policy-file, --audit-log-path): " +
			"its audit log has alice's create under kube-apiserver's own audit ID, with the authorization " +
			"decision and the response code, which kube-apiserver's audit of an aggregated request never sees.",
		show: func() (string, string, error) {
			data, err := os.ReadFile(d.auditLog)
			for _, line := range strings.Split(string(data), "\n") {
				if strings.Contains(line, `"verb":"create"`) && strings.Contains(line, `"username":"alice"`) &&
					strings.Contains(line, `"stage":"ResponseComplete"`) {
					return "grep alice " + d.auditLog, line + "\n", err
				}
			}
			return "grep alice " + d.auditLog, "", err
		},
		check: matches(`"auditID":"[0-9a-f-]{36}"`, `"username":"alice"`, `"code":201`,
			regexp.QuoteMeta(`"authorization.k8s.io/decision":"allow"`)),
	}}
}

// plainYAML is a widget without spec.color.
const plainYAML = `apiVersion: ` + demoapi.Group + `/` + demoapi.Version + `
kind: ` + demoapi.Kind + `
metadata:
  name: plain
  namespace: default
spec:
  size: 1
`

func (d *demo) refused() []step {
	forbidden := `^Error from server \(Forbidden\): widgets\.demo\.aggauth\.io is forbidden: User "bob" cannot list resource "widgets" in API group "demo\.aggauth\.io" in the namespace "default"\n$`
	return []step{{
		title:      "bob has no RBAC for widgets: kube-apiserver refuses him before proxying anything.",
		kubeconfig: d.bob.Kubeconfig,
		args:       []string{"get", "widgets", "-n", "default"},
		check:      fails(forbidden),
	}, {
		title: "Straight to the example server with his client certificate, bob gets the example server's own " +
			"answer, worded the same way: aggauth authenticated his certificate (the cluster's client CA, from " +
			"the ConfigMap) and asked kube-apiserver with a SubjectAccessReview.",
		kubeconfig: d.bob.Kubeconfig,
		args:       []string{"--server=" + d.srv.URL(), "--certificate-authority=" + d.srv.CAFile, "get", "widgets", "-n", "default"},
		check:      fails(forbidden),
	}}
}

func (d *demo) missingNamespace() []step {
	file := filepath.Join(d.dir, "nowhere.yaml")
	return []step{{
		title: "alice creates a widget in the namespace \"nowhere\", which does not exist. kube-apiserver lets it " +
			"through (alice may create widgets in any namespace); aggauth's namespace admission refuses it as " +
			"kube-apiserver refuses its own resources.",
		kubeconfig: d.alice.Kubeconfig,
		args:       []string{"create", "-f", file},
		check: fails(`^Error from server \(NotFound\): error when creating "` + regexp.QuoteMeta(file) +
			`": namespaces "nowhere" not found\n$`),
	}}
}

// scraping shows a ServiceAccount token authenticated by the example server
// with a TokenReview: Prometheus' way of reading /metrics.
func (d *demo) scraping() []step {
	kubeconfig := filepath.Join(d.dir, "prometheus.kubeconfig")
	return []step{{
		title: "A ServiceAccount, prometheus, may read /metrics (a ClusterRole for nonResourceURLs). " +
			"kubectl create token gives it a token:",
		kubeconfig: d.c.AdminKubeconfig(),
		args:       []string{"create", "token", "prometheus", "-n", "default", "--duration=10m"},
		check: func(stdout, stderr string, err error) error {
			if err != nil {
				return fmt.Errorf("kubectl failed (%v): %s", err, stderr)
			}
			return d.tokenKubeconfig(kubeconfig, strings.TrimSpace(stdout))
		},
	}, {
		title: "With that token alone ($TOUR/prometheus.kubeconfig holds the example server's address and it), " +
			"prometheus reads /metrics straight from the example server: aggauth authenticates the token with a " +
			"TokenReview, authorizes the path with a SubjectAccessReview, and caches both.",
		kubeconfig: kubeconfig,
		args:       []string{"get", "--raw", "/metrics"},
		check:      matches(`aggauth_authn_token_requests_total\{result="success"\} [1-9]`),
		filter:     func(line string) bool { return strings.HasPrefix(line, "aggauth_authn_token_requests_total") },
	}}
}

// tokenKubeconfig writes a kubeconfig that reaches the example server with
// token and no client certificate.
func (d *demo) tokenKubeconfig(path, token string) error {
	ca, err := os.ReadFile(d.srv.CAFile)
	if err != nil {
		return err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["example"] = &clientcmdapi.Cluster{Server: d.srv.URL(), CertificateAuthorityData: ca}
	cfg.AuthInfos["prometheus"] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts["example"] = &clientcmdapi.Context{Cluster: "example", AuthInfo: "prometheus"}
	cfg.CurrentContext = "example"
	return clientcmd.WriteToFile(*cfg, path)
}

// run shows a step's command, runs it, shows its output and checks it.
func (d *demo) run(ctx context.Context, s step) error {
	d.n++
	fmt.Fprintf(d.out, "\n%d. %s\n", d.n, d.names.Replace(s.title))
	return d.command(ctx, s)
}

// command runs s's command as part of the current step.
func (d *demo) command(ctx context.Context, s step) error {
	shown := append([]string{"kubectl", "--kubeconfig=" + s.kubeconfig}, s.args...)
	var stdout, stderr string
	var err error
	if s.show != nil {
		var cmd string
		cmd, stdout, err = s.show()
		shown = []string{cmd}
	}
	fmt.Fprintf(d.out, "   $ %s\n", d.names.Replace(strings.Join(shown, " ")))
	if s.show == nil {
		stdout, stderr, err = d.c.Kubectl(ctx, s.kubeconfig, s.args...)
	}
	output := stderr + stdout // as a terminal shows them: kubectl prints warnings before the result
	if s.filter != nil {
		var kept []string
		for _, line := range strings.Split(output, "\n") {
			if s.filter(line) {
				kept = append(kept, line)
			}
		}
		output = strings.Join(kept, "\n")
	}
	fmt.Fprint(d.out, indent(d.names.Replace(output)))
	if cerr := s.check(stdout, stderr, err); cerr != nil {
		return fmt.Errorf("step %d: %s: %w", d.n, d.names.Replace(strings.Join(shown, " ")), cerr)
	}
	return nil
}

// matches checks that kubectl succeeded and its output matches every pattern.
func matches(patterns ...string) func(string, string, error) error {
	return func(stdout, stderr string, err error) error {
		if err != nil {
			return fmt.Errorf("kubectl failed (%v): %s", err, stderr)
		}
		return match(stdout+stderr, patterns)
	}
}

// fails checks that kubectl failed and its error output matches every pattern.
func fails(patterns ...string) func(string, string, error) error {
	return func(stdout, stderr string, err error) error {
		var exit interface{ ExitCode() int }
		if !errors.As(err, &exit) {
			return fmt.Errorf("kubectl succeeded, or did not run (%v); want it to fail", err)
		}
		return match(stderr, patterns)
	}
}

func match(output string, patterns []string) error {
	for _, p := range patterns {
		if !regexp.MustCompile(p).MatchString(output) {
			return fmt.Errorf("output %q does not match %q", output, p)
		}
	}
	return nil
}
