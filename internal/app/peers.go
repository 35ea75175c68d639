package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/peers"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"github.com/gatehouse-dev/gatehouse/pkg/revlist"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
)

// startSplit runs one service on its own, beside the others of a split
// deployment, as any platform service protected by pkg/authn runs: JWTs
// checked against the issuer's JWKS; API keys verified and clients looked
// up at the client registry, a peer reached over gRPC with this service's
// platform-CA certificate; events from the deployment's NATS.
//
//   - `serve inventory`, the example API, has no store and follows the
//     revocation list of its revocation peer;
//   - `serve revocation` keeps the list in its own store, publishes it on
//     NATS, and is the list its own validator follows.
func startSplit(ctx context.Context, cfg *config.Config, log *slog.Logger) (_ *App, err error) {
	runsRevocation := cfg.Service == "revocation"
	switch {
	case cfg.NATSURL == "":
		return nil, fmt.Errorf("serve %s needs --nats-url: the NATS the other services publish revocations and key rotations on", cfg.Service)
	case cfg.Issuer == "":
		return nil, fmt.Errorf("serve %s needs --issuer: the token service's issuer, whose tokens it accepts", cfg.Service)
	case len(cfg.PeerClients) == 0:
		return nil, fmt.Errorf("serve %s needs --peer-clients", cfg.Service)
	case !runsRevocation && len(cfg.PeerRevocation) == 0:
		return nil, fmt.Errorf("serve %s needs --peer-revocation", cfg.Service)
	}
	a := &App{cfg: cfg, log: log, errc: make(chan error, 3), issuer: cfg.Issuer}
	defer func() {
		if err != nil {
			a.closeAll()
		}
	}()
	if runsRevocation {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("create data dir: %w", err)
		}
		if a.store, err = openStorage(ctx, cfg, log); err != nil {
			return nil, err
		}
		a.closers = append(a.closers, a.store.close)
	}
	if err := a.connectNATS(); err != nil {
		return nil, err
	}
	dial, err := peerDialer(cfg)
	if err != nil {
		return nil, err
	}
	registryConn, err := dial(clientsv1.ClientRegistryService_ServiceDesc.ServiceName, cfg.PeerClients)
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, func() { _ = registryConn.Close() })

	metrics := prometheus.NewRegistry()
	var stop func()
	if runsRevocation {
		a.revs, stop, err = startRevocations(ctx, cfg, log, a.nc, a.store.revocations)
	} else {
		var revocationConn *grpc.ClientConn
		if revocationConn, err = dial(revocationv1.RevocationService_ServiceDesc.ServiceName, cfg.PeerRevocation); err != nil {
			return nil, err
		}
		a.closers = append(a.closers, func() { _ = revocationConn.Close() })
		a.revs, stop, err = followRevocations(ctx, cfg, log, a.nc, revlist.ClientSource(revocationv1.NewRevocationServiceClient(revocationConn)))
	}
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, stop)
	a.revs.registerMetrics(metrics)

	if err := a.listen(ctx); err != nil {
		return nil, err
	}
	if cfg.MTLSAddr != "" {
		if a.mtls, err = listenMTLS(ctx, cfg, log, a.revs.follower, nil); err != nil {
			return nil, err
		}
		a.closers = append(a.closers, func() { _ = a.mtls.lis.Close() })
	}
	jwksURL := cfg.JWKSURL
	if jwksURL == "" {
		jwksURL = cfg.Issuer + "/.well-known/jwks.json"
	}
	jwks := authn.NewHTTPJWKSSource(jwksURL)
	if err := jwks.Err(); err != nil {
		return nil, fmt.Errorf("jwks-url: %w", err)
	}
	// API keys, and client lookups for rate-limit tiers and the
	// certificate alone, both allowed to gatehouse:internal.
	registry := clientsv1.NewClientRegistryServiceClient(registryConn)
	reg := registryPeer{apiKeys: authn.VerifierFromClient(registry), clients: clientGetter{registry}}
	auth, err := newAuth(ctx, cfg, a.issuer, log, metrics, a.nc, reg, jwks, a.revs.follower, a.mtls)
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, auth.close)
	a.followCaches(auth)
	err = a.serve(ctx, metrics, auth, func() ([]service, error) {
		if runsRevocation {
			return []service{a.registerRevocation()}, nil
		}
		return []service{a.registerInventory()}, nil
	})
	if err != nil {
		return nil, err
	}
	return a, nil
}

