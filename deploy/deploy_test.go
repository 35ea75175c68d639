// Package deploy_test keeps the deployment files honest: every `gatehouse
// serve` they run is parsed by the binary's own config.Load, and the ports,
// probes, peers, Secrets, NATS cluster and image they assume are checked
// against each other. A renamed flag, a new required peer or a moved port
// fails these tests instead of a rollout.
package deploy_test

import (
	"bytes"
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"maps"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/authz"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"go.yaml.in/yaml/v3"
)

// Paths under deploy/. The compose file and the kustomize base must each
// run every service; the other deployments found are checked as they are.
const (
	composeFile   = "compose/compose.yaml"
	k8sBase       = "k8s/base"
	natsConfigDir = "nats"
	dockerfile    = "Dockerfile"
)

// storeOwners are the services that keep tables: each needs the database
// URL, or its replicas would each keep a SQLite store of their own under
// --data-dir. The others have no store and get no database credentials.
var storeOwners = map[string]bool{"clients": true, "keys": true, "revocation": true, "token": true}

// kekHolders are the services that decrypt signing keys and the platform
// CA; no other service should hold the key-encryption key.
var kekHolders = map[string]bool{"keys": true}

// TestYAMLParses parses every YAML file under deploy/, every document of it.
func TestYAMLParses(t *testing.T) {
	n := 0
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !isYAML(p) {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		n++
		if _, err := parseYAML(string(b)); err != nil {
			t.Errorf("deploy/%s: %v", filepath.ToSlash(p), err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no YAML file under deploy/")
	}
}

// TestParseYAMLRejectsBrokenFiles: the parse check above can fail.
func TestParseYAMLRejectsBrokenFiles(t *testing.T) {
	for _, text := range []string{
		"a: 1\n---\nb: [1, 2\n",
		"services:\n  x:\n    image: a\n   command: b\n",
	} {
		if _, err := parseYAML(text); err == nil {
			t.Errorf("parseYAML(%q) succeeded, want an error", text)
		}
	}
}

// TestDeployment checks each form of deployment in full.
func TestDeployment(t *testing.T) {
	fx := readFixture(t)
	t.Run("compose", func(t *testing.T) {
		var p problems
		checkCompose(fx, &p)
		report(t, p)
	})
	t.Run("kubernetes", func(t *testing.T) {
		var p problems
		checkKubernetes(fx, &p)
		report(t, p)
	})
	t.Run("nats", func(t *testing.T) {
		var ignored, p problems
		ds := append(checkCompose(fx, &ignored), checkKubernetes(fx, &ignored)...)
		checkNATS(fx, ds, &p)
		report(t, p)
	})
	t.Run("dockerfile", func(t *testing.T) {
		var ignored, p problems
		ds := append(checkCompose(fx, &ignored), checkKubernetes(fx, &ignored)...)
		checkDockerfile(fx, ds, &p)
		report(t, p)
	})
}

// TestCheckerCatchesRot breaks an in-memory copy of the files in the ways
// they rot, and requires the checks above to say so.
func TestCheckerCatchesRot(t *testing.T) {
	cases := []struct {
		name    string
		breakIt func(t *testing.T, fx *fixture)
		// want: some reported problem contains all of these.
		want []string
	}{
		{"unknown flag (compose)", func(t *testing.T, fx *fixture) {
			svc := composeService(t, fx, "token")
			svc["command"] = append(listOf(svc["command"]), "--no-such-flag=1")
		}, []string{"deploy/compose/compose.yaml: service token", "no-such-flag"}},
		{"missing peer (kubernetes)", func(t *testing.T, fx *fixture) {
			c := k8sContainer(t, fx, "token")
			c["args"] = slices.DeleteFunc(listOf(c["args"]), func(a any) bool { return a == "--peer-keys=dns:///keys-peers:8443" })
		}, []string{"deploy/k8s/base/token.yaml: Deployment token container gatehouse", "peer-keys"}},
		{"admin key minted at every up", func(t *testing.T, fx *fixture) {
			svc := composeService(t, fx, "admin-key")
			cmd := listOf(svc["command"])
			cmd[0] = strings.ReplaceAll(cmd[0].(string), "[ -e /admin/admin-credentials.json ] && exit 0", "")
		}, []string{"service admin-key", "every up would mint another admin key"}},
		{"admin key in the container only", func(t *testing.T, fx *fixture) {
			delete(composeService(t, fx, "admin-key"), "volumes")
		}, []string{"service admin-key", "not on a named volume"}},
		{"admin key Job with a Role that can read every Secret", func(t *testing.T, fx *fixture) {
			role := k8sObjectOf(t, fx, k8sBase+"/admin-key.yaml", "Role", "gatehouse-admin-key")
			rule := mapOf(listOf(role["rules"])[0])
			delete(rule, "resourceNames")
			rule["verbs"] = []any{"get", "list"}
		}, []string{"Job gatehouse-admin-key", "allows list on secrets"}},
		{"admin key Job printing the key", func(t *testing.T, fx *fixture) {
			job := k8sObjectOf(t, fx, k8sBase+"/admin-key.yaml", "Job", "gatehouse-admin-key")
			c := mapOf(listOf(get(job, "spec", "template", "spec", "containers"))[0])
			c["args"] = slices.DeleteFunc(listOf(c["args"]), func(a any) bool { return strings.HasPrefix(a.(string), "--k8s-secret") })
		}, []string{"Job gatehouse-admin-key", "without --k8s-secret"}},
		{"extra peer (compose)", func(t *testing.T, fx *fixture) {
			svc := composeService(t, fx, "clients")
			svc["command"] = append(listOf(svc["command"]), "--peer-token=token:8443")
		}, []string{"service clients", "peer-token", "not a peer"}},
		{"bad value (compose)", func(t *testing.T, fx *fixture) {
			svc := composeService(t, fx, "keys")
			svc["command"] = append(listOf(svc["command"]), "--issuer=http://auth.example.com")
		}, []string{"service keys", "issuer"}},
		{"authz routes not shipped (kubernetes)", func(t *testing.T, fx *fixture) {
			cm := k8sObjectOf(t, fx, k8sBase+"/authz.yaml", "ConfigMap", "gatehouse-authz-routes")
			cm["data"] = map[string]any{"routes.yml": "routes: []\n"}
		}, []string{"Deployment authz", "--authz-routes /etc/gatehouse/authz/routes.yaml", "gatehouse-authz-routes"}},
		{"authz routes broken (compose)", func(t *testing.T, fx *fixture) {
			fx.files["compose/authz-routes.yaml"] = "routes:\n  - methods: [GET]\n    path: /v1/**\n"
		}, []string{"service authz", "--authz-routes", "no scopes"}},
		{"authz port open to every pod", func(t *testing.T, fx *fixture) {
			np := k8sObjectOf(t, fx, k8sBase+"/authz.yaml", "NetworkPolicy", "authz-gateways")
			delete(mapOf(listOf(get(np, "spec", "ingress"))[0]), "from")
		}, []string{"NetworkPolicy authz-gateways", "authz port is open to every pod"}},
		{"authz NetworkPolicy closing the probes", func(t *testing.T, fx *fixture) {
			np := k8sObjectOf(t, fx, k8sBase+"/authz.yaml", "NetworkPolicy", "authz-gateways")
			spec := mapOf(get(np, "spec"))
			spec["ingress"] = listOf(spec["ingress"])[:1]
		}, []string{"NetworkPolicy authz-gateways", "http port"}},
		{"authz without a NetworkPolicy", func(t *testing.T, fx *fixture) {
			docs := fx.yaml[k8sBase+"/authz.yaml"]
			fx.yaml[k8sBase+"/authz.yaml"] = slices.DeleteFunc(docs, func(d any) bool { return get(d, "kind") == "NetworkPolicy" })
		}, []string{"Deployment authz", "no NetworkPolicy"}},
		{"authz without its peers (kubernetes)", func(t *testing.T, fx *fixture) {
			c := k8sContainer(t, fx, "authz")
			c["args"] = slices.DeleteFunc(listOf(c["args"]), func(a any) bool { return a == "--peer-revocation=dns:///revocation-peers:8443" })
		}, []string{"Deployment authz", "peer-revocation"}},
		{"peer on the gRPC port instead of mTLS", func(t *testing.T, fx *fixture) {
			replaceArg(t, composeService(t, fx, "gateway"), "command", "--peer-token=dns:///token:8443", "--peer-token=dns:///token:9090")
		}, []string{"service gateway", "--peer-token dns:///token:9090", "mTLS listener"}},
		{"peer host that does not exist", func(t *testing.T, fx *fixture) {
			replaceArg(t, k8sContainer(t, fx, "gateway"), "args", "--peer-inventory=dns:///inventory-peers:8443", "--peer-inventory=dns:///inventroy-peers:8443")
		}, []string{"Deployment gateway", "inventroy", "no Service"}},
		{"peer host running another service", func(t *testing.T, fx *fixture) {
			replaceArg(t, composeService(t, fx, "token"), "command", "--peer-keys=dns:///keys:8443", "--peer-keys=dns:///clients:8443")
		}, []string{"service token", "--peer-keys dns:///clients:8443", "serve clients"}},
		{"readiness probe on the gRPC port", func(t *testing.T, fx *fixture) {
			c := k8sContainer(t, fx, "token")
			mapOf(get(c, "readinessProbe", "httpGet"))["port"] = "grpc"
		}, []string{"Deployment token", "readinessProbe", "http listener"}},
		{"liveness probe on /readyz", func(t *testing.T, fx *fixture) {
			c := k8sContainer(t, fx, "keys")
			mapOf(get(c, "livenessProbe", "httpGet"))["path"] = "/readyz"
		}, []string{"Deployment keys", "livenessProbe", "/healthz"}},
		{"containerPort drifts from the flag", func(t *testing.T, fx *fixture) {
			c := k8sContainer(t, fx, "clients")
			for _, port := range listOf(c["ports"]) {
				if get(port, "name") == "http" {
					mapOf(port)["containerPort"] = 8081
				}
			}
		}, []string{"Deployment clients", "containerPort http is 8081", "8080"}},
		{"Service without the mTLS port", func(t *testing.T, fx *fixture) {
			svc := k8sObjectOf(t, fx, "k8s/base/revocation.yaml", "Service", "revocation-peers")
			spec := mapOf(svc["spec"])
			spec["ports"] = slices.DeleteFunc(listOf(spec["ports"]), func(p any) bool { return get(p, "name") == "mtls" })
		}, []string{"--peer-revocation dns:///revocation-peers:8443", "Service revocation-peers has no port 8443"}},
		{"dns:/// peer on a ClusterIP Service", func(t *testing.T, fx *fixture) {
			replaceArg(t, k8sContainer(t, fx, "token"), "args", "--peer-keys=dns:///keys-peers:8443", "--peer-keys=dns:///keys:8443")
		}, []string{"Deployment token", "--peer-keys dns:///keys:8443", "not headless"}},
		{"no PodDisruptionBudget", func(t *testing.T, fx *fixture) {
			docs := fx.yaml["k8s/base/keys.yaml"]
			fx.yaml["k8s/base/keys.yaml"] = slices.DeleteFunc(docs, func(d any) bool { return get(d, "kind") == "PodDisruptionBudget" })
		}, []string{"Deployment keys", "PodDisruptionBudget"}},
		{"pod may run as root", func(t *testing.T, fx *fixture) {
			d := k8sObjectOf(t, fx, "k8s/base/revocation.yaml", "Deployment", "revocation")
			mapOf(get(d, "spec", "template", "spec", "securityContext"))["runAsNonRoot"] = false
			c := k8sContainer(t, fx, "revocation")
			delete(mapOf(c["securityContext"]), "runAsNonRoot")
		}, []string{"Deployment revocation", "runAsNonRoot"}},
		{"no resource requests", func(t *testing.T, fx *fixture) {
			delete(mapOf(k8sContainer(t, fx, "inventory")["resources"]), "requests")
		}, []string{"Deployment inventory", "requests"}},
		{"Secret that is not in the base", func(t *testing.T, fx *fixture) {
			for _, e := range listOf(k8sContainer(t, fx, "token")["env"]) {
				if ref := mapOf(get(e, "valueFrom", "secretKeyRef")); ref != nil {
					ref["name"] = "gatehouse-db"
				}
			}
		}, []string{"Deployment token", `Secret "gatehouse-db"`}},
		{"another service's identity", func(t *testing.T, fx *fixture) {
			d := k8sObjectOf(t, fx, "k8s/base/token.yaml", "Deployment", "token")
			for _, v := range listOf(get(d, "spec", "template", "spec", "volumes")) {
				if s := mapOf(get(v, "secret")); s != nil {
					s["secretName"] = "gatehouse-clients-identity"
				}
			}
		}, []string{"Deployment token", "identity", `"clients"`}},
		{"KEK given to a service without keys", func(t *testing.T, fx *fixture) {
			c := k8sContainer(t, fx, "token")
			c["env"] = append(listOf(c["env"]), map[string]any{"name": "GATEHOUSE_KEK", "valueFrom": map[string]any{"secretKeyRef": map[string]any{"name": "gatehouse-kek", "key": "kek"}}})
		}, []string{"Deployment token", "KEK"}},
		{"store owner without a database", func(t *testing.T, fx *fixture) {
			delete(composeService(t, fx, "revocation"), "env_file")
		}, []string{"service revocation", "database URL"}},
		{"misspelt environment variable", func(t *testing.T, fx *fixture) {
			c := k8sContainer(t, fx, "inventory")
			c["env"] = append(listOf(c["env"]), map[string]any{"name": "GATEHOUSE_JWKS_ULR", "value": "https://auth.example.com/jwks"})
		}, []string{"Deployment inventory", "GATEHOUSE_JWKS_ULR"}},
		{"one replica", func(t *testing.T, fx *fixture) {
			mapOf(composeService(t, fx, "inventory")["deploy"])["replicas"] = 1
		}, []string{"deploy/compose/compose.yaml", "inventory", "1 replica"}},
		{"service not deployed", func(t *testing.T, fx *fixture) {
			delete(mapOf(fx.yaml[composeFile][0].(map[string]any)["services"]), "revocation")
		}, []string{"deploy/compose/compose.yaml", "serve revocation", "not deployed"}},
		{"certs job forgets a service", func(t *testing.T, fx *fixture) {
			svc := composeService(t, fx, "certs")
			cmd := listOf(svc["command"])
			cmd[0] = mustReplace(t, cmd[0].(string), " gateway ", " ")
		}, []string{"service certs", "gateway"}},
		{"depends_on cycle", func(t *testing.T, fx *fixture) {
			deps := mapOf(composeService(t, fx, "revocation")["depends_on"])
			deps["keys"] = map[string]any{"condition": "service_started"}
		}, []string{"deploy/compose/compose.yaml", "cycle", "revocation -> keys -> revocation"}},
		{"certs job without the KEK", func(t *testing.T, fx *fixture) {
			composeService(t, fx, "certs")["env_file"] = []any{"secrets/database.env"}
		}, []string{"service certs", "GATEHOUSE_KEK", "serve keys"}},
		{"certs job writes on the read-only root", func(t *testing.T, fx *fixture) {
			cmd := listOf(composeService(t, fx, "certs")["command"])
			cmd[0] = mustReplace(t, cmd[0].(string), " --data-dir /tmp/gatehouse", "")
		}, []string{"service certs", "--data-dir /data", "writable"}},
		{"NATS URL names no node", func(t *testing.T, fx *fixture) {
			replaceArg(t, composeService(t, fx, "token"), "command",
				"--nats-url=nats://nats-0:4222,nats://nats-1:4222,nats://nats-2:4222", "--nats-url=nats://nats-3:4222")
		}, []string{"service token", "nats-3"}},
		{"NATS route missing", func(t *testing.T, fx *fixture) {
			p := natsConfigDir + "/nats-1.conf"
			fx.files[p] = mustReplace(t, fx.files[p], "nats://nats-2:6222", "")
		}, []string{"nats-1", "routes", "nats-2"}},
		{"JetStream off (kubernetes)", func(t *testing.T, fx *fixture) {
			cm := k8sObjectOf(t, fx, "k8s/base/nats.yaml", "ConfigMap", "nats")
			data := mapOf(cm["data"])
			conf := data["nats.conf"].(string)
			data["nats.conf"] = mustReplace(t, conf, regexp.MustCompile(`(?s)jetstream \{.*?\}`).FindString(conf), "")
		}, []string{"StatefulSet nats", "JetStream"}},
		{"two NATS nodes", func(t *testing.T, fx *fixture) {
			sts := k8sObjectOf(t, fx, "k8s/base/nats.yaml", "StatefulSet", "nats")
			mapOf(sts["spec"])["replicas"] = 2
		}, []string{"deploy/k8s/base", "2 NATS nodes"}},
		{"file left out of kustomization.yaml", func(t *testing.T, fx *fixture) {
			k := mapOf(fx.yaml["k8s/base/kustomization.yaml"][0])
			k["resources"] = slices.DeleteFunc(listOf(k["resources"]), func(r any) bool { return r == "inventory.yaml" })
		}, []string{"inventory.yaml", "resources"}},
		{"overlay issuer refused", func(t *testing.T, fx *fixture) {
			k := mapOf(fx.yaml["k8s/overlays/example/kustomization.yaml"][0])
			gen := mapOf(listOf(k["configMapGenerator"])[0])
			gen["literals"] = []any{"GATEHOUSE_ISSUER=http://auth.example.org"}
		}, []string{"k8s/overlays/example", "issuer"}},
		{"overlay scales a Deployment that does not exist", func(t *testing.T, fx *fixture) {
			k := mapOf(fx.yaml["k8s/overlays/example/kustomization.yaml"][0])
			k["replicas"] = append(listOf(k["replicas"]), map[string]any{"name": "tokens", "count": 3})
		}, []string{"k8s/overlays/example", "tokens"}},
		{"serving image is not distroless", func(t *testing.T, fx *fixture) {
			fx.files[dockerfile] += "\nFROM golang:1.26-bookworm\nCOPY --from=build /out/gatehouse /gatehouse\nUSER nonroot\nENTRYPOINT [\"/gatehouse\"]\n"
		}, []string{"deploy/Dockerfile", "distroless"}},
		{"serving image runs as root", func(t *testing.T, fx *fixture) {
			df := fx.files[dockerfile]
			i := strings.LastIndex(df, "USER nonroot:nonroot")
			if i < 0 {
				t.Fatal("no USER nonroot:nonroot in the Dockerfile")
			}
			fx.files[dockerfile] = df[:i] + "USER root" + df[i+len("USER nonroot:nonroot"):]
		}, []string{"deploy/Dockerfile", "USER root"}},
		{"image built with cgo", func(t *testing.T, fx *fixture) {
			fx.files[dockerfile] = mustReplace(t, fx.files[dockerfile], "CGO_ENABLED=0", "CGO_ENABLED=1")
		}, []string{"deploy/Dockerfile", "CGO_ENABLED=0"}},
		{"image misses a source directory", func(t *testing.T, fx *fixture) {
			fx.files[dockerfile] = mustReplace(t, fx.files[dockerfile], "COPY services/ services/\n", "")
		}, []string{"deploy/Dockerfile", "services/"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fx := readFixture(t)
			tc.breakIt(t, fx)
			got := checkAll(fx)
			for _, p := range got {
				if containsAll(p, tc.want) {
					t.Logf("reported: %s", p)
					return
				}
			}
			t.Errorf("no problem reported containing all of %q; reported:\n  %s", tc.want, strings.Join(got, "\n  "))
		})
	}
}

// checkAll runs every check, as the tests above do one by one.
func checkAll(fx *fixture) problems {
	var p problems
	ds := append(checkCompose(fx, &p), checkKubernetes(fx, &p)...)
	checkNATS(fx, ds, &p)
	checkDockerfile(fx, ds, &p)
	return p
}

// ---- the files ----

// fixture is deploy/ read into memory. The checks read it rather than the
// disk, so that the negative tests can break a copy.
type fixture struct {
	files map[string]string // slash path relative to deploy/ -> content
	yaml  map[string][]any  // the documents of every YAML file, same keys
}

func readFixture(t *testing.T) *fixture {
	t.Helper()
	fx := &fixture{files: map[string]string{}, yaml: map[string][]any{}}
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		p = filepath.ToSlash(p)
		if strings.HasSuffix(p, ".go") || isLocalSecret(p) {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fx.files[p] = string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for p, text := range fx.files {
		if !isYAML(p) {
			continue
		}
		docs, err := parseYAML(text)
		if err != nil {
			t.Fatalf("deploy/%s: %v", p, err)
		}
		fx.yaml[p] = docs
	}
	return fx
}

func isYAML(p string) bool { return strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml") }

// isLocalSecret reports a real secret someone created to run the stack:
// the tests read only the committed templates.
func isLocalSecret(p string) bool {
	return slices.Contains(strings.Split(p, "/"), "secrets") && !strings.HasSuffix(p, ".example")
}

// parseYAML decodes every document of a YAML stream.
func parseYAML(text string) ([]any, error) {
	dec := yaml.NewDecoder(strings.NewReader(text))
	var docs []any
	for {
		var doc any
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		if doc != nil {
			docs = append(docs, doc)
		}
	}
}

// problems collects what the checks find, one line each naming the file
// and the workload.
type problems []string

func (p *problems) addf(format string, args ...any) { *p = append(*p, fmt.Sprintf(format, args...)) }

func report(t *testing.T, p problems) {
	t.Helper()
	for _, s := range p {
		t.Error(s)
	}
}

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// ---- the model every check works on ----

// container is one `gatehouse serve` that a deployment runs.
type container struct {
	where    string // file and workload, for messages
	name     string // compose service or Deployment name
	args     []string
	env      map[string]string
	cfg      *config.Config // nil when config.Load refused the invocation
	replicas int
	readOnly bool // root filesystem
	mounts   []mount
}

// mount is a path a container sees from outside its image.
type mount struct {
	target   string
	readOnly bool
	kind     string // bind, volume, tmpfs, secret, configMap, emptyDir, pvc
	source   string
	// owner is the service an identity mount belongs to: the subpath of a
	// shared volume, or the <service> of gatehouse-<service>-identity.
	owner string
}

// natsNode is one NATS server of a cluster.
type natsNode struct {
	where  string
	host   string // the name clients and routes reach it by
	conf   map[string]any
	mounts []mount
	file   string // deploy/nats/*.conf it was read from, if any
}

// deployment is one set of files that runs together: a compose file, or a
// kustomize directory.
type deployment struct {
	where      string
	key        string // compose file or kustomize directory, relative to deploy/
	containers []*container
	nats       []*natsNode
	// peerTarget resolves host:port, as a peer dials it, to the container
	// behind it and the container port reached; why says what is wrong.
	peerTarget func(host string, port int) (c *container, containerPort int, why string)
	// natsTarget says what is wrong with host:port as a NATS URL, or "".
	natsTarget func(host string, port int) string
	// hasHost reports whether host names something in the deployment.
	hasHost func(host string) bool
	// headless reports whether host is a Service that resolves to its
	// pods' addresses (Kubernetes); nil where every name does (compose).
	headless func(host string) bool
}

// load runs config.Load as the binary would, with the container's
// arguments after `serve` and its environment.
func (c *container) load(p *problems) {
	checkEnvNames(c.where, c.env, p)
	cfg, err := config.Load(c.args, func(k string) string { return c.env[k] }, io.Discard)
	if err != nil {
		p.addf("%s: config.Load refuses it: %v (serve %s)", c.where, err, strings.Join(c.args, " "))
		return
	}
	c.cfg = cfg
}

var knownEnv = sync.OnceValue(func() map[string]bool {
	known := map[string]bool{"GATEHOUSE_KEK": true, "GATEHOUSE_CONFIG": true}
	for _, o := range config.Options() {
		known[o[2]] = true
	}
	return known
})

// checkEnvNames: config.Load ignores a variable it does not know, so a
// misspelt one would silently leave its option at the default.
func checkEnvNames(where string, env map[string]string, p *problems) {
	for _, k := range slices.Sorted(maps.Keys(env)) {
		if strings.HasPrefix(k, "GATEHOUSE_") && !knownEnv()[k] {
			p.addf("%s: %s is not a gatehouse setting (config.Options); the binary ignores it", where, k)
		}
	}
}

// secretPlaceholder stands in for a value the files only reference.
func secretPlaceholder(name string) string {
	switch name {
	case "GATEHOUSE_DATABASE_URL":
		return "postgres://gatehouse@db.invalid:5432/gatehouse?sslmode=verify-full"
	case "GATEHOUSE_KEK":
		return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0x5a}, 32))
	}
	return "placeholder"
}

// peerNames are the services a --peer-<name> option can name.
var peerNames = sync.OnceValue(func() []string {
	var out []string
	for _, ps := range config.SplitPeers {
		out = append(out, ps...)
	}
	for _, ps := range config.OptionalPeers {
		out = append(out, ps...)
	}
	slices.Sort(out)
	return slices.Compact(out)
})

// checkDeployment runs the checks common to compose and Kubernetes.
// complete: the deployment must run every service, replicated.
func checkDeployment(d *deployment, complete bool, p *problems) {
	for _, c := range d.containers {
		if c.cfg != nil {
			checkContainer(c, p)
		}
	}
	checkPeers(d, p)
	if complete {
		checkCoverage(d, p)
	}
}

func checkContainer(c *container, p *problems) {
	cfg := c.cfg
	if svc := cfg.Service; svc != "" {
		switch {
		case storeOwners[svc] && cfg.DatabaseURL == "":
			p.addf("%s: serve %s owns tables but gets no database URL: each replica would keep a SQLite store of its own under --data-dir", c.where, svc)
		case !storeOwners[svc] && cfg.DatabaseURL != "":
			p.addf("%s: serve %s has no store but is given the database URL", c.where, svc)
		}
		hasKEK := cfg.KEK != "" || cfg.KEKFile != ""
		switch {
		case kekHolders[svc] && !hasKEK:
			p.addf("%s: serve %s gets no KEK (GATEHOUSE_KEK or --kek-file): it would create one under --data-dir, different in each replica", c.where, svc)
		case !kekHolders[svc] && hasKEK:
			p.addf("%s: serve %s is given the KEK, which only the key service needs", c.where, svc)
		}
		// The identity Secrets come from `gatehouse service-cert` and are
		// created beside the base, not in it (deploy/README.md), so their
		// name is what can be checked: it must be the service's own.
		if m, ok := mountOf(c.mounts, cfg.PeerCertFile); ok && m.owner != svc {
			if m.owner == "" {
				p.addf("%s: the identity at %s (%s %s) is every service's, not serve %s's own", c.where, m.target, m.kind, m.source, svc)
			} else {
				p.addf("%s: serve %s mounts the identity of %q at %s (%s %s)", c.where, svc, m.owner, m.target, m.kind, m.source)
			}
		}
	}
	files := []struct{ flag, path string }{
		{"peer-cert", cfg.PeerCertFile}, {"peer-key", cfg.PeerKeyFile}, {"peer-ca", cfg.PeerCAFile},
		{"tls-cert", cfg.TLSCertFile}, {"tls-key", cfg.TLSKeyFile}, {"tls-client-ca", cfg.ClientCAFile},
		{"kek-file", cfg.KEKFile},
	}
	for _, f := range files {
		if _, ok := mountOf(c.mounts, f.path); f.path != "" && !ok {
			p.addf("%s: --%s %s is on no volume the container mounts", c.where, f.flag, f.path)
		}
	}
	if c.readOnly {
		if m, ok := mountOf(c.mounts, cfg.DataDir); !ok || m.readOnly {
			p.addf("%s: --data-dir %s is not on a writable mount, and the root filesystem is read-only", c.where, cfg.DataDir)
		}
	}
}

// checkAuthzRoutes: the gateway authorizer's --authz-routes is a file the
// deployment ships (read finds it on the mount, by its path under the
// mount), and the authorizer would load it; a missing or broken file would
// stop every replica at start.
func checkAuthzRoutes(c *container, read func(m mount, rel string) (string, bool), p *problems) {
	file := c.cfg.AuthzRoutes
	if file == "" {
		return
	}
	m, ok := mountOf(c.mounts, file)
	if !ok {
		p.addf("%s: --authz-routes %s is on no volume the container mounts", c.where, file)
		return
	}
	text, ok := read(m, strings.TrimPrefix(strings.TrimPrefix(file, strings.TrimSuffix(m.target, "/")), "/"))
	if !ok {
		p.addf("%s: --authz-routes %s: the %s %s it is mounted from does not hold it", c.where, file, m.kind, m.source)
		return
	}
	if _, err := authz.ParseRoutes(file, []byte(text)); err != nil {
		p.addf("%s: --authz-routes %s: %v", c.where, file, err)
	}
}

// mountOf returns the mount a path is on.
func mountOf(mounts []mount, p string) (mount, bool) {
	if p == "" {
		return mount{}, false
	}
	var best mount
	found := false
	for _, m := range mounts {
		t := strings.TrimSuffix(m.target, "/")
		if (p == t || strings.HasPrefix(p, t+"/")) && len(t) >= len(best.target) {
			best, found = m, true
		}
	}
	return best, found
}

// checkPeers follows each --peer-* address and --nats-url to what it
// reaches in the same deployment.
func checkPeers(d *deployment, p *problems) {
	for _, c := range d.containers {
		if c.cfg == nil {
			continue
		}
		for _, peer := range peerNames() {
			for _, addr := range c.cfg.Peer(peer) {
				host, port := hostPort(addr)
				target, cport, why := d.peerTarget(host, port)
				switch {
				case why == "" && strings.HasPrefix(addr, "dns:///") && d.headless != nil && !d.headless(host):
					p.addf("%s: --peer-%s %s: Service %s is not headless: it resolves to one ClusterIP, not to the replicas", c.where, peer, addr, host)
				case why != "":
					p.addf("%s: --peer-%s %s: %s", c.where, peer, addr, why)
				case target.cfg == nil:
					// Reported where it is deployed.
				case target.cfg.Service != peer:
					p.addf("%s: --peer-%s %s reaches serve %s (%s), not serve %s", c.where, peer, addr, serviceName(target.cfg), target.name, peer)
				case cport != portOf(target.cfg.MTLSAddr):
					p.addf("%s: --peer-%s %s reaches port %d of %s, but its mTLS listener (--mtls-addr %s) is on %d", c.where, peer, addr, cport, target.name, target.cfg.MTLSAddr, portOf(target.cfg.MTLSAddr))
				}
			}
		}
		if c.cfg.NATSURL != "" {
			for u := range strings.SplitSeq(c.cfg.NATSURL, ",") {
				parsed, err := url.Parse(strings.TrimSpace(u))
				if err != nil {
					p.addf("%s: --nats-url %s: %v", c.where, u, err)
					continue
				}
				port := 4222
				if ps := parsed.Port(); ps != "" {
					port, _ = strconv.Atoi(ps)
				}
				if why := d.natsTarget(parsed.Hostname(), port); why != "" {
					p.addf("%s: --nats-url %s: %s", c.where, u, why)
				}
			}
		}
		if c.cfg.DatabaseURL != "" && d.hasHost != nil {
			if u, err := url.Parse(c.cfg.DatabaseURL); err == nil && !d.hasHost(u.Hostname()) {
				p.addf("%s: the database URL's host %q is not a service of %s", c.where, u.Hostname(), d.where)
			}
		}
	}
}

// checkCoverage: every service runs, and on more than one replica.
func checkCoverage(d *deployment, p *problems) {
	for _, svc := range config.Services {
		var runs []*container
		for _, c := range d.containers {
			if c.cfg != nil && c.cfg.Service == svc {
				runs = append(runs, c)
			}
		}
		if len(runs) == 0 {
			p.addf("%s: serve %s is not deployed", d.where, svc)
		}
		for _, c := range runs {
			if c.replicas < 2 {
				p.addf("%s: serve %s runs %d replica(s); want at least 2, so that one can restart while the other serves", c.where, svc, c.replicas)
			}
		}
	}
}

func serviceName(cfg *config.Config) string {
	if cfg.Service == "" {
		return "(all services)"
	}
	return cfg.Service
}

func hostPort(addr string) (string, int) {
	// dns:///host:port: every address host resolves to (internal/peers).
	addr = strings.TrimPrefix(addr, "dns:///")
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, -1
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		return host, -1
	}
	return host, n
}

