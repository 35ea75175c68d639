package main

import (
	"context"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/logtest"
	"github.com/gatehouse-dev/gatehouse/internal/modproxy"
	"golang.org/x/mod/modfile"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

// buildOutsideModule builds the package pkgPath (relative to dir, e.g. ".")
// of the module in dir as a team outside this repository would: the module
// is not in go.work (GOWORK=off) and requires gen and pkg without replace
// directives, at the versions this repository's go.mod files name. Those
// versions come from a file proxy written from the gen and pkg directories,
// every other module from the module cache's download directory, so the
// build needs no network; the zips the workspace's own build fetched are
// there. It returns the binary's path.
//
// The module cache is a temporary one: a module cache never refreshes a
// version it holds, and gen and pkg change at every commit under the same
// version until it is tagged. The module is copied first, because the build
// records those modules' hashes in go.sum, where the repository keeps none.
func buildOutsideModule(t *testing.T, dir string, pkgPath string) (binary string) {
	t.Helper()
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	mods, err := modproxy.SDK(repo)
	if err != nil {
		t.Fatal(err)
	}
	checkOutsideRequirements(t, dir, mods)

	tmp := t.TempDir()
	proxy := filepath.Join(tmp, "proxy")
	if err := modproxy.Write(proxy, mods...); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(tmp, "src")
	copyModule(t, dir, src)

	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatalf("go env GOMODCACHE: %v", err)
	}
	downloads := filepath.Join(strings.TrimSpace(string(out)), "cache", "download")
	binary = filepath.Join(tmp, "bin", filepath.Base(filepath.Join(dir, pkgPath)))

	// -trimpath: the packages of the temporary module cache have new paths
	// at every run; without it none of them would come from the build cache.
	build := exec.Command("go", "build", "-trimpath", "-o", binary, pkgPath)
	build.Dir = src
	build.Env = append(goEnvWithout("GOWORK", "GOPROXY", "GOFLAGS", "GOMODCACHE", "GONOSUMDB", "GOSUMDB", "GOPRIVATE", "GONOPROXY", "GOINSECURE", "GOTOOLCHAIN"),
		"GOWORK=off",
		"GOTOOLCHAIN=local",
		"GOPROXY="+fileURL(proxy)+","+fileURL(downloads),
		"GOMODCACHE="+filepath.Join(tmp, "modcache"),
		// -mod=mod lets the build add gen's and pkg's hashes to the copied
		// go.sum; -modcacherw lets the test remove the module cache.
		"GOFLAGS=-mod=mod -modcacherw",
		// The checksum database has never seen these gen and pkg, and the
		// build is offline; the copied go.sum still checks every other module.
		"GONOSUMDB=github.com/gatehouse-dev/gatehouse",
		"GOSUMDB=off",
	)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build %s outside the workspace: %v\n%s\n(a module missing from the module cache: `make tidy` raises it to the workspace's version)", dir, err, out)
	}
	return binary
}

