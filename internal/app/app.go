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
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/events"
	"github.com/gatehouse-dev/gatehouse/services/clients"
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
	grpcSrv *grpc.Server
	httpSrv *http.Server
	health  *health.Server
	gateway *gateway

	nc      *nats.Conn
	store   *storage
	closers []func()

	errc     chan error
	stopOnce sync.Once
}

// Start opens storage and NATS, binds the listeners and starts serving.
// On error everything opened so far is closed again.
func Start(ctx context.Context, cfg *config.Config, log *slog.Logger) (_ *App, err error) {
	switch cfg.Service {
	case "", "clients":
	default:
		return nil, fmt.Errorf("service %q cannot run on its own yet: run `gatehouse serve` (all services) or `gatehouse serve clients`", cfg.Service)
	}
	a := &App{cfg: cfg, log: log, errc: make(chan error, 2)}
	defer func() {
		if err != nil {
			a.closeAll()
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	if a.store, err = openStorage(ctx, cfg, log); err != nil {
		return nil, err
	}
	a.closers = append(a.closers, a.store.close)
	if err := a.connectNATS(); err != nil {
		return nil, err
	}

	metrics := prometheus.NewRegistry()
	registry := clients.New(a.store.clients,
		clients.WithPublisher(events.NewPublisher(a.nc)),
		clients.WithLogger(log.With("service", "clients")))
	auth, err := newAuth(ctx, cfg, log, metrics, a.nc, registry)
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, auth.close)
	if err := registry.SeedScopes(ctx, auth.rules.Scopes()); err != nil {
		return nil, err
	}

	var lc net.ListenConfig
	if a.grpcLis, err = lc.Listen(ctx, "tcp", cfg.GRPCAddr); err != nil {
		return nil, fmt.Errorf("listen on grpc-addr %s: %w", cfg.GRPCAddr, err)
	}
	if a.httpLis, err = lc.Listen(ctx, "tcp", cfg.HTTPAddr); err != nil {
		a.grpcLis.Close() //nolint:errcheck,gosec // already failing
		return nil, fmt.Errorf("listen on http-addr %s: %w", cfg.HTTPAddr, err)
	}
	if err := a.bootstrap(ctx, registry); err != nil {
		a.grpcLis.Close() //nolint:errcheck,gosec // already failing
		a.httpLis.Close() //nolint:errcheck,gosec // already failing
		return nil, err
	}

	a.grpcSrv = newGRPCServer(metrics, auth.validator)
	clientsRegister(a.grpcSrv, registry)
	a.health = health.NewServer()
	healthpb.RegisterHealthServer(a.grpcSrv, a.health)
	registerReflection(a.grpcSrv)

	if a.gateway, err = newGateway(ctx, a.grpcSrv, auth.validator); err != nil {
		return nil, err
	}
	a.closers = append(a.closers, a.gateway.close)
	a.httpSrv = newHTTPServer(a.routes(metrics))

	go func() { a.errc <- a.grpcSrv.Serve(a.grpcLis) }()
	go func() {
		if err := a.httpSrv.Serve(a.httpLis); !errors.Is(err, http.ErrServerClosed) {
			a.errc <- err
		}
	}()
	a.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	a.health.SetServingStatus("gatehouse.clients.v1.ClientRegistryService", healthpb.HealthCheckResponse_SERVING)
	log.Info("gatehouse serving",
		"grpc_addr", a.GRPCAddr(), "http_addr", a.HTTPAddr(),
		"store", a.store.kind, "nats", a.natsDescription(), "service", serviceName(cfg.Service))
	return a, nil
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
		emb, err := events.StartEmbedded(a.cfg.DataDir)
		if err != nil {
			return err
		}
		a.closers = append(a.closers, emb.Shutdown)
		url = emb.URL()
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
		return "embedded"
	}
	return a.nc.ConnectedUrlRedacted()
}

// bootstrap creates the admin credential on an empty store, or refreshes
// the listen addresses in the existing file.
func (a *App) bootstrap(ctx context.Context, registry *clients.Registry) error {
	path := filepath.Join(a.cfg.DataDir, CredentialsFile)
	created, err := registry.Bootstrap(ctx, func(rawKey string) error {
		return writeCredentials(path, Credentials{APIKey: rawKey, GRPCAddr: a.GRPCAddr(), HTTPAddr: a.HTTPAddr()})
	})
	if err != nil {
		return err
	}
	if created {
		// The path only: the key itself is never logged.
		a.log.Warn("bootstrapped the admin API key; it is shown once, in this file only", "path", path)
		return nil
	}
	return refreshAddresses(path, a.GRPCAddr(), a.HTTPAddr())
}

// GRPCAddr is the bound gRPC address.
func (a *App) GRPCAddr() string { return a.grpcLis.Addr().String() }

// HTTPAddr is the bound HTTP address.
func (a *App) HTTPAddr() string { return a.httpLis.Addr().String() }

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
		ctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
		defer cancel()
		if err := a.httpSrv.Shutdown(ctx); err != nil {
			a.log.Warn("http shutdown incomplete", "error", err)
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
	if err := a.store.ping(ctx); err != nil {
		return errors.New("store unreachable")
	}
	if !a.nc.IsConnected() {
		return errors.New("nats not connected")
	}
	return nil
}