func portOf(addr string) int {
	_, port := hostPort(addr)
	return port
}

// ---- compose ----

// checkCompose checks every compose file under deploy/ (a YAML file with a
// services mapping); compose/compose.yaml must run every service.
func checkCompose(fx *fixture, p *problems) []*deployment {
	if _, ok := fx.yaml[composeFile]; !ok {
		p.addf("deploy/%s is missing", composeFile)
	}
	var out []*deployment
	for _, file := range slices.Sorted(maps.Keys(fx.yaml)) {
		for _, doc := range fx.yaml[file] {
			m := mapOf(doc)
			if m["apiVersion"] != nil || mapOf(m["services"]) == nil {
				continue
			}
			d := composeDeployment(fx, file, m, p)
			checkDeployment(d, file == composeFile, p)
			out = append(out, d)
		}
	}
	return out
}

func composeDeployment(fx *fixture, file string, doc map[string]any, p *problems) *deployment {
	dir := path.Dir(file)
	services := mapOf(doc["services"])
	d := &deployment{where: "deploy/" + file, key: file}
	byName := map[string]*container{}
	natsByName := map[string]*natsNode{}
	var certsJobs []string
	for _, name := range slices.Sorted(maps.Keys(services)) {
		svc := mapOf(services[name])
		where := fmt.Sprintf("deploy/%s: service %s", file, name)
		cmd := stringsOf(svc["command"])
		if strings.Contains(strings.Join(cmd, " "), "service-cert") {
			certsJobs = append(certsJobs, name)
		}
		if strings.Contains(strOf(svc["image"]), "nats") {
			if n := composeNATSNode(fx, dir, where, name, svc, p); n != nil {
				d.nats = append(d.nats, n)
				natsByName[name] = n
			}
			continue
		}
		if !composeRunsGatehouse(svc) || len(cmd) == 0 || cmd[0] != "serve" {
			continue
		}
		args := make([]string, 0, len(cmd)-1)
		for _, a := range cmd[1:] {
			v, err := interpolate(a)
			if err != nil {
				p.addf("%s: %v", where, err)
			}
			args = append(args, v)
		}
		c := &container{
			where: where, name: name, args: args,
			env:      composeEnv(fx, dir, where, svc, p),
			replicas: composeReplicas(svc),
			readOnly: svc["read_only"] == true,
			mounts:   composeMounts(svc),
		}
		c.load(p)
		if c.cfg != nil {
			checkComposeListeners(where, svc, c.cfg, p)
			checkAuthzRoutes(c, func(m mount, _ string) (string, bool) {
				if m.kind != "bind" {
					return "", false
				}
				text, ok := fx.files[path.Join(dir, m.source)]
				return text, ok
			}, p)
		}
		d.containers = append(d.containers, c)
		byName[name] = c
	}
	var keys *container
	for _, c := range d.containers {
		if c.cfg == nil || c.cfg.Service == "" {
			continue
		}
		if c.cfg.Service == "keys" {
			keys = c
		}
		checkDependsOnCerts(c.where, mapOf(services[c.name]), certsJobs, services, c, p)
	}
	for _, job := range certsJobs {
		checkCertsJob(fx, dir, fmt.Sprintf("deploy/%s: service %s", file, job), mapOf(services[job]), keys, p)
	}
	if file == composeFile {
		checkAdminKeyJob(file, services, p)
	}
	checkDependsOn(d.where, services, p)
	d.peerTarget = func(host string, port int) (*container, int, string) {
		if _, ok := services[host]; !ok {
			return nil, 0, fmt.Sprintf("no service named %q in %s", host, d.where)
		}
		if c := byName[host]; c != nil {
			// Compose publishes no port mapping between services: the
			// port dialled is the container's.
			return c, port, ""
		}
		return nil, 0, fmt.Sprintf("service %q does not run gatehouse serve", host)
	}
	d.natsTarget = func(host string, port int) string {
		n := natsByName[host]
		if n == nil {
			return fmt.Sprintf("no NATS service named %q in %s", host, d.where)
		}
		if cp := natsClientPort(n.conf); cp != port {
			return fmt.Sprintf("%s takes clients on port %d", host, cp)
		}
		return ""
	}
	d.hasHost = func(host string) bool { _, ok := services[host]; return ok }
	return d
}

