// Package topology starts a split Gatehouse deployment as plain processes
// on loopback: a three-node NATS JetStream cluster, every service on its
// own with its identity certificate, several replicas where the
// deployment files run several, all on one PostgreSQL database. It is the
// deploy/local topology, and what the multi-process tests run against.
package topology

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/config"
)

// DefaultReplicas is how many replicas of each service Start runs unless
// told otherwise: two token services and gateways, three resource
// services (the example inventory API), one of each other service.
var DefaultReplicas = map[string]int{"clients": 1, "keys": 1, "revocation": 1, "token": 2, "gateway": 2, "inventory": 3, "authz": 1}

// startOrder starts each service after the peers it needs at start: the
// revocation list first (the others load it), then the registry and the
// key service, then the rest.
var startOrder = []string{"revocation", "clients", "keys", "token", "inventory", "authz", "gateway"}

// peersOf are the peers each service is given: those it needs and those it
// may take (config.OptionalPeers): the example API and the gateway
// authorizer read the keys from the key service, so that no token replica
// is their JWKS, and the gateways front the example API.
func peersOf(service string) []string {
	return append(slices.Clone(config.SplitPeers[service]), config.OptionalPeers[service]...)
}

// Options configure Start.
type Options struct {
	// Binary is the gatehouse binary, NATSServer the nats-server binary.
	Binary, NATSServer string
	// DatabaseURL is the PostgreSQL database every service's tables are
	// in (each service its own tables).
	DatabaseURL string
	// Dir holds the processes' data directories, the certificates, the
	// key-encryption key and the logs (Dir/logs/<name>.log).
	Dir string
	// Replicas overrides DefaultReplicas per service.
	Replicas map[string]int
	// Args are extra serve options for every service (e.g. a shorter
	// --revocation-resync-interval).
	Args []string
	// ReadyTimeout bounds each process's start (default 60 s).
	ReadyTimeout time.Duration
	// AuthzRoutes is the route-rules file of serve authz; empty: Start
	// writes DefaultAuthzRoutes into Dir.
	AuthzRoutes string
	// AuthzArgs are extra serve options for serve authz only (e.g.
	// --authz-client-cert-header).
	AuthzArgs []string
}

// DefaultAuthzRoutes are the gateway authorizer's routes unless told
// otherwise: the example inventory API's, as a gateway in front of it
// would ask about them.
const DefaultAuthzRoutes = `routes:
  - methods: [GET]
    path: /v1/inventory/**
    scopes: [inventory:read]
  - methods: [POST, PUT, PATCH, DELETE]
    path: /v1/inventory/**
    scopes: [inventory:write]
`

