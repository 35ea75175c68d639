package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"

	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/peers"
	"github.com/nats-io/nats.go"
	"google.golang.org/grpc"
)

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
	a.revs.hooks.add(func(entries []*revocationv1.Entry) {
		for _, e := range entries {
			switch e.GetKind() {
			case revocationv1.Kind_KIND_CLIENT:
				auth.apiKeys.InvalidateClient(e.GetId())
				if auth.certs != nil {
					auth.certs.InvalidateClient(e.GetId())
				}
			case revocationv1.Kind_KIND_API_KEY:
				auth.apiKeys.InvalidateKey(e.GetId())
			}
		}
		if a.token != nil {
			// Client caches, refresh-token families and sessions.
			a.token.RevocationsApplied(context.Background(), entries)
		}
	})
	a.revs.hooks.open()
	a.nc.SetReconnectHandler(func(c *nats.Conn) {
		a.log.Info("nats reconnected; dropping cached verifications", "url", c.ConnectedUrlRedacted())
		auth.apiKeys.InvalidateAll()
		if auth.certs != nil {
			auth.certs.InvalidateAll()
		}
		if auth.tiers != nil {
			auth.tiers.Invalidate("")
		}
		if a.token != nil {
			a.token.InvalidateAll()
		}
		if a.keys != nil {
			a.keys.Notify()
		}
	})
}