// composeRunsGatehouse: the image is gatehouse, or built from this
// Dockerfile.
func composeRunsGatehouse(svc map[string]any) bool {
	if strings.Contains(strOf(svc["image"]), "gatehouse") {
		return true
	}
	b := svc["build"]
	return strings.Contains(strOf(b), "gatehouse") || strings.HasSuffix(strOf(get(b, "dockerfile")), "deploy/Dockerfile")
}

func composeReplicas(svc map[string]any) int {
	if n, ok := intOf(get(svc, "deploy", "replicas")); ok {
		return n
	}
	if n, ok := intOf(svc["scale"]); ok {
		return n
	}
	return 1
}

// composeEnv is what the container's environment would hold: env_file
// first (from the committed .example template, as the real file is not in
// git), then environment.
func composeEnv(fx *fixture, dir, where string, svc map[string]any, p *problems) map[string]string {
	env := map[string]string{}
	var files []string
	switch v := svc["env_file"].(type) {
	case string:
		files = []string{v}
	case []any:
		for _, f := range v {
			if s := strOf(get(f, "path")); s != "" {
				files = append(files, s)
			} else {
				files = append(files, strOf(f))
			}
		}
	}
	for _, f := range files {
		rel := path.Join(dir, f)
		text, ok := fx.files[rel+".example"]
		if !ok {
			text, ok = fx.files[rel]
		}
		if !ok {
			p.addf("%s: env_file %s: neither it nor %s.example is in deploy/ (the test reads the committed template)", where, f, f)
			continue
		}
		maps.Copy(env, parseDotenv(text))
	}
	set := func(k, v string) {
		s, err := interpolate(v)
		if err != nil {
			p.addf("%s: environment %s: %v", where, k, err)
		}
		env[k] = s
	}
	switch v := svc["environment"].(type) {
	case map[string]any:
		for k, val := range v {
			set(k, strOf(val))
		}
	case []any:
		for _, kv := range v {
			k, val, _ := strings.Cut(strOf(kv), "=")
			set(k, val)
		}
	}
	return env
}

