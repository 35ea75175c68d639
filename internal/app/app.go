// Package app wires the Gatehouse services into one process: storage,
// NATS, the gRPC server with the auth interceptors, the REST gateway,
// health, readiness and metrics. `gatehouse serve` is a thin shell over it,
// and tests start it in-process.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/events"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"github.com/gatehouse-dev/gatehouse/services/clients"
	"github.com/gatehouse-dev/gatehouse/services/keys"
	"github.com/gatehouse-dev/gatehouse/services/token"
	"github.com/gatehouse-dev/gatehouse/services/users"
	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// App is a running Gatehouse process.
type App struct {
	cfg *config.Config
	log *slog.Logger

	grpcLis net.Listener
	httpLis net.Listener
	// embeddedNATS is the client URL of the embedded NATS server, when
	// this process runs one.
	embeddedNATS string
	mtls         *mtlsListener
	// admin is the admin plane's listener (--admin-addr), nil when admin
	// calls share the public listeners.
	admin   *mtlsListener
	grpcSrv *grpc.Server
	// grpcReg registers the services on grpcSrv and for the in-process
	// gateway.
	grpcReg *localServer
	httpSrv *http.Server
	// httpMetrics count the requests of every HTTP listener.
	httpMetrics *httpMetrics
	health      *health.Server
	gateway     *gateway
	// authz is the gateway authorizer's listener (--authz-addr), or nil.
	authz *authzServer
	// gatewayPeers are the services `serve gateway` forwards to.
	gatewayPeers map[string]*grpc.ClientConn
	// jwks serves /.well-known/jwks.json where the key manager is not in
	// process (serve token).
	jwks http.Handler

	nc      *nats.Conn
	store   *storage
	issuer  string
	revs    *revocations
	users   *users.Service
	keys    *keys.Manager
	token   *token.Service
	closers []func()

	errc     chan error
	stopOnce sync.Once
}