// peerDialer returns how this process dials its peers: with its service
// certificate when --peer-cert is given, else in plaintext (loopback only).
func peerDialer(cfg *config.Config) (func(service string, addrs []string) (*grpc.ClientConn, error), error) {
	var tlsCfg *tls.Config
	switch {
	case cfg.PeerCertFile != "" || cfg.PeerKeyFile != "" || cfg.PeerCAFile != "":
		if cfg.PeerCertFile == "" || cfg.PeerKeyFile == "" || cfg.PeerCAFile == "" {
			return nil, errors.New("peer-cert, peer-key and peer-ca go together")
		}
		var err error
		if tlsCfg, err = peers.ClientTLS(cfg.PeerCertFile, cfg.PeerKeyFile, cfg.PeerCAFile); err != nil {
			return nil, err
		}
	}
	return func(service string, addrs []string) (*grpc.ClientConn, error) {
		return peers.Dial(peers.Config{Service: service, Addrs: addrs, TLS: tlsCfg, Timeout: cfg.PeerTimeout})
	}, nil
}

// listen binds the gRPC and HTTP listeners.
func (a *App) listen(ctx context.Context) error {
	var lc net.ListenConfig
	var err error
	if a.grpcLis, err = lc.Listen(ctx, "tcp", a.cfg.GRPCAddr); err != nil {
		return fmt.Errorf("listen on grpc-addr %s: %w", a.cfg.GRPCAddr, err)
	}
	a.closers = append(a.closers, func() { _ = a.grpcLis.Close() })
	if a.httpLis, err = lc.Listen(ctx, "tcp", a.cfg.HTTPAddr); err != nil {
		return fmt.Errorf("listen on http-addr %s: %w", a.cfg.HTTPAddr, err)
	}
	a.closers = append(a.closers, func() { _ = a.httpLis.Close() })
	return nil
}

// followCaches keeps the validator's caches in step with revocations and
// drops them on a NATS reconnect, when events may have been lost.
func (a *App) followCaches(auth *auth) {
	a.revs.hooks.add(func(e *revocationv1.Entry) {
		switch e.GetKind() {
		case revocationv1.Kind_KIND_CLIENT:
			auth.apiKeys.InvalidateClient(e.GetId())
			if auth.certs != nil {
				auth.certs.InvalidateClient(e.GetId())
			}
		case revocationv1.Kind_KIND_API_KEY:
			auth.apiKeys.InvalidateKey(e.GetId())
		}
		if a.token != nil {
			// Client caches, refresh-token families and sessions.
			a.token.RevocationApplied(context.Background(), e)
		}
	})
	a.nc.SetReconnectHandler(func(c *nats.Conn) {
		a.log.Info("nats reconnected; dropping cached verifications", "url", c.ConnectedUrlRedacted())
		auth.apiKeys.InvalidateAll()
		if auth.certs != nil {
			auth.certs.InvalidateAll()
		}
		if auth.tiers != nil {
			auth.tiers.drop("")
		}
		if a.token != nil {
			a.token.InvalidateAll()
		}
		if a.keys != nil {
			a.keys.Notify()
		}
	})
}

// clientGetter adapts the registry's gRPC client to authn.ClientGetter.
type clientGetter struct {
	c clientsv1.ClientRegistryServiceClient
}

func (g clientGetter) GetClient(ctx context.Context, req *clientsv1.GetClientRequest) (*clientsv1.GetClientResponse, error) {
	return g.c.GetClient(ctx, req)
}