func parseDotenv(text string) map[string]string {
	env := map[string]string{}
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		env[strings.TrimSpace(k)] = v
	}
	return env
}

var interpolation = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

// interpolate does compose's variable substitution as far as the file
// alone decides it: $$ and ${X:-default}. A variable without a default is
// an error: the test cannot know its value.
func interpolate(s string) (string, error) {
	var err error
	out := interpolation.ReplaceAllStringFunc(s, func(m string) string {
		sub := interpolation.FindStringSubmatch(m)
		switch {
		case m == "$$":
			return "$"
		case sub[2] == ":-" || sub[2] == "-":
			return sub[3]
		}
		if err == nil {
			err = fmt.Errorf("%s takes its value from the environment, which the test cannot check; give it a default (${NAME:-value}) or write the value", m)
		}
		return m
	})
	return out, err
}

func composeMounts(svc map[string]any) []mount {
	var out []mount
	for _, v := range listOf(svc["volumes"]) {
		if s, ok := v.(string); ok {
			parts := strings.Split(s, ":")
			if len(parts) < 2 {
				out = append(out, mount{target: parts[0], kind: "volume"})
				continue
			}
			kind := "volume"
			if strings.HasPrefix(parts[0], ".") || strings.HasPrefix(parts[0], "/") || strings.HasPrefix(parts[0], "~") {
				kind = "bind"
			}
			ro := len(parts) > 2 && slices.Contains(strings.Split(parts[2], ","), "ro")
			m := mount{target: parts[1], readOnly: ro, kind: kind, source: parts[0]}
			if kind == "bind" {
				m.owner = path.Base(parts[0])
			}
			out = append(out, m)
			continue
		}
		m := mapOf(v)
		kind := strOf(m["type"])
		if kind == "" {
			kind = "volume"
		}
		mt := mount{target: strOf(m["target"]), readOnly: m["read_only"] == true, kind: kind, source: strOf(m["source"])}
		if sub := strOf(get(m, "volume", "subpath")); sub != "" {
			mt.owner = sub
			mt.source += "/" + sub
		} else if kind == "bind" {
			mt.owner = path.Base(mt.source)
		}
		out = append(out, mt)
	}
	for _, t := range stringsOf(svc["tmpfs"]) {
		out = append(out, mount{target: strings.SplitN(t, ":", 2)[0], kind: "tmpfs"})
	}
	return out
}

// checkComposeListeners: what the service says it exposes matches the
// listeners.
func checkComposeListeners(where string, svc map[string]any, cfg *config.Config, p *problems) {
	exposed := stringsOf(svc["expose"])
	if len(exposed) == 0 {
		return
	}
	for _, l := range listeners(cfg) {
		if !slices.Contains(exposed, strconv.Itoa(portOf(l.addr))) {
			p.addf("%s: expose does not list %d, the %s listener (--%s-addr %s)", where, portOf(l.addr), l.name, l.name, l.addr)
		}
	}
}

// checkDependsOn: every service waited for exists, and no service waits,
// through others, for itself, which compose refuses at `up`.
func checkDependsOn(where string, services map[string]any, p *problems) {
	deps := func(name string) []string {
		switch v := get(services[name], "depends_on").(type) {
		case map[string]any:
			return slices.Sorted(maps.Keys(v))
		case []any:
			return stringsOf(v)
		}
		return nil
	}
	state := map[string]int{} // 1: on the current path, 2: done
	var visit func(name string, path []string)
	visit = func(name string, path []string) {
		switch state[name] {
		case 1:
			cycle := append(slices.Clone(path[slices.Index(path, name):]), name)
			p.addf("%s: depends_on cycle %s", where, strings.Join(cycle, " -> "))
			return
		case 2:
			return
		}
		state[name] = 1
		for _, dep := range deps(name) {
			if _, ok := services[dep]; !ok {
				p.addf("%s: service %s depends on %q, which is not a service", where, name, dep)
				continue
			}
			visit(dep, append(path, name))
		}
		state[name] = 2
	}
	for _, name := range slices.Sorted(maps.Keys(services)) {
		visit(name, nil)
	}
}

// checkCertsJob: the one-shot job issues an identity for every service,
// from the platform CA in the key service's store: `gatehouse service-cert`
// opens that store with the KEK, as serve keys does, so it needs the same
// database URL and KEK, and writable --data-dir and --out directories.
func checkCertsJob(fx *fixture, dir, where string, svc map[string]any, keys *container, p *problems) {
	text := strings.Join(stringsOf(svc["command"]), " ")
	for _, name := range config.Services {
		if !regexp.MustCompile(`\b` + regexp.QuoteMeta(name) + `\b`).MatchString(text) {
			p.addf("%s: issues no identity for serve %s", where, name)
		}
	}
	env := composeEnv(fx, dir, where, svc, p)
	if keys != nil {
		for _, k := range []string{"GATEHOUSE_DATABASE_URL", "GATEHOUSE_KEK", "GATEHOUSE_KEK_FILE"} {
			if env[k] != keys.env[k] {
				p.addf("%s: service-cert's %s is not serve keys' (%s): it would use another store or KEK than the key service, and its CA would be one no service trusts", where, k, keys.where)
			}
		}
	}
	mounts := composeMounts(svc)
	for line := range strings.Lines(text) {
		fields := strings.Fields(line)
		if !slices.Contains(fields, "service-cert") {
			continue
		}
		dirs := map[string]string{"data-dir": flagValue(fields, "--data-dir"), "out": flagValue(fields, "--out")}
		if dirs["data-dir"] == "" {
			dirs["data-dir"] = cmp.Or(env["GATEHOUSE_DATA_DIR"], "/data") // ./data from the image's working directory, /
		}
		if dirs["out"] == "" {
			dirs["out"] = "/"
		}
		for _, flag := range slices.Sorted(maps.Keys(dirs)) {
			if m, ok := mountOf(mounts, dirs[flag]); svc["read_only"] == true && (!ok || m.readOnly) {
				p.addf("%s: service-cert's --%s %s is not on a writable mount, and the root filesystem is read-only", where, flag, dirs[flag])
			}
		}
	}
}

// checkAdminKeyJob: the compose deployment mints its first admin key
// with a job of its own (`serve clients` would write it into a tmpfs): into
// a named volume, once (a later run finds the file and mints nothing),
// with the registry's database, and with its key file kept private.
func checkAdminKeyJob(file string, services map[string]any, p *problems) {
	var jobs []string
	for name, v := range services {
		if strings.Contains(strings.Join(stringsOf(mapOf(v)["command"]), " "), "admin create-key") {
			jobs = append(jobs, name)
		}
	}
	if len(jobs) != 1 {
		p.addf("deploy/%s: %d services run gatehouse admin create-key, want one job minting the first admin key", file, len(jobs))
		return
	}
	svc := mapOf(services[jobs[0]])
	where := fmt.Sprintf("deploy/%s: service %s", file, jobs[0])
	script := strings.Join(stringsOf(svc["command"]), "\n")
	out := regexp.MustCompile(`--out\s+(\S+)`).FindStringSubmatch(script)
	if out == nil {
		p.addf("%s: admin create-key without --out: the key would only be printed into the container's log", where)
		return
	}
	if !strings.Contains(script, "[ -e "+out[1]+" ] && exit 0") {
		p.addf("%s: does not stop when %s exists: every up would mint another admin key", where, out[1])
	}
	if !strings.Contains(script, "umask 077") {
		p.addf("%s: no umask 077 before the key file is written", where)
	}
	dir := path.Dir(out[1])
	if !slices.ContainsFunc(composeMounts(svc), func(m mount) bool { return m.kind == "volume" && m.target == dir }) {
		p.addf("%s: %s is not on a named volume: the key would be lost with the container", where, dir)
	}
	if !slices.Contains(stringsOf(svc["env_file"]), "secrets/database.env") {
		p.addf("%s: without secrets/database.env it mints into a store no service uses", where)
	}
}

// checkK8sAdminKeyJob: the Kubernetes base mints its first admin key with
// one Job, into a Secret (--k8s-secret), with the registry's database, and
// a service account that may do no more than that: get the one Secret by
// name and create Secrets. Every other pod has no service account token.
// checkK8sAuthzPolicy: the gateway authorizer believes forwarded headers
// from the whole pod network (--trusted-proxies), so a NetworkPolicy must
// let only labelled pods reach its authz port, and must leave the http port
// (the kubelet's probes) open.
func checkK8sAuthzPolicy(set *k8sSet, p *problems) {
	for _, d := range set.objects {
		if d.kind() != "Deployment" {
			continue
		}
		authz := false
		for _, c := range listOf(get(d.doc, "spec", "template", "spec", "containers")) {
			if args := stringsOf(get(c, "args")); len(args) >= 2 && args[0] == "serve" && args[1] == "authz" {
				authz = true
			}
		}
		if !authz {
			continue
		}
		where := fmt.Sprintf("%s: Deployment %s", d.file, d.name())
		podLabels := mapOf(get(d.doc, "spec", "template", "metadata", "labels"))
		var policies []k8sObject
		for _, o := range set.objects {
			if o.kind() != "NetworkPolicy" {
				continue
			}
			sel := mapOf(get(o.doc, "spec", "podSelector", "matchLabels"))
			selects := len(sel) > 0
			for k, v := range sel {
				if podLabels[k] != v {
					selects = false
				}
			}
			if selects && slices.Contains(stringsOf(get(o.doc, "spec", "policyTypes")), "Ingress") {
				policies = append(policies, o)
			}
		}
		if len(policies) == 0 {
			p.addf("%s: no NetworkPolicy keeps other pods off its authz port, and --trusted-proxies believes the whole pod network", where)
			continue
		}
		for _, o := range policies {
			pw := fmt.Sprintf("%s: NetworkPolicy %s", o.file, o.name())
			probes := false
			for _, rule := range listOf(get(o.doc, "spec", "ingress")) {
				ports := map[string]bool{}
				for _, port := range listOf(get(rule, "ports")) {
					ports[fmt.Sprint(get(port, "port"))] = true
				}
				from := listOf(get(rule, "from"))
				if len(ports) == 0 || ports["authz"] || ports["8081"] {
					if len(from) == 0 {
						p.addf("%s: the authz port is open to every pod", pw)
					}
					for _, peer := range from {
						if len(mapOf(get(peer, "podSelector", "matchLabels"))) == 0 {
							p.addf("%s: the authz port is open to every pod of a namespace, not to labelled gateways", pw)
						}
					}
				}
				if (ports["http"] || ports["8080"]) && len(from) == 0 {
					probes = true
				}
			}
			if !probes {
				p.addf("%s: the http port (the kubelet's probes) is not open", pw)
			}
		}
	}
}