// Start opens storage and NATS, binds the listeners and starts serving.
// On error everything opened so far is closed again.
func Start(ctx context.Context, cfg *config.Config, log *slog.Logger) (_ *App, err error) {
	if cfg.Service != "" {
		return startSplit(ctx, cfg, log)
	}
	a := &App{cfg: cfg, log: log, errc: make(chan error, 3)}
	var stop func()
	defer func() {
		if err != nil {
			a.closeAll()
		}
	}()
	if err := a.lockDataDir(); err != nil {
		return nil, err
	}
	if a.store, err = openStorage(ctx, cfg, log); err != nil {
		return nil, err
	}
	a.closers = append(a.closers, a.store.close)
	if err := a.connectNATS(); err != nil {
		return nil, err
	}

	metrics := prometheus.NewRegistry()
	if a.revs, stop, err = startRevocations(ctx, cfg, log, a.nc, a.store.revocations); err != nil {
		return nil, err
	}
	a.closers = append(a.closers, stop)
	a.revs.registerMetrics(metrics)
	registry := clients.New(a.store.clients,
		clients.WithPublisher(events.NewPublisher(a.nc)),
		clients.WithRevoker(a.revs.svc),
		clients.WithLogger(log.With("service", "clients")))

	if err := a.listen(ctx); err != nil {
		return nil, err
	}
	a.issuer = cfg.Issuer
	if a.issuer == "" {
		a.issuer = "http://" + a.HTTPAddr()
	}

	// Everything but `serve clients` runs the key and token services, and
	// validates JWTs against the keys in this process.
	var jwks authn.JWKSSource
	if cfg.Service == "" {
		if a.keys, stop, err = startKeys(ctx, cfg, log, a.nc, a.store.keys, a.revs.svc); err != nil {
			return nil, err
		}
		a.closers = append(a.closers, stop)
		jwks = jwksOf(a.keys)
	}
	if cfg.MTLSAddr != "" {
		var ca platformCA
		if a.keys != nil {
			ca = a.keys
		}
		if a.mtls, err = listenMTLS(ctx, cfg, log, a.revs.follower, ca); err != nil {
			return nil, err
		}
		a.closers = append(a.closers, func() { _ = a.mtls.lis.Close() })
	}
	if err := a.listenAdmin(ctx); err != nil {
		return nil, err
	}
	auth, err := newAuth(ctx, cfg, a.issuer, log, metrics, a.nc, registryPeer{apiKeys: registry, clients: registry}, jwks, a.revs.follower, a.mtls)
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, auth.close)
	auth.admin, stop = newAdminAudit(a, auth, a.store.audit, a.nc, registry)
	a.closers = append(a.closers, stop)
	if a.keys != nil {
		a.users = users.New(a.store.users, users.WithRevoker(a.revs.svc), users.WithLogger(log.With("service", "users")))
		if a.token, stop, err = newTokenService(ctx, cfg, a.issuer, log, a.nc, metrics, managerKeys{a.keys}, auth, registry, a.revs.svc, a.revs, a.store.grants, userLogins{a.users}, a.mtls); err != nil {
			return nil, err
		}
		a.closers = append(a.closers, stop)
	}
	// Validators check every principal against the list; the caches in
	// front of the registry follow it too, so that a revoked client or key
	// also stops being vouched for by a cached verification, even when its
	// ClientChanged event was lost.
	a.followCaches(auth)
	if err := a.bootstrap(ctx, registry); err != nil {
		return nil, err
	}

	err = a.serve(ctx, metrics, auth, func() ([]service, error) {
		served := append(a.registerServices(registry), auth.admin.register(a.grpcReg, a.log)...)
		return served, registry.SeedScopes(ctx, servedScopes(a.grpcSrv, auth.rules))
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// serve builds the gRPC server with the validator's interceptors, lets
// register put the process's services on it, puts the REST gateway and
// the HTTP routes in front, and starts serving on every listener.
func (a *App) serve(ctx context.Context, metrics *prometheus.Registry, auth *auth, register func() ([]service, error)) error {
	var grpcMetrics *grpcprom.ServerMetrics
	a.grpcSrv, a.grpcReg, grpcMetrics = newGRPCServer(metrics, auth.validator, auth.admin, newAdminGuard(a.admin != nil, auth.rules))
	a.health = health.NewServer()
	healthpb.RegisterHealthServer(a.grpcReg, a.health)
	if a.cfg.GRPCReflection {
		// Off by default: reflection describes every service, the admin
		// and internal ones included, to anyone (checklist item 93).
		registerReflection(a.grpcSrv)
	}
	served, err := register()
	if err != nil {
		return err
	}
	// Every method's series from the start, so that rate() works from zero.
	grpcMetrics.InitializeMetrics(a.grpcSrv)
	if a.gatewayPeers != nil {
		a.gateway, err = newRemoteGateway(ctx, auth.validator, a.gatewayPeers)
	} else {
		a.gateway, err = newGateway(ctx, a.grpcReg, auth.validator, served, false)
	}
	if err != nil {
		return err
	}
	a.closers = append(a.closers, a.gateway.close)
	routes, err := a.routes(metrics)
	if err != nil {
		return err
	}
	a.httpSrv = newHTTPServer(routes)
	if a.admin != nil {
		// The admin REST facade: a gateway of its own, whose calls are on
		// the admin plane.
		adminGW, err := newGateway(ctx, a.grpcReg, auth.validator, served, true)
		if err != nil {
			return err
		}
		a.closers = append(a.closers, adminGW.close)
		a.admin.serve(a.grpcSrv, a.adminRoutes(adminGW), a.errc)
	}
	if a.cfg.AuthzAddr != "" {
		if err := a.startAuthz(ctx, auth); err != nil {
			return err
		}
	}

	go func() { a.errc <- a.grpcSrv.Serve(a.grpcLis) }()
	if a.mtls != nil {
		a.mtls.serve(a.grpcSrv, a.httpSrv.Handler, a.errc)
	}
	go func() {
		if err := a.httpSrv.Serve(a.httpLis); !errors.Is(err, http.ErrServerClosed) {
			a.errc <- err
		}
	}()
	a.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	for _, svc := range served {
		a.health.SetServingStatus(svc.name, healthpb.HealthCheckResponse_SERVING)
	}
	store := "none"
	if a.store != nil {
		store = a.store.kind
	}
	a.log.Info("gatehouse serving",
		"grpc_addr", a.GRPCAddr(), "http_addr", a.HTTPAddr(), "mtls_addr", a.MTLSAddr(), "admin_addr", a.AdminAddr(), "authz_addr", a.AuthzAddr(), "issuer", a.issuer,
		"store", store, "nats", a.natsDescription(), "service", serviceName(a.cfg.Service))
	return nil
}

// servedScopes lists the scopes named by the auth rules of the methods
// this process serves: the scope catalogue's system entries.
func servedScopes(srv *grpc.Server, rules *authn.Rules) []string {
	seen := map[string]bool{}
	var out []string
	for name, info := range srv.GetServiceInfo() {
		for _, m := range info.Methods {
			rule, ok := rules.Lookup("/" + name + "/" + m.Name)
			if !ok {
				continue
			}
			for _, s := range slices.Concat(authn.ScopeSets(rule)...) {
				if !seen[s] {
					seen[s] = true
					out = append(out, s)
				}
			}
		}
	}
	sort.Strings(out)
	return out
}

func serviceName(s string) string {
	if s == "" {
		return "all"
	}
	return s
}

func (a *App) connectNATS() error {
	url := a.cfg.NATSURL
	if url == "" {
		listen := a.cfg.NATSListen
		if listen == "" {
			listen = "127.0.0.1:0"
		}
		emb, err := events.StartEmbeddedAt(a.cfg.DataDir, listen)
		if err != nil {
			return err
		}
		a.closers = append(a.closers, emb.Shutdown)
		url = emb.URL()
		a.embeddedNATS = url
	}
	nc, err := events.Connect(url, "gatehouse", a.log)
	if err != nil {
		return err
	}
	a.nc = nc
	a.closers = append(a.closers, func() {
		if err := nc.Drain(); err != nil {
			nc.Close()
		}
	})
	return nil
}

func (a *App) natsDescription() string {
	if a.cfg.NATSURL == "" {
		return "embedded at " + a.embeddedNATS
	}
	return a.nc.ConnectedUrlRedacted()
}

// bootstrap creates the admin credential on an empty store, or refreshes
// the listen addresses in the existing file.
func (a *App) bootstrap(ctx context.Context, registry *clients.Registry) error {
	path := filepath.Join(a.cfg.DataDir, CredentialsFile)
	created, err := registry.Bootstrap(ctx, func(rawKey string) error {
		c := a.credentialAddresses()
		c.APIKey = rawKey
		return WriteCredentials(path, c)
	})
	if err != nil {
		return err
	}
	if created {
		// The path only: the key itself is never logged.
		a.log.Warn("bootstrapped the admin API key; it is shown once, in this file only", "path", path)
		return nil
	}
	return refreshAddresses(path, a.credentialAddresses())
}

// credentialAddresses is what admin-credentials.json says of where the
// process listens: the CLI calls the admin listener when there is one.
func (a *App) credentialAddresses() Credentials {
	c := Credentials{GRPCAddr: a.GRPCAddr(), HTTPAddr: a.HTTPAddr(), NATSURL: a.embeddedNATS, AdminAddr: a.AdminAddr()}
	if a.admin != nil && a.cfg.TLSCertFile == "" {
		c.AdminCAFile = AdminCAFile
	}
	return c
}

// GRPCAddr is the bound gRPC address.
func (a *App) GRPCAddr() string { return a.grpcLis.Addr().String() }

// HTTPAddr is the bound HTTP address.
func (a *App) HTTPAddr() string { return a.httpLis.Addr().String() }

// MTLSAddr is the bound mTLS address, or "" when it is off.
func (a *App) MTLSAddr() string {
	if a.mtls == nil {
		return ""
	}
	return a.mtls.lis.Addr().String()
}

// Wait serves until ctx is done or a server fails, then shuts down.
func (a *App) Wait(ctx context.Context) error {
	var err error
	select {
	case <-ctx.Done():
	case err = <-a.errc:
		err = fmt.Errorf("server failed: %w", err)
	}
	a.Shutdown()
	return err
}

// Shutdown stops taking new work, drains in-flight requests for up to the
// shutdown timeout, then closes everything.
func (a *App) Shutdown() {
	a.stopOnce.Do(func() {
		a.log.Info("shutting down", "timeout", a.cfg.ShutdownTimeout.String())
		a.health.Shutdown()
		if a.revs != nil && a.revs.svc != nil {
			// Watch streams last as long as their clients: end them,
			// so that the graceful stops wait for requests only. Their
			// clients resume at another replica.
			a.revs.svc.EndWatches()
		}
		ctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
		defer cancel()
		if err := a.httpSrv.Shutdown(ctx); err != nil {
			a.log.Warn("http shutdown incomplete", "error", err)
		}
		if a.authz != nil {
			if err := a.authz.shutdown(ctx); err != nil {
				a.log.Warn("authz shutdown incomplete", "error", err)
			}
		}
		if a.mtls != nil {
			if err := a.mtls.shutdown(ctx); err != nil {
				a.log.Warn("mtls shutdown incomplete", "error", err)
			}
		}
		if a.admin != nil {
			if err := a.admin.shutdown(ctx); err != nil {
				a.log.Warn("admin listener shutdown incomplete", "error", err)
			}
		}
		done := make(chan struct{})
		go func() { a.grpcSrv.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			a.grpcSrv.Stop()
		}
		a.closeAll()
		a.log.Info("stopped")
	})
}

func (a *App) closeAll() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
	a.closers = nil
}

// ready reports whether the process can serve: the store answers and NATS
// is connected.
func (a *App) ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if a.store != nil {
		if err := a.store.ping(ctx); err != nil {
			return errors.New("store unreachable")
		}
	}
	if !a.nc.IsConnected() {
		return errors.New("nats not connected")
	}
	if err := a.revs.ready(); err != nil {
		return fmt.Errorf("revocation list: %w", err)
	}
	return nil
}