// checkOutsideRequirements fails unless the module in dir requires mods at
// their versions and its go.sum pins none of them.
func checkOutsideRequirements(t *testing.T, dir string, mods []modproxy.Module) {
	t.Helper()
	name := filepath.Join(dir, "go.mod")
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	f, err := modfile.Parse(name, b, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Replace) > 0 {
		t.Errorf("%s has replace directives: an outside module must build without them", name)
	}
	for _, m := range mods {
		var got string
		for _, r := range f.Require {
			if r.Mod.Path == m.Path {
				got = r.Mod.Version
			}
		}
		if got != m.Version {
			t.Errorf("%s requires %s %q; this repository is at %s", name, m.Path, got, m.Version)
		}
	}
	sum, err := os.ReadFile(filepath.Join(dir, "go.sum"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	for _, m := range mods {
		if strings.Contains(string(sum), m.Path+" ") {
			t.Errorf("%s/go.sum pins %s, whose hash changes at every commit until the release is tagged", dir, m.Path)
		}
	}
}

// copyModule copies the regular files of the tree at from to to. Symbolic
// links are left out, as module zips leave them out.
func copyModule(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(from, p)
		if err != nil {
			return err
		}
		dst := filepath.Join(to, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(dst, 0o755)
		case !d.Type().IsRegular():
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// goEnvWithout is the test's environment without the named variables and
// without GATEHOUSE_ ones.
func goEnvWithout(names ...string) []string {
	var env []string
	for _, kv := range cleanEnv() {
		k, _, _ := strings.Cut(kv, "=")
		drop := false
		for _, n := range names {
			drop = drop || k == n
		}
		if !drop {
			env = append(env, kv)
		}
	}
	return env
}

func fileURL(path string) string {
	return (&url.URL{Scheme: "file", Path: filepath.ToSlash(path)}).String()
}

// TestOrdersExampleOutsideWorkspace builds examples/orders, a module that
// requires gen and pkg like any other team's service, outside the workspace
// and without the network, and runs it against a Gatehouse: its rules come
// from its own proto through the option gen ships, and tokens for its
// resource are accepted by the SDK as resolved from outside.
func TestOrdersExampleOutsideWorkspace(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a module through a fresh module cache")
	}
	orders := buildOutsideModule(t, filepath.Join("..", "..", "examples", "orders"), ".")

	s := start(t, t.TempDir())
	w := setupSDK(t, s)
	o := startOrders(t, orders, []string{"ORDERS_CLIENT_SECRET=" + w.service.ClientSecret},
		"--issuer", "http://"+s.creds.HTTPAddr, "--audience", ordersAudience,
		"--gatehouse", s.creds.GRPCAddr, "--insecure", "--client-id", w.service.ClientID)
	api := protectedAPI{httpURL: "http://" + o.httpAddr, grpcAddr: o.grpcAddr, grpcMethod: "/orders.v1.OrdersService/ListOrders"}
	api.waitReady(t)

	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, api.httpURL+"/orders", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("GET /orders without a credential: %d", resp.StatusCode)
	}
	assertChallenge(t, resp.Header.Values("WWW-Authenticate"), `Bearer realm="gatehouse"`)
	// The rule of CreateOrder in the example's proto asks for orders:write.
	conn, err := grpc.NewClient(o.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	tok := w.token(t, w.reader)
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+tok)
	if err := conn.Invoke(ctx, "/orders.v1.OrdersService/CreateOrder", &emptypb.Empty{}, &emptypb.Empty{}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("gRPC CreateOrder with a token for orders:read: %v", err)
	}

	exerciseProtected(t, s, w, api)
	assertNoSecretsInLogs(t, o.logs.String(), []string{tok, w.reader.ClientSecret, w.service.ClientSecret, w.key.APIKey})
}

type ordersProcess struct {
	httpAddr, grpcAddr string
	logs               *logtest.Buffer
}

var ordersServing = regexp.MustCompile(`msg=serving grpc=(\S+) http=(\S+)`)

// startOrders runs the orders example on free loopback ports until the test
// ends, then stops it with SIGTERM.
func startOrders(t *testing.T, binary string, env []string, args ...string) ordersProcess {
	t.Helper()
	logs := &logtest.Buffer{}
	cmd := exec.Command(binary, append([]string{"--http-addr", "127.0.0.1:0", "--grpc-addr", "127.0.0.1:0"}, args...)...)
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.Env = append(cleanEnv(), env...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("orders exited with %v after SIGTERM; logs:\n%s", err, logs)
			}
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("orders did not stop within 10s of SIGTERM; logs:\n%s", logs)
		}
	})
	deadline := time.After(15 * time.Second)
	for {
		if m := ordersServing.FindStringSubmatch(logs.String()); m != nil {
			return ordersProcess{grpcAddr: m[1], httpAddr: m[2], logs: logs}
		}
		select {
		case err := <-exited:
			t.Fatalf("orders exited early: %v; logs:\n%s", err, logs)
		case <-deadline:
			t.Fatalf("orders did not start; logs:\n%s", logs)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