func checkK8sAdminKeyJob(set *k8sSet, p *problems) {
	var jobs []k8sObject
	for _, o := range set.objects {
		if o.kind() == "Job" {
			for _, c := range listOf(get(o.doc, "spec", "template", "spec", "containers")) {
				if args := stringsOf(get(c, "args")); len(args) >= 2 && args[0] == "admin" && args[1] == "create-key" {
					jobs = append(jobs, o)
				}
			}
		}
	}
	where := "deploy/" + set.dir
	if len(jobs) != 1 {
		p.addf("%s: %d Jobs run gatehouse admin create-key, want one minting the first admin key", where, len(jobs))
		return
	}
	job := jobs[0]
	where = fmt.Sprintf("deploy/%s: Job %s", job.file, job.name())
	pod := mapOf(get(job.doc, "spec", "template", "spec"))
	c := mapOf(listOf(pod["containers"])[0])
	var secret string
	for _, a := range stringsOf(c["args"]) {
		if v, ok := strings.CutPrefix(a, "--k8s-secret="); ok {
			secret = v
		}
		if strings.HasPrefix(a, "--out") {
			p.addf("%s: admin create-key --out writes the key into the pod's filesystem, gone with it", where)
		}
	}
	if secret == "" {
		p.addf("%s: admin create-key without --k8s-secret: the key would only be printed into the pod's log", where)
	}
	if !slices.ContainsFunc(listOf(c["env"]), func(e any) bool {
		return strOf(get(e, "name")) == "GATEHOUSE_DATABASE_URL" && strOf(get(e, "valueFrom", "secretKeyRef", "name")) == "gatehouse-database"
	}) {
		p.addf("%s: without GATEHOUSE_DATABASE_URL from gatehouse-database it mints into a store no service uses", where)
	}
	sa := strOf(pod["serviceAccountName"])
	if sa == "" || sa == "default" {
		p.addf("%s: runs as the namespace's default service account, not one of its own", where)
		return
	}
	// The Roles bound to the Job's service account, and their rules.
	roles := map[string]bool{}
	for _, o := range set.objects {
		if o.kind() != "RoleBinding" && o.kind() != "ClusterRoleBinding" {
			continue
		}
		for _, subj := range listOf(o.doc["subjects"]) {
			if strOf(get(subj, "kind")) == "ServiceAccount" && strOf(get(subj, "name")) == sa {
				if o.kind() == "ClusterRoleBinding" || strOf(get(o.doc, "roleRef", "kind")) != "Role" {
					p.addf("%s: service account %s is bound cluster-wide (%s %s)", where, sa, o.kind(), o.name())
				}
				roles[strOf(get(o.doc, "roleRef", "name"))] = true
			}
		}
	}
	if len(roles) == 0 {
		p.addf("%s: service account %s has no Role: it cannot write the Secret", where, sa)
	}
	canGet, canCreate := false, false
	for _, o := range set.objects {
		if o.kind() != "Role" || !roles[o.name()] {
			continue
		}
		for _, r := range listOf(o.doc["rules"]) {
			resources, verbs, names := stringsOf(get(r, "resources")), stringsOf(get(r, "verbs")), stringsOf(get(r, "resourceNames"))
			if !slices.Equal(resources, []string{"secrets"}) || !slices.Equal(stringsOf(get(r, "apiGroups")), []string{""}) {
				p.addf("%s: Role %s allows %v in %v: only secrets are needed", where, o.name(), resources, stringsOf(get(r, "apiGroups")))
				continue
			}
			for _, v := range verbs {
				switch {
				case v == "get" && slices.Equal(names, []string{secret}):
					canGet = true
				case v == "create" && len(names) == 0:
					canCreate = true
				default:
					p.addf("%s: Role %s allows %s on secrets %v: the Job needs get on %s and create, nothing else", where, o.name(), v, names, secret)
				}
			}
		}
	}
	if !canGet || !canCreate {
		p.addf("%s: the service account may not get secret %s and create secrets: the Job would fail", where, secret)
	}
	if v, ok := pod["automountServiceAccountToken"].(bool); ok && !v {
		p.addf("%s: automountServiceAccountToken is false: the Job cannot reach the Kubernetes API", where)
	}
	for _, o := range set.objects {
		if o.kind() == "Deployment" || o.kind() == "StatefulSet" {
			if v, ok := get(o.doc, "spec", "template", "spec", "automountServiceAccountToken").(bool); !ok || v {
				p.addf("deploy/%s: %s %s mounts a service account token it does not need", o.file, o.kind(), o.name())
			}
		}
	}
}

// checkDependsOnCerts: a service starts only once the certs job has issued
// its identity, into the volume it mounts.
func checkDependsOnCerts(where string, svc map[string]any, certsJobs []string, services map[string]any, c *container, p *problems) {
	if len(certsJobs) == 0 {
		return
	}
	deps := mapOf(svc["depends_on"])
	ok := false
	for _, job := range certsJobs {
		if strOf(get(deps, job, "condition")) == "service_completed_successfully" {
			ok = true
			if m, found := mountOf(c.mounts, c.cfg.PeerCertFile); found && m.kind == "volume" {
				src, _, _ := strings.Cut(m.source, "/")
				if !slices.ContainsFunc(composeMounts(mapOf(services[job])), func(jm mount) bool { return jm.source == src }) {
					p.addf("%s: its identity volume %q is not the one %s writes", where, src, job)
				}
			}
		}
	}
	if !ok {
		p.addf("%s: does not depend on %s with condition service_completed_successfully: it could start before its certificate exists", where, strings.Join(certsJobs, " or "))
	}
}

func composeNATSNode(fx *fixture, dir, where, name string, svc map[string]any, p *problems) *natsNode {
	cmd := stringsOf(svc["command"])
	confPath := flagValue(cmd, "--config", "-c")
	if confPath == "" {
		p.addf("%s: runs NATS without --config", where)
		return nil
	}
	mounts := composeMounts(svc)
	m, ok := mountOf(mounts, confPath)
	if !ok || m.kind != "bind" {
		p.addf("%s: --config %s is not a file mounted from deploy/", where, confPath)
		return nil
	}
	src := path.Clean(path.Join(dir, m.source, strings.TrimPrefix(confPath, m.target)))
	text, ok := fx.files[src]
	if !ok {
		p.addf("%s: mounts %s, which is not in deploy/", where, m.source)
		return nil
	}
	conf, err := parseNATSConf(text, nil)
	if err != nil {
		p.addf("%s: deploy/%s: %v", where, src, err)
		return nil
	}
	return &natsNode{where: fmt.Sprintf("%s (deploy/%s)", where, src), host: name, conf: conf, mounts: mounts, file: src}
}

// flagValue returns the value of the first of names in args (--name v or
// --name=v).
func flagValue(args []string, names ...string) string {
	for i, a := range args {
		for _, n := range names {
			if a == n && i+1 < len(args) {
				return args[i+1]
			}
			if v, ok := strings.CutPrefix(a, n+"="); ok {
				return v
			}
		}
	}
	return ""
}

// ---- Kubernetes ----

type k8sObject struct {
	file string
	doc  map[string]any
}

func (o k8sObject) kind() string { return strOf(o.doc["kind"]) }
func (o k8sObject) name() string { return strOf(get(o.doc, "metadata", "name")) }

// k8sSet is one directory's objects and the ConfigMaps and Secrets its
// kustomization generates.
type k8sSet struct {
	dir        string
	objects    []k8sObject
	configMaps map[string]map[string]string
	secrets    map[string]map[string]bool
	replicas   map[string]int // an overlay's replicas
}

// checkKubernetes checks every kustomize directory under deploy/ (and
// plain manifests in directories without one); k8s/base must run every
// service, and so must each overlay built on it.
func checkKubernetes(fx *fixture, p *problems) []*deployment {
	if _, ok := fx.yaml[k8sBase+"/kustomization.yaml"]; !ok {
		p.addf("deploy/%s/kustomization.yaml is missing", k8sBase)
	}
	kustomized := map[string]bool{}
	var out []*deployment
	for _, file := range slices.Sorted(maps.Keys(fx.yaml)) {
		if path.Base(file) != "kustomization.yaml" {
			continue
		}
		dir := path.Dir(file)
		kustomized[dir] = true
		set, bases := kustomizeSet(fx, dir, p)
		if len(set.objects) > 0 {
			d := k8sDeployment(set, "", p)
			checkDeployment(d, dir == k8sBase, p)
			out = append(out, d)
			if dir == k8sBase {
				checkK8sAdminKeyJob(set, p)
				checkK8sAuthzPolicy(set, p)
			}
		}
		for _, base := range bases {
			d := checkOverlay(fx, dir, base, p)
			if d != nil {
				checkDeployment(d, base == k8sBase, p)
			}
		}
	}
	plain := map[string]*k8sSet{}
	for _, file := range slices.Sorted(maps.Keys(fx.yaml)) {
		dir := path.Dir(file)
		if kustomized[dir] {
			continue
		}
		for _, doc := range fx.yaml[file] {
			if m := mapOf(doc); m["apiVersion"] != nil && m["kind"] != nil {
				if plain[dir] == nil {
					plain[dir] = &k8sSet{dir: dir, configMaps: map[string]map[string]string{}, secrets: map[string]map[string]bool{}}
				}
				plain[dir].objects = append(plain[dir].objects, k8sObject{file: file, doc: m})
			}
		}
	}
	for _, dir := range slices.Sorted(maps.Keys(plain)) {
		set := plain[dir]
		addObjectData(set)
		d := k8sDeployment(set, "", p)
		checkDeployment(d, false, p)
		out = append(out, d)
	}
	return out
}

// kustomizeSet reads a kustomization: the objects of its resource files,
// its generators, and the directories it builds on.
func kustomizeSet(fx *fixture, dir string, p *problems) (*k8sSet, []string) {
	kfile := dir + "/kustomization.yaml"
	k := mapOf(first(fx.yaml[kfile]))
	set := &k8sSet{dir: dir, configMaps: map[string]map[string]string{}, secrets: map[string]map[string]bool{}}
	var bases []string
	listed := map[string]bool{}
	for _, r := range stringsOf(k["resources"]) {
		rel := path.Clean(path.Join(dir, r))
		if _, ok := fx.files[rel+"/kustomization.yaml"]; ok {
			bases = append(bases, rel)
			continue
		}
		docs, ok := fx.yaml[rel]
		if !ok {
			p.addf("deploy/%s: resource %s is not a YAML file or kustomize directory in deploy/", kfile, r)
			continue
		}
		listed[rel] = true
		for _, doc := range docs {
			set.objects = append(set.objects, k8sObject{file: rel, doc: mapOf(doc)})
		}
	}
	for file := range fx.yaml {
		if path.Dir(file) == dir && file != kfile && !listed[file] {
			p.addf("deploy/%s is not in deploy/%s's resources: kubectl apply -k leaves it out", file, kfile)
		}
	}
	addObjectData(set)
	for _, g := range listOf(k["configMapGenerator"]) {
		set.configMaps[strOf(get(g, "name"))] = literals(g)
	}
	for _, g := range listOf(k["secretGenerator"]) {
		keys := map[string]bool{}
		for key := range literals(g) {
			keys[key] = true
		}
		set.secrets[strOf(get(g, "name"))] = keys
	}
	return set, bases
}

func addObjectData(set *k8sSet) {
	for _, o := range set.objects {
		switch o.kind() {
		case "ConfigMap":
			data := map[string]string{}
			for k, v := range mapOf(o.doc["data"]) {
				data[k] = strOf(v)
			}
			set.configMaps[o.name()] = data
		case "Secret":
			keys := map[string]bool{}
			for k := range mapOf(o.doc["stringData"]) {
				keys[k] = true
			}
			for k := range mapOf(o.doc["data"]) {
				keys[k] = true
			}
			set.secrets[o.name()] = keys
		}
	}
}

func literals(gen any) map[string]string {
	out := map[string]string{}
	for _, l := range stringsOf(get(gen, "literals")) {
		k, v, _ := strings.Cut(l, "=")
		out[k] = v
	}
	return out
}