// Process is one process of the topology.
type Process struct {
	// Name is e.g. token-1 or nats-0; Service the service it runs ("nats"
	// for a NATS node).
	Name, Service string
	// HTTP, GRPC and MTLS are its listeners' addresses (NATS: HTTP is the
	// monitoring port, GRPC the client port, MTLS the cluster port).
	HTTP, GRPC, MTLS string
	// Authz is the gateway authorizer's address (serve authz), else "".
	Authz string

	bin, logPath string
	args         []string
	env          []string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// Topology is a running deployment.
type Topology struct {
	opts Options
	// Issuer is the issuer every service was given.
	Issuer string
	// NATS are the cluster's nodes; NATSURLs their client URLs.
	NATS     []*Process
	NATSURLs string
	// Services are the replicas of each service.
	Services map[string][]*Process
	// CertDir holds <service>.crt, <service>.key and ca.crt.
	CertDir string
	// AdminKey is the bootstrap admin API key.
	AdminKey string
}

// Start starts the topology and waits until every process is ready. On
// error it stops what it started.
func Start(ctx context.Context, opts Options) (_ *Topology, err error) {
	if opts.ReadyTimeout == 0 {
		opts.ReadyTimeout = 60 * time.Second
	}
	replicas := map[string]int{}
	for s, n := range DefaultReplicas {
		replicas[s] = n
	}
	for s, n := range opts.Replicas {
		replicas[s] = n
	}
	t := &Topology{opts: opts, Services: map[string][]*Process{}, CertDir: filepath.Join(opts.Dir, "certs")}
	defer func() {
		if err != nil {
			t.Stop()
		}
	}()
	if err := os.MkdirAll(filepath.Join(opts.Dir, "logs"), 0o700); err != nil {
		return nil, err
	}
	if err := t.startNATS(ctx); err != nil {
		return nil, err
	}
	kekFile := filepath.Join(opts.Dir, "kek")
	if err := writeKEK(kekFile); err != nil {
		return nil, err
	}

	// Every listener's address is fixed before anything starts: each
	// service is told its peers' addresses on its command line.
	for _, svc := range startOrder {
		for i := range replicas[svc] {
			p := &Process{Name: fmt.Sprintf("%s-%d", svc, i), Service: svc, bin: opts.Binary}
			if p.HTTP, err = freeAddr(); err == nil {
				if p.GRPC, err = freeAddr(); err == nil {
					p.MTLS, err = freeAddr()
				}
			}
			if err == nil && svc == "authz" {
				p.Authz, err = freeAddr()
			}
			if err != nil {
				return nil, err
			}
			p.logPath = filepath.Join(opts.Dir, "logs", p.Name+".log")
			t.Services[svc] = append(t.Services[svc], p)
		}
	}
	t.Issuer = "http://" + t.Services["token"][0].HTTP

	// The identities, issued by the platform CA before any service runs.
	for _, svc := range startOrder {
		if len(t.Services[svc]) == 0 {
			continue
		}
		out, err := exec.CommandContext(ctx, opts.Binary, "service-cert", svc, //nolint:gosec // the topology's own binary
			"--host", "127.0.0.1,localhost", "--out", t.CertDir,
			"--database-url", opts.DatabaseURL, "--kek-file", kekFile,
			"--data-dir", filepath.Join(opts.Dir, "service-cert")).CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("service-cert %s: %w: %s", svc, err, out)
		}
	}

	routes := opts.AuthzRoutes
	if routes == "" && len(t.Services["authz"]) > 0 {
		routes = filepath.Join(opts.Dir, "authz-routes.yaml")
		if err := os.WriteFile(routes, []byte(DefaultAuthzRoutes), 0o600); err != nil {
			return nil, fmt.Errorf("authz routes: %w", err)
		}
	}
	for _, svc := range startOrder {
		for _, p := range t.Services[svc] {
			dataDir := filepath.Join(opts.Dir, p.Name)
			p.args = append([]string{"serve", svc,
				"--http-addr", p.HTTP, "--grpc-addr", p.GRPC, "--mtls-addr", p.MTLS,
				"--data-dir", dataDir, "--issuer", t.Issuer, "--nats-url", t.NATSURLs,
				"--peer-cert", filepath.Join(t.CertDir, svc+".crt"),
				"--peer-key", filepath.Join(t.CertDir, svc+".key"),
				"--peer-ca", filepath.Join(t.CertDir, "ca.crt"),
				"--shutdown-timeout", "5s",
			}, opts.Args...)
			switch svc {
			case "clients", "keys", "revocation", "token":
				p.args = append(p.args, "--database-url", opts.DatabaseURL)
			}
			if svc == "keys" {
				p.args = append(p.args, "--kek-file", kekFile)
			}
			if svc == "authz" {
				// The gateways ask from loopback, as everything here.
				p.args = append(p.args, "--authz-addr", p.Authz, "--authz-routes", routes, "--trusted-proxies", "127.0.0.1/32")
				p.args = append(p.args, opts.AuthzArgs...)
			}
			for _, peer := range peersOf(svc) {
				var addrs []string
				for _, q := range t.Services[peer] {
					addrs = append(addrs, q.MTLS)
				}
				if len(addrs) > 0 {
					p.args = append(p.args, "--peer-"+peer, strings.Join(addrs, ","))
				}
			}
		}
	}
	for _, svc := range startOrder {
		for _, p := range t.Services[svc] {
			if err := p.Start(); err != nil {
				return nil, err
			}
		}
		for _, p := range t.Services[svc] {
			if err := p.WaitReady(ctx, opts.ReadyTimeout); err != nil {
				return nil, err
			}
		}
		if svc == "clients" {
			if t.AdminKey, err = readAdminKey(filepath.Join(opts.Dir, t.Services["clients"][0].Name)); err != nil {
				return nil, err
			}
		}
	}
	return t, nil
}

// startNATS starts a three-node JetStream cluster and waits until it has
// elected a JetStream meta leader.
func (t *Topology) startNATS(ctx context.Context) error {
	const nodes = 3
	for i := range nodes {
		p := &Process{Name: fmt.Sprintf("nats-%d", i), Service: "nats", bin: t.opts.NATSServer}
		var err error
		if p.GRPC, err = freeAddr(); err == nil {
			if p.MTLS, err = freeAddr(); err == nil {
				p.HTTP, err = freeAddr()
			}
		}
		if err != nil {
			return err
		}
		p.logPath = filepath.Join(t.opts.Dir, "logs", p.Name+".log")
		t.NATS = append(t.NATS, p)
	}
	var urls []string
	for _, p := range t.NATS {
		urls = append(urls, "nats://"+p.GRPC)
	}
	t.NATSURLs = strings.Join(urls, ",")
	for _, p := range t.NATS {
		var routes []string
		for _, q := range t.NATS {
			if q != p {
				routes = append(routes, "nats-route://"+q.MTLS)
			}
		}
		host, port, _ := net.SplitHostPort(p.GRPC)
		_, mport, _ := net.SplitHostPort(p.HTTP)
		p.args = []string{"--name", p.Name, "-a", host, "-p", port, "-m", mport,
			"-js", "-sd", filepath.Join(t.opts.Dir, p.Name),
			"--cluster_name", "gatehouse", "--cluster", "nats://" + p.MTLS, "--routes", strings.Join(routes, ",")}
		if err := p.Start(); err != nil {
			return err
		}
	}
	for _, p := range t.NATS {
		if err := p.waitHTTP(ctx, "/healthz", t.opts.ReadyTimeout); err != nil {
			return err
		}
	}
	return nil
}