// checkOverlay checks what an overlay changes in its base, and returns the
// base's deployment as the overlay builds it.
func checkOverlay(fx *fixture, dir, base string, p *problems) *deployment {
	kfile := dir + "/kustomization.yaml"
	where := "deploy/" + kfile
	k := mapOf(first(fx.yaml[kfile]))
	set, _ := kustomizeSet(fx, base, &problems{}) // the base's own problems are reported by its own check
	set.replicas = map[string]int{}
	deployments := map[string]bool{}
	var images []string
	for _, o := range set.objects {
		if o.kind() == "Deployment" || o.kind() == "StatefulSet" {
			deployments[o.name()] = true
			for _, c := range listOf(get(o.doc, "spec", "template", "spec", "containers")) {
				images = append(images, strOf(get(c, "image")))
			}
		}
	}
	for _, r := range listOf(k["replicas"]) {
		name := strOf(get(r, "name"))
		n, _ := intOf(get(r, "count"))
		if !deployments[name] {
			p.addf("%s: replicas names %q, which is no Deployment of deploy/%s", where, name, base)
		}
		set.replicas[name] = n
	}
	for _, img := range listOf(k["images"]) {
		name := strOf(get(img, "name"))
		if !slices.ContainsFunc(images, func(i string) bool { return imageName(i) == name }) {
			p.addf("%s: images names %q, which no container of deploy/%s runs: the image would not change", where, name, base)
		}
	}
	for _, g := range listOf(k["configMapGenerator"]) {
		name := strOf(get(g, "name"))
		data, ok := set.configMaps[name]
		behavior := strOf(get(g, "behavior"))
		switch {
		case (behavior == "merge" || behavior == "replace") && !ok:
			p.addf("%s: configMapGenerator %s %ss a ConfigMap deploy/%s does not have", where, name, behavior, base)
		case behavior == "merge":
			maps.Copy(data, literals(g))
		default:
			set.configMaps[name] = literals(g)
		}
	}
	for _, g := range listOf(k["secretGenerator"]) {
		keys := map[string]bool{}
		for key := range literals(g) {
			keys[key] = true
		}
		if old, ok := set.secrets[strOf(get(g, "name"))]; ok && strOf(get(g, "behavior")) == "merge" {
			maps.Copy(keys, old)
		}
		set.secrets[strOf(get(g, "name"))] = keys
	}
	return k8sDeployment(set, fmt.Sprintf("deploy/%s, as built by %s: ", base, where), p)
}

// imageName is an image reference without its tag or digest.
func imageName(ref string) string {
	if i := strings.Index(ref, "@"); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref = ref[:i]
	}
	return ref
}

// podInfo is a workload's pod template, for Services and budgets to
// select.
type podInfo struct {
	workload string
	labels   map[string]string
	ports    map[string]int
	c        *container // the gatehouse container, if any
}

func k8sDeployment(set *k8sSet, prefix string, p *problems) *deployment {
	d := &deployment{where: prefix + "deploy/" + set.dir, key: set.dir}
	var pods []*podInfo
	services := map[string]k8sObject{}
	var pdbs []k8sObject
	for _, o := range set.objects {
		switch o.kind() {
		case "Service":
			services[o.name()] = o
		case "PodDisruptionBudget":
			pdbs = append(pdbs, o)
		}
	}
	natsHosts := map[string]*natsNode{}
	for _, o := range set.objects {
		if o.kind() != "Deployment" && o.kind() != "StatefulSet" {
			continue
		}
		replicas := 1
		if n, ok := intOf(get(o.doc, "spec", "replicas")); ok {
			replicas = n
		}
		if n, ok := set.replicas[o.name()]; ok {
			replicas = n
		}
		podSpec := mapOf(get(o.doc, "spec", "template", "spec"))
		labels := stringMap(get(o.doc, "spec", "template", "metadata", "labels"))
		if sel := stringMap(get(o.doc, "spec", "selector", "matchLabels")); !subset(sel, labels) {
			p.addf("%sdeploy/%s: %s %s: its selector %v does not match its pod labels %v", prefix, o.file, o.kind(), o.name(), sel, labels)
		}
		for _, ctr := range listOf(podSpec["containers"]) {
			ctr := mapOf(ctr)
			image := strOf(ctr["image"])
			where := fmt.Sprintf("%sdeploy/%s: %s %s container %s", prefix, o.file, o.kind(), o.name(), strOf(ctr["name"]))
			ports := map[string]int{}
			for _, port := range listOf(ctr["ports"]) {
				n, _ := intOf(get(port, "containerPort"))
				ports[strOf(get(port, "name"))] = n
			}
			pod := &podInfo{workload: o.name(), labels: labels, ports: ports}
			pods = append(pods, pod)
			if o.kind() == "StatefulSet" && strings.Contains(image, "nats") {
				for _, n := range k8sNATSNodes(set, o, ctr, where, replicas, services, p) {
					d.nats = append(d.nats, n)
					natsHosts[n.host] = n
				}
				continue
			}
			if o.kind() != "Deployment" || !strings.Contains(image, "gatehouse") {
				continue
			}
			if cmd := stringsOf(ctr["command"]); len(cmd) > 0 && !slices.Equal(cmd, []string{"/gatehouse"}) {
				p.addf("%s: command %q replaces the image's entrypoint /gatehouse", where, cmd)
			}
			args := stringsOf(ctr["args"])
			if len(args) == 0 || args[0] != "serve" {
				continue
			}
			c := &container{
				where: where, name: o.name(), args: args[1:],
				env:      k8sEnv(set, where, ctr, p),
				replicas: replicas,
				readOnly: get(ctr, "securityContext", "readOnlyRootFilesystem") == true,
				mounts:   k8sMounts(o, ctr, where, p),
			}
			c.load(p)
			pod.c = c
			d.containers = append(d.containers, c)
			if c.cfg != nil {
				checkK8sContainer(where, o, ctr, c, ports, p)
				checkAuthzRoutes(c, func(m mount, key string) (string, bool) {
					if m.kind != "configMap" {
						return "", false
					}
					text, ok := set.configMaps[m.source][key]
					return text, ok
				}, p)
			}
			checkK8sPolicy(where, o, labels, replicas, pdbs, p)
			checkK8sService(where, o.name(), pod, services, p)
		}
	}
	d.headless = func(host string) bool {
		svc, ok := services[host]
		return ok && get(svc.doc, "spec", "clusterIP") == "None"
	}
	d.peerTarget = func(host string, port int) (*container, int, string) {
		svc, ok := services[host]
		if !ok {
			return nil, 0, fmt.Sprintf("no Service named %q in %s", host, d.where)
		}
		var target any
		found := false
		for _, sp := range listOf(get(svc.doc, "spec", "ports")) {
			if n, _ := intOf(get(sp, "port")); n == port {
				target, found = get(sp, "targetPort"), true
				if target == nil {
					target = port
				}
			}
		}
		if !found {
			return nil, 0, fmt.Sprintf("Service %s has no port %d", host, port)
		}
		sel := stringMap(get(svc.doc, "spec", "selector"))
		for _, pod := range pods {
			if pod.c == nil || len(sel) == 0 || !subset(sel, pod.labels) {
				continue
			}
			cport, ok := resolvePort(target, pod.ports)
			if !ok {
				return nil, 0, fmt.Sprintf("Service %s port %d targets %v, which Deployment %s does not declare", host, port, target, pod.workload)
			}
			return pod.c, cport, ""
		}
		return nil, 0, fmt.Sprintf("Service %s selects no gatehouse Deployment", host)
	}
	d.natsTarget = func(host string, port int) string {
		if n, ok := natsHosts[host]; ok {
			if cp := natsClientPort(n.conf); cp != port {
				return fmt.Sprintf("%s takes clients on port %d", host, cp)
			}
			return ""
		}
		if svc, ok := services[host]; ok {
			for _, sp := range listOf(get(svc.doc, "spec", "ports")) {
				if n, _ := intOf(get(sp, "port")); n == port {
					return ""
				}
			}
			return fmt.Sprintf("Service %s has no port %d", host, port)
		}
		return fmt.Sprintf("no NATS node or Service named %q in %s", host, d.where)
	}
	return d
}

// k8sEnv is the container's environment: envFrom, then env, with the
// values of Secrets replaced by placeholders. A ConfigMap or Secret that
// is not in the set is a problem: the pod would not start.
func k8sEnv(set *k8sSet, where string, ctr map[string]any, p *problems) map[string]string {
	env := map[string]string{}
	for _, ef := range listOf(ctr["envFrom"]) {
		if name := strOf(get(ef, "configMapRef", "name")); name != "" {
			data, ok := set.configMaps[name]
			if !ok {
				p.addf("%s: envFrom ConfigMap %q is not in deploy/%s", where, name, set.dir)
			}
			maps.Copy(env, data)
		}
		if name := strOf(get(ef, "secretRef", "name")); name != "" {
			keys, ok := set.secrets[name]
			if !ok {
				p.addf("%s: envFrom Secret %q is not in deploy/%s", where, name, set.dir)
			}
			for k := range keys {
				env[k] = secretPlaceholder(k)
			}
		}
	}
	for _, e := range listOf(ctr["env"]) {
		name := strOf(get(e, "name"))
		if v, ok := mapOf(e)["value"]; ok {
			env[name] = strOf(v)
			continue
		}
		if ref := mapOf(get(e, "valueFrom", "secretKeyRef")); ref != nil {
			sn, key := strOf(ref["name"]), strOf(ref["key"])
			keys, ok := set.secrets[sn]
			switch {
			case !ok:
				p.addf("%s: env %s: Secret %q is not in deploy/%s", where, name, sn, set.dir)
			case !keys[key]:
				p.addf("%s: env %s: Secret %q has no key %q", where, name, sn, key)
			}
			env[name] = secretPlaceholder(name)
			continue
		}
		if ref := mapOf(get(e, "valueFrom", "configMapKeyRef")); ref != nil {
			cn, key := strOf(ref["name"]), strOf(ref["key"])
			data, ok := set.configMaps[cn]
			if _, has := data[key]; !ok || !has {
				p.addf("%s: env %s: ConfigMap %q has no key %q in deploy/%s", where, name, cn, key, set.dir)
			}
			env[name] = data[key]
			continue
		}
		env[name] = "placeholder"
	}
	return env
}

func k8sMounts(o k8sObject, ctr map[string]any, where string, p *problems) []mount {
	volumes := map[string]map[string]any{}
	for _, v := range listOf(get(o.doc, "spec", "template", "spec", "volumes")) {
		volumes[strOf(get(v, "name"))] = mapOf(v)
	}
	claims := map[string]bool{}
	for _, c := range listOf(get(o.doc, "spec", "volumeClaimTemplates")) {
		claims[strOf(get(c, "metadata", "name"))] = true
	}
	var out []mount
	for _, vm := range listOf(ctr["volumeMounts"]) {
		name := strOf(get(vm, "name"))
		m := mount{target: strOf(get(vm, "mountPath")), readOnly: get(vm, "readOnly") == true}
		v := volumes[name]
		switch {
		case v == nil && claims[name]:
			m.kind, m.source = "pvc", name
		case v == nil:
			p.addf("%s: volumeMount %s names no volume", where, name)
			continue
		case v["secret"] != nil:
			m.kind, m.source = "secret", strOf(get(v, "secret", "secretName"))
			if s, ok := strings.CutPrefix(m.source, "gatehouse-"); ok {
				m.owner, _ = strings.CutSuffix(s, "-identity")
			}
		case v["configMap"] != nil:
			m.kind, m.source, m.readOnly = "configMap", strOf(get(v, "configMap", "name")), true
		case v["emptyDir"] != nil:
			m.kind = "emptyDir"
		case v["persistentVolumeClaim"] != nil:
			m.kind, m.source = "pvc", strOf(get(v, "persistentVolumeClaim", "claimName"))
		default:
			m.kind = "volume"
		}
		out = append(out, m)
	}
	return out
}

type listener struct{ name, addr string }

func listeners(cfg *config.Config) []listener {
	out := []listener{{"http", cfg.HTTPAddr}, {"grpc", cfg.GRPCAddr}}
	if cfg.MTLSAddr != "" {
		out = append(out, listener{"mtls", cfg.MTLSAddr})
	}
	return out
}

// checkK8sContainer: containerPorts and probes agree with the listeners,
// and the container is locked down.
func checkK8sContainer(where string, o k8sObject, ctr map[string]any, c *container, ports map[string]int, p *problems) {
	for _, l := range listeners(c.cfg) {
		got, ok := ports[l.name]
		switch {
		case !ok:
			p.addf("%s: declares no containerPort named %s (--%s-addr listens on %d)", where, l.name, l.name, portOf(l.addr))
		case got != portOf(l.addr):
			p.addf("%s: containerPort %s is %d but --%s-addr listens on %d", where, l.name, got, l.name, portOf(l.addr))
		}
	}
	httpPort := portOf(c.cfg.HTTPAddr)
	for _, probe := range []struct {
		kind  string
		paths []string
	}{
		{"livenessProbe", []string{"/healthz"}},
		{"readinessProbe", []string{"/readyz"}},
		{"startupProbe", []string{"/healthz", "/readyz"}},
	} {
		hg := mapOf(get(ctr, probe.kind, "httpGet"))
		if hg == nil {
			p.addf("%s: has no %s with httpGet", where, probe.kind)
			continue
		}
		if path := strOf(hg["path"]); !slices.Contains(probe.paths, path) {
			p.addf("%s: %s path is %q; want %s", where, probe.kind, path, strings.Join(probe.paths, " or "))
		}
		if port, ok := resolvePort(hg["port"], ports); !ok || port != httpPort {
			p.addf("%s: %s port %v is not the http listener (--http-addr %s)", where, probe.kind, hg["port"], c.cfg.HTTPAddr)
		}
	}
	pod := mapOf(get(o.doc, "spec", "template", "spec", "securityContext"))
	sc := mapOf(ctr["securityContext"])
	if pod["runAsNonRoot"] != true && sc["runAsNonRoot"] != true {
		p.addf("%s: runAsNonRoot is not true (pod or container securityContext)", where)
	}
	if sc["readOnlyRootFilesystem"] != true {
		p.addf("%s: readOnlyRootFilesystem is not true", where)
	}
	if sc["allowPrivilegeEscalation"] != false {
		p.addf("%s: allowPrivilegeEscalation is not false", where)
	}
	if !slices.Contains(stringsOf(get(sc, "capabilities", "drop")), "ALL") {
		p.addf("%s: capabilities do not drop ALL", where)
	}
	if t := strOf(get(sc, "seccompProfile", "type")) + strOf(get(pod, "seccompProfile", "type")); !strings.Contains(t, "RuntimeDefault") && !strings.Contains(t, "Localhost") {
		p.addf("%s: no seccompProfile (RuntimeDefault)", where)
	}
	for _, r := range []string{"requests.cpu", "requests.memory", "limits.memory"} {
		k1, k2, _ := strings.Cut(r, ".")
		if get(ctr, "resources", k1, k2) == nil {
			p.addf("%s: resources.%s is not set", where, r)
		}
	}
}

// checkK8sPolicy: a budget keeps a replica up through voluntary
// disruptions, and still lets a drain proceed.
func checkK8sPolicy(where string, o k8sObject, labels map[string]string, replicas int, pdbs []k8sObject, p *problems) {
	for _, pdb := range pdbs {
		sel := stringMap(get(pdb.doc, "spec", "selector", "matchLabels"))
		if len(sel) == 0 || !subset(sel, labels) {
			continue
		}
		if n, ok := intOf(get(pdb.doc, "spec", "minAvailable")); ok && n >= replicas {
			p.addf("%s: PodDisruptionBudget %s wants %d available of %d replicas: no drain could evict one", where, pdb.name(), n, replicas)
		}
		return
	}
	p.addf("%s: no PodDisruptionBudget selects %s %s", where, o.kind(), o.name())
}

// checkK8sService: a Service selects the pods and exposes every listener.
func checkK8sService(where, workload string, pod *podInfo, services map[string]k8sObject, p *problems) {
	if pod.c == nil || pod.c.cfg == nil {
		return
	}
	for _, name := range slices.Sorted(maps.Keys(services)) {
		svc := services[name]
		sel := stringMap(get(svc.doc, "spec", "selector"))
		if len(sel) == 0 || !subset(sel, pod.labels) {
			continue
		}
		for _, l := range listeners(pod.c.cfg) {
			exposed := slices.ContainsFunc(listOf(get(svc.doc, "spec", "ports")), func(sp any) bool {
				target := get(sp, "targetPort")
				if target == nil {
					target = get(sp, "port")
				}
				n, ok := resolvePort(target, pod.ports)
				return ok && n == portOf(l.addr)
			})
			if !exposed {
				p.addf("%s: Service %s exposes no port for the %s listener (%d)", where, name, l.name, portOf(l.addr))
			}
		}
		return
	}
	p.addf("%s: no Service selects Deployment %s", where, workload)
}

// resolvePort resolves a port number or a container port's name.
func resolvePort(v any, ports map[string]int) (int, bool) {
	if n, ok := v.(int); ok {
		return n, true
	}
	n, ok := ports[strOf(v)]
	return n, ok
}

// k8sNATSNodes reads a NATS StatefulSet's configuration once per pod, with
// that pod's environment.
func k8sNATSNodes(set *k8sSet, o k8sObject, ctr map[string]any, where string, replicas int, services map[string]k8sObject, p *problems) []*natsNode {
	cmd := append(stringsOf(ctr["command"]), stringsOf(ctr["args"])...)
	confPath := flagValue(cmd, "--config", "-c")
	if confPath == "" {
		p.addf("%s: runs NATS without --config", where)
		return nil
	}
	mounts := k8sMounts(o, ctr, where, p)
	m, ok := mountOf(mounts, confPath)
	if !ok || m.kind != "configMap" {
		p.addf("%s: --config %s is not on a ConfigMap volume", where, confPath)
		return nil
	}
	key := strings.TrimPrefix(strings.TrimPrefix(confPath, m.target), "/")
	text, ok := set.configMaps[m.source][key]
	if !ok {
		p.addf("%s: ConfigMap %s has no %s", where, m.source, key)
		return nil
	}
	headless := strOf(get(o.doc, "spec", "serviceName"))
	if svc, ok := services[headless]; !ok || strOf(get(svc.doc, "spec", "clusterIP")) != "None" {
		p.addf("%s: serviceName %q is not a headless Service in deploy/%s: the per-pod names the routes use would not resolve", where, headless, set.dir)
	}
	var nodes []*natsNode
	for i := range replicas {
		pod := fmt.Sprintf("%s-%d", o.name(), i)
		env := map[string]string{}
		for _, e := range listOf(ctr["env"]) {
			switch {
			case get(e, "valueFrom", "fieldRef", "fieldPath") == "metadata.name":
				env[strOf(get(e, "name"))] = pod
			case mapOf(e)["value"] != nil:
				env[strOf(get(e, "name"))] = strOf(get(e, "value"))
			}
		}
		conf, err := parseNATSConf(text, env)
		if err != nil {
			p.addf("%s: ConfigMap %s %s for pod %s: %v", where, m.source, key, pod, err)
			return nil
		}
		nodes = append(nodes, &natsNode{where: fmt.Sprintf("%s (pod %s)", where, pod), host: pod + "." + headless, conf: conf, mounts: mounts})
	}
	return nodes
}

func stringMap(v any) map[string]string {
	out := map[string]string{}
	for k, val := range mapOf(v) {
		out[k] = strOf(val)
	}
	return out
}

func subset(sub, of map[string]string) bool {
	for k, v := range sub {
		if of[k] != v {
			return false
		}
	}
	return true
}

// ---- NATS ----

// checkNATS: each deployment's NATS nodes form one JetStream cluster, and
// every configuration under deploy/nats/ is one of them.
func checkNATS(fx *fixture, ds []*deployment, p *problems) {
	used := map[string]bool{}
	for _, d := range ds {
		for _, n := range d.nats {
			used[n.file] = true
		}
		if len(d.nats) > 0 || d.key == composeFile || d.key == k8sBase {
			checkNATSCluster(d, p)
		}
	}
	for _, f := range slices.Sorted(maps.Keys(fx.files)) {
		if path.Dir(f) == natsConfigDir && strings.HasSuffix(f, ".conf") && !used[f] {
			p.addf("deploy/%s is mounted by no NATS service", f)
		}
	}
}

func checkNATSCluster(d *deployment, p *problems) {
	nodes := d.nats
	if len(nodes) != 3 {
		p.addf("%s: %d NATS nodes; want 3, so that JetStream's Raft groups survive the loss of one", d.where, len(nodes))
	}
	names := map[string]bool{}
	cluster := ""
	for _, n := range nodes {
		switch js := n.conf["jetstream"].(type) {
		case map[string]any:
			dir := strOf(js["store_dir"])
			if dir == "" {
				p.addf("%s: JetStream has no store_dir: it would keep streams in a temporary directory", n.where)
			} else if m, ok := mountOf(n.mounts, dir); !ok || (m.kind != "volume" && m.kind != "pvc") {
				p.addf("%s: JetStream's store_dir %s is not on a persistent volume", n.where, dir)
			}
		default:
			p.addf("%s: JetStream is not enabled (no jetstream block)", n.where)
		}
		name := strOf(n.conf["server_name"])
		switch {
		case name == "":
			p.addf("%s: no server_name: JetStream in a cluster needs a stable one per node", n.where)
		case names[name]:
			p.addf("%s: server_name %q is another node's too", n.where, name)
		}
		names[name] = true
		cl := mapOf(n.conf["cluster"])
		if cl == nil {
			p.addf("%s: no cluster block: the node would run alone", n.where)
			continue
		}
		switch cn := strOf(cl["name"]); {
		case cn == "":
			p.addf("%s: the cluster has no name", n.where)
		case cluster == "":
			cluster = cn
		case cn != cluster:
			p.addf("%s: cluster name %q; the other nodes use %q", n.where, cn, cluster)
		}
		var routes []string
		for _, r := range listOf(cl["routes"]) {
			if u, err := url.Parse(strOf(r)); err == nil {
				routes = append(routes, u.Host)
			}
		}
		for _, o := range nodes {
			if o == n {
				continue
			}
			want := net.JoinHostPort(o.host, strconv.Itoa(natsClusterPort(o.conf)))
			if !slices.Contains(routes, want) {
				p.addf("%s: routes %v do not name %s (%s)", n.where, routes, o.host, want)
			}
		}
	}
}

func natsClientPort(conf map[string]any) int {
	if n, ok := intOf(conf["port"]); ok {
		return n
	}
	if l := strOf(conf["listen"]); l != "" {
		return portOf(l)
	}
	return 4222
}

func natsClusterPort(conf map[string]any) int {
	cl := mapOf(conf["cluster"])
	if n, ok := intOf(cl["port"]); ok {
		return n
	}
	if l := strOf(cl["listen"]); l != "" {
		return portOf(l)
	}
	return 6222
}

// parseNATSConf reads the subset of the NATS configuration format the
// files use: key: value, key = value, key { ... }, [ ... ], comments, and
// $VARIABLE references resolved from env as the server does.
func parseNATSConf(text string, env map[string]string) (map[string]any, error) {
	np := &natsParser{s: text, env: env}
	return np.object(0)
}

type natsParser struct {
	s   string
	i   int
	env map[string]string
}

func (np *natsParser) errorf(format string, args ...any) error {
	return fmt.Errorf("line %d: %s", 1+strings.Count(np.s[:np.i], "\n"), fmt.Sprintf(format, args...))
}

func (np *natsParser) skip(seps string) {
	for np.i < len(np.s) {
		c := np.s[np.i]
		switch {
		case strings.IndexByte(" \t\r\n", c) >= 0 || strings.IndexByte(seps, c) >= 0:
			np.i++
		case c == '#' || strings.HasPrefix(np.s[np.i:], "//"):
			for np.i < len(np.s) && np.s[np.i] != '\n' {
				np.i++
			}
		default:
			return
		}
	}
}

func (np *natsParser) object(end byte) (map[string]any, error) {
	obj := map[string]any{}
	for {
		np.skip(",;")
		if np.i >= len(np.s) {
			if end != 0 {
				return nil, np.errorf("missing %q", end)
			}
			return obj, nil
		}
		if np.s[np.i] == end {
			np.i++
			return obj, nil
		}
		start := np.i
		for np.i < len(np.s) && strings.IndexByte(" \t\r\n:={}", np.s[np.i]) < 0 {
			np.i++
		}
		key := np.s[start:np.i]
		if key == "" {
			return nil, np.errorf("expected a key, found %q", np.s[np.i])
		}
		np.blanks()
		if np.i < len(np.s) && (np.s[np.i] == ':' || np.s[np.i] == '=') {
			np.i++
		}
		v, err := np.value(false)
		if err != nil {
			return nil, err
		}
		obj[key] = v
	}
}