// Stop stops every process, services first.
func (t *Topology) Stop() {
	var wg sync.WaitGroup
	for i := len(startOrder) - 1; i >= 0; i-- {
		for _, p := range t.Services[startOrder[i]] {
			wg.Add(1)
			go func() { defer wg.Done(); p.Stop() }()
		}
	}
	wg.Wait()
	for _, p := range t.NATS {
		p.Stop()
	}
}

// All returns every service process.
func (t *Topology) All() []*Process {
	var out []*Process
	for _, svc := range startOrder {
		out = append(out, t.Services[svc]...)
	}
	return out
}

// Start starts the process (again, after Kill or Stop) with the same
// command line.
func (p *Process) Start() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil && !p.exited() {
		return fmt.Errorf("%s is running", p.Name)
	}
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	// Not tied to a context: the process outlives this call, until Stop
	// or Kill.
	cmd := exec.CommandContext(context.Background(), p.bin, p.args...) //nolint:gosec // the topology's own binaries
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(), p.env...)
	// Its own process group: a signal to the caller's group (Ctrl-C in a
	// terminal) reaches the topology through Stop, in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		_ = logf.Close()
		close(done)
	}()
	p.cmd, p.done = cmd, done
	return nil
}

func (p *Process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Running reports whether the process is running.
func (p *Process) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil && !p.exited()
}

// Kill kills the process at once (SIGKILL), as a crash would.
func (p *Process) Kill() {
	p.signal(syscall.SIGKILL, 0)
}

// Stop asks the process to stop (SIGTERM) and kills it after 15 s.
func (p *Process) Stop() {
	p.signal(syscall.SIGTERM, 15*time.Second)
}

func (p *Process) signal(sig syscall.Signal, grace time.Duration) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	if grace > 0 {
		select {
		case <-done:
			return
		case <-time.After(grace):
			_ = cmd.Process.Kill()
		}
	}
	<-done
}

// Logs returns what the process has logged so far.
func (p *Process) Logs() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

// WaitReady waits until the service answers /readyz with 200.
func (p *Process) WaitReady(ctx context.Context, timeout time.Duration) error {
	return p.waitHTTP(ctx, "/readyz", timeout)
}

func (p *Process) waitHTTP(ctx context.Context, path string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c := &http.Client{Timeout: 2 * time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.HTTP+path, nil)
		if resp, err := c.Do(req); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		p.mu.Lock()
		exited := p.cmd != nil && p.exited()
		p.mu.Unlock()
		if exited {
			return fmt.Errorf("%s exited before it was ready; its log:\n%s", p.Name, tail(p.Logs(), 4000))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s not ready within %s; its log:\n%s", p.Name, timeout, tail(p.Logs(), 4000))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// freeAddr returns a loopback address with a port that was free a moment
// ago. The port is below Linux's ephemeral range (32768 and up by
// default): the topology fixes every address before the processes start,
// and a port from that range could meanwhile become the local end of one
// of the many outgoing connections made on the machine.
func freeAddr() (string, error) {
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 1000 {
		n, err := rand.Int(rand.Reader, big.NewInt(lowPortsEnd-lowPortsStart))
		if err != nil {
			return "", err
		}
		port := lowPortsStart + int(n.Int64())
		if portsTaken[port] {
			continue
		}
		l, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		_ = l.Close()
		portsTaken[port] = true
		return l.Addr().String(), nil
	}
	return "", errors.New("no free loopback port below the ephemeral range")
}

// The ports freeAddr hands out, once each per process.
const lowPortsStart, lowPortsEnd = 20000, 32000

var (
	portsMu    sync.Mutex
	portsTaken = map[int]bool{}
)

// writeKEK writes a random key-encryption key, base64, readable by the
// owner only: the key service and service-cert share it. An existing one
// is kept: the database may hold keys sealed with it from an earlier run.
func writeKEK(path string) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(k)+"\n"), 0o600)
}

// readAdminKey reads the bootstrap admin key the registry wrote into its
// data directory.
func readAdminKey(dataDir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, "admin-credentials.json")) //nolint:gosec // the topology's own data directory
	if err != nil {
		return "", fmt.Errorf("admin credentials: %w", err)
	}
	var c struct {
		APIKey string `json:"api_key"`
	}
	if err := json.Unmarshal(b, &c); err != nil || c.APIKey == "" {
		return "", errors.New("admin credentials: no api_key")
	}
	return c.APIKey, nil
}

// Ports lists a process's ports, for printing.
func (p *Process) Ports() string {
	port := func(a string) string { _, pt, _ := net.SplitHostPort(a); return pt }
	if p.Service == "nats" {
		return "client " + port(p.GRPC) + " cluster " + port(p.MTLS) + " monitor " + port(p.HTTP)
	}
	ports := "http " + port(p.HTTP) + " grpc " + port(p.GRPC) + " mtls " + port(p.MTLS)
	if p.Authz != "" {
		ports += " authz " + port(p.Authz)
	}
	return ports
}