func (np *natsParser) blanks() {
	for np.i < len(np.s) && (np.s[np.i] == ' ' || np.s[np.i] == '\t') {
		np.i++
	}
}

func (np *natsParser) value(inArray bool) (any, error) {
	np.blanks()
	if np.i >= len(np.s) {
		return nil, np.errorf("missing value")
	}
	switch c := np.s[np.i]; c {
	case '{':
		np.i++
		return np.object('}')
	case '[':
		np.i++
		var list []any
		for {
			np.skip(",")
			if np.i >= len(np.s) {
				return nil, np.errorf("missing ']'")
			}
			if np.s[np.i] == ']' {
				np.i++
				return list, nil
			}
			v, err := np.value(true)
			if err != nil {
				return nil, err
			}
			list = append(list, v)
		}
	case '"', '\'':
		end := strings.IndexByte(np.s[np.i+1:], c)
		if end < 0 {
			return nil, np.errorf("unterminated string")
		}
		v := np.s[np.i+1 : np.i+1+end]
		np.i += end + 2
		return v, nil
	}
	stop := "\r\n,;}#"
	if inArray {
		stop += " \t]"
	}
	start := np.i
	for np.i < len(np.s) && strings.IndexByte(stop, np.s[np.i]) < 0 {
		np.i++
	}
	v := strings.TrimSpace(np.s[start:np.i])
	if name, ok := strings.CutPrefix(v, "$"); ok {
		name = strings.Trim(name, "{}")
		val, ok := np.env[name]
		if !ok {
			return nil, np.errorf("variable %s is not set", v)
		}
		return val, nil
	}
	return v, nil
}

// ---- Dockerfile ----

type instruction struct{ cmd, args string }

// parseDockerfile splits a Dockerfile into stages of instructions, with
// continuation lines joined and comments dropped.
func parseDockerfile(text string) [][]instruction {
	var stages [][]instruction
	var cur strings.Builder
	for line := range strings.Lines(text) {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if s, ok := strings.CutSuffix(trimmed, "\\"); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(trimmed)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		cur.Reset()
		in := instruction{strings.ToUpper(cmd), strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			stages = append(stages, nil)
		}
		if len(stages) > 0 {
			stages[len(stages)-1] = append(stages[len(stages)-1], in)
		}
	}
	return stages
}

func checkDockerfile(fx *fixture, ds []*deployment, p *problems) {
	const where = "deploy/" + dockerfile
	text, ok := fx.files[dockerfile]
	if !ok {
		p.addf("%s is missing", where)
		return
	}
	stages := parseDockerfile(text)
	if len(stages) < 2 {
		p.addf("%s: %d stage(s); want a builder stage and a serving stage", where, len(stages))
		return
	}
	final := stages[len(stages)-1]
	image := ""
	for f := range strings.FieldsSeq(final[0].args) {
		if !strings.HasPrefix(f, "--") {
			image = f
			break
		}
	}
	if (!strings.Contains(image, "distroless") && image != "scratch") || strings.Contains(image, ":debug") {
		p.addf("%s: the serving image (last FROM) is %s; want distroless (without a shell) or scratch", where, image)
	}
	user, entrypoint := "", ""
	var exposed []string
	for _, in := range final {
		switch in.cmd {
		case "USER":
			user = in.args
		case "ENTRYPOINT":
			entrypoint = in.args
		case "EXPOSE":
			exposed = append(exposed, strings.Fields(in.args)...)
		}
	}
	if name, _, _ := strings.Cut(user, ":"); name == "" || name == "root" || name == "0" {
		if user == "" {
			user = "(none: root)"
		}
		p.addf("%s: the serving stage runs as USER %s; want a non-root user", where, user)
	}
	var ep []string
	if err := json.Unmarshal([]byte(entrypoint), &ep); err != nil || !slices.Equal(ep, []string{"/gatehouse"}) {
		p.addf("%s: the serving stage's ENTRYPOINT is %s; compose commands and Kubernetes args start with `serve` and need [\"/gatehouse\"]", where, entrypoint)
	}
	ports := map[int]bool{}
	for _, d := range ds {
		if d.key != composeFile && d.key != k8sBase {
			continue
		}
		for _, c := range d.containers {
			if c.cfg != nil {
				for _, l := range listeners(c.cfg) {
					ports[portOf(l.addr)] = true
				}
			}
		}
	}
	for _, port := range slices.Sorted(maps.Keys(ports)) {
		if !slices.Contains(exposed, strconv.Itoa(port)) {
			p.addf("%s: the serving stage does not EXPOSE %d, which the deployments listen on", where, port)
		}
	}

	var build []instruction
	for _, st := range stages {
		for _, in := range st {
			if in.cmd == "RUN" && strings.Contains(in.args, "go build") {
				build = st
			}
		}
	}
	if build == nil {
		p.addf("%s: no stage runs go build", where)
		return
	}
	cgoOff, builds := false, false
	var copied []string
	for _, in := range build {
		switch in.cmd {
		case "ENV", "ARG":
			cgoOff = cgoOff || strings.Contains(in.args, "CGO_ENABLED=0")
		case "RUN":
			if strings.Contains(in.args, "go build") {
				cgoOff = cgoOff || strings.Contains(in.args, "CGO_ENABLED=0")
				builds = builds || strings.Contains(in.args, "./cmd/gatehouse")
			}
		case "COPY", "ADD":
			if strings.Contains(in.args, "--from") {
				continue
			}
			var srcs []string
			for f := range strings.FieldsSeq(in.args) {
				if !strings.HasPrefix(f, "--") {
					srcs = append(srcs, f)
				}
			}
			if len(srcs) > 1 {
				for _, s := range srcs[:len(srcs)-1] {
					copied = append(copied, strings.TrimSuffix(strings.TrimPrefix(s, "./"), "/"))
				}
			}
		}
	}
	if !cgoOff {
		p.addf("%s: go build without CGO_ENABLED=0: the binary would need a libc the distroless static image lacks", where)
	}
	if !builds {
		p.addf("%s: go build does not build ./cmd/gatehouse", where)
	}
	need, err := sourceDirs()
	if err != nil {
		p.addf("%s: cannot list what cmd/gatehouse is built from: %v", where, err)
	}
	for _, dir := range append([]string{"go.mod", "go.sum", "go.work"}, need...) {
		if !slices.Contains(copied, dir) && !slices.Contains(copied, ".") && !slices.Contains(copied, "") {
			p.addf("%s: the build stage does not COPY %s/, which cmd/gatehouse is built from", where, strings.TrimSuffix(dir, "/"))
		}
	}
}

// sourceDirs lists the repository's top-level directories that hold
// packages cmd/gatehouse imports, following imports through the modules of
// go.work. It reads the sources rather than running go list, so it needs
// neither the module cache nor the network.
var sourceDirs = sync.OnceValues(func() ([]string, error) {
	const root = ".."
	work, err := os.ReadFile(filepath.Join(root, "go.work"))
	if err != nil {
		return nil, err
	}
	modules := map[string]string{} // module path -> directory relative to root
	for _, dir := range workUses(string(work)) {
		b, err := os.ReadFile(filepath.Join(root, dir, "go.mod"))
		if err != nil {
			return nil, err
		}
		for line := range strings.Lines(string(b)) {
			if mod, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
				modules[strings.TrimSpace(mod)] = path.Clean(dir)
			}
		}
	}
	dirOf := func(importPath string) (string, bool) {
		best, bestDir := "", ""
		for mod, dir := range modules {
			if (importPath == mod || strings.HasPrefix(importPath, mod+"/")) && len(mod) > len(best) {
				best, bestDir = mod, dir
			}
		}
		if best == "" {
			return "", false
		}
		return path.Join(bestDir, strings.TrimPrefix(importPath, best)), true
	}
	seen := map[string]bool{"cmd/gatehouse": true}
	queue := []string{"cmd/gatehouse"}
	fset := token.NewFileSet()
	for len(queue) > 0 {
		dir := queue[0]
		queue = queue[1:]
		entries, err := os.ReadDir(filepath.Join(root, dir))
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, filepath.Join(root, dir, e.Name()), nil, parser.ImportsOnly)
			if err != nil {
				return nil, err
			}
			for _, imp := range f.Imports {
				ip, _ := strconv.Unquote(imp.Path.Value)
				if d, ok := dirOf(ip); ok && !seen[d] {
					seen[d] = true
					queue = append(queue, d)
				}
			}
		}
	}
	top := map[string]bool{}
	for d := range seen {
		first, _, _ := strings.Cut(d, "/")
		top[first] = true
	}
	return slices.Sorted(maps.Keys(top)), nil
})

// workUses returns the directories of go.work's use directives.
func workUses(work string) []string {
	var out []string
	inBlock := false
	for line := range strings.Lines(work) {
		line = strings.TrimSpace(line)
		if i := strings.Index(line, "//"); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		switch {
		case line == "use (":
			inBlock = true
		case inBlock && line == ")":
			inBlock = false
		case inBlock && line != "":
			out = append(out, line)
		case strings.HasPrefix(line, "use "):
			out = append(out, strings.TrimSpace(strings.TrimPrefix(line, "use ")))
		}
	}
	return out
}

// ---- access to decoded YAML ----

func mapOf(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func listOf(v any) []any {
	l, _ := v.([]any)
	return l
}

func first(docs []any) any {
	if len(docs) == 0 {
		return nil
	}
	return docs[0]
}

func strOf(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case int, bool, float64:
		return fmt.Sprint(v)
	}
	return ""
}

func intOf(v any) (int, bool) {
	switch v := v.(type) {
	case int:
		return v, true
	case string:
		n, err := strconv.Atoi(v)
		return n, err == nil
	}
	return 0, false
}

// stringsOf reads a list of scalars, or a string split on blanks (the
// shell form of a compose command).
func stringsOf(v any) []string {
	switch v := v.(type) {
	case string:
		return strings.Fields(v)
	case []any:
		out := make([]string, 0, len(v))
		for _, s := range v {
			out = append(out, strOf(s))
		}
		return out
	}
	return nil
}

func get(v any, keys ...string) any {
	for _, k := range keys {
		v = mapOf(v)[k]
	}
	return v
}

// ---- helpers of the negative tests ----

func composeService(t *testing.T, fx *fixture, name string) map[string]any {
	t.Helper()
	svc := mapOf(get(first(fx.yaml[composeFile]), "services", name))
	if svc == nil {
		t.Fatalf("deploy/%s has no service %s", composeFile, name)
	}
	return svc
}

func k8sObjectOf(t *testing.T, fx *fixture, file, kind, name string) map[string]any {
	t.Helper()
	for _, doc := range fx.yaml[file] {
		if get(doc, "kind") == kind && get(doc, "metadata", "name") == name {
			return mapOf(doc)
		}
	}
	t.Fatalf("deploy/%s has no %s %s", file, kind, name)
	return nil
}

// k8sContainer is the gatehouse container of the base's Deployment of a
// service.
func k8sContainer(t *testing.T, fx *fixture, service string) map[string]any {
	t.Helper()
	d := k8sObjectOf(t, fx, k8sBase+"/"+service+".yaml", "Deployment", service)
	for _, c := range listOf(get(d, "spec", "template", "spec", "containers")) {
		if strings.Contains(strOf(get(c, "image")), "gatehouse") {
			return mapOf(c)
		}
	}
	t.Fatalf("Deployment %s has no gatehouse container", service)
	return nil
}

// mustReplace replaces every old in s, which must hold it.
func mustReplace(t *testing.T, s, old, replacement string) string {
	t.Helper()
	if old == "" || !strings.Contains(s, old) {
		t.Fatalf("the file no longer holds %q; update the negative test", old)
	}
	return strings.ReplaceAll(s, old, replacement)
}

// replaceArg replaces one element of a command or args list.
func replaceArg(t *testing.T, m map[string]any, key, old, replacement string) {
	t.Helper()
	list := listOf(m[key])
	i := slices.Index(list, any(old))
	if i < 0 {
		t.Fatalf("%s has no %q: %v", key, old, list)
	}
	list[i] = replacement
}
