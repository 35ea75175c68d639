package app

import (
	"context"
	"fmt"
	"log/slog"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	inventoryv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/inventory/v1"
	keysv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/keys/v1"
	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	tokenv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/token/v1"
	usersv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/users/v1"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/events"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"github.com/gatehouse-dev/gatehouse/pkg/revlist"
	"github.com/gatehouse-dev/gatehouse/services/clients"
	"github.com/gatehouse-dev/gatehouse/services/keys"
	"github.com/gatehouse-dev/gatehouse/services/users"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
)

// peerServices names each peer's gRPC service, which the peers' client
// health checks ask about.
var peerServices = map[string]string{
	"clients":    clientsv1.ClientRegistryService_ServiceDesc.ServiceName,
	"keys":       keysv1.KeyManagementService_ServiceDesc.ServiceName,
	"revocation": revocationv1.RevocationService_ServiceDesc.ServiceName,
	"token":      tokenv1.TokenService_ServiceDesc.ServiceName,
	"inventory":  inventoryv1.InventoryService_ServiceDesc.ServiceName,
}

// startSplit runs one service of a split deployment. Its peers are the
// other services' replicas, called over gRPC (internal/peers: round robin,
// health checks, retries, deadlines) with the service's identity
// certificate, through the same Go interfaces the all-in-one process wires
// directly. Apart from its own tables and NATS it keeps no state, so any
// number of replicas may run.
//
//   - clients: the registry; API keys verified in process.
//   - keys: the signing keys and the platform CA; scheduled rotation runs
//     on one replica at a time (PostgreSQL advisory lock).
//   - revocation: the list, in its own tables, published on NATS; it is the
//     list its own validator follows, so it authenticates its followers
//     (service certificates, known without the registry) from the start.
//   - token: the OAuth endpoints, users, codes and refresh tokens; it signs
//     with the key service's active key, held in memory.
//   - gateway: the REST facade of every service, validating each request
//     before forwarding it over gRPC to the service's replicas.
//   - inventory: the example resource API, with no store, reading the
//     signing keys like any resource service may (--jwks-url).
//   - authz: the gateway authorizer alone (--authz-addr), with no store:
//     the validator and the route rules of the all-in-one process's
//     authorizer, for gateways in front of any service.
//
// Every service but revocation follows its revocation peer's list, and
// every validator checks JWTs against the key service's JWKS.
func startSplit(ctx context.Context, cfg *config.Config, log *slog.Logger) (_ *App, err error) {
	name := cfg.Service
	a := &App{cfg: cfg, log: log, errc: make(chan error, 3), issuer: cfg.Issuer}
	defer func() {
		if err != nil {
			a.closeAll()
		}
	}()
	if err := a.lockDataDir(); err != nil {
		return nil, err
	}
	if len(ownedStores[name]) > 0 {
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
	conns := map[string]*grpc.ClientConn{}
	for p, svc := range peerServices {
		if len(cfg.Peer(p)) == 0 {
			continue
		}
		conn, err := dial(svc, cfg.Peer(p))
		if err != nil {
			return nil, fmt.Errorf("peer %s: %w", p, err)
		}
		conns[p] = conn
		a.closers = append(a.closers, func() { _ = conn.Close() })
	}
	var revoker revokerClient
	if c := conns["revocation"]; c != nil {
		revoker = revokerClient{revocationv1.NewRevocationServiceClient(c)}
	}

	metrics := prometheus.NewRegistry()
	var stop func()
	if name == "revocation" {
		a.revs, stop, err = startRevocations(ctx, cfg, log, a.nc, a.store.revocations)
	} else {
		a.revs, stop, err = followRevocations(ctx, cfg, log, a.nc, revlist.ClientSource(revoker.c))
	}
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, stop)
	a.revs.registerMetrics(metrics)

	if err := a.listen(ctx); err != nil {
		return nil, err
	}
	// The mTLS listener, where peers and partners call: the platform CA
	// from --peer-ca, the service certificate unless --tls-cert is given.
	if a.mtls, err = listenMTLS(ctx, cfg, log, a.revs.follower, nil); err != nil {
		return nil, err
	}
	a.closers = append(a.closers, func() { _ = a.mtls.lis.Close() })

	// The key service: the manager here, or its replicas.
	var ks keySource
	var peerKeys *keyPeer
	switch {
	case name == "keys":
		if a.keys, stop, err = startKeys(ctx, cfg, log, a.nc, a.store.keys, revoker); err != nil {
			return nil, err
		}
		a.closers = append(a.closers, stop)
		ks = managerKeys{a.keys}
	case conns["keys"] != nil:
		peerKeys = newKeyPeer(keysv1.NewKeyManagementServiceClient(conns["keys"]), log.With("component", "keys-peer"))
		if stop, err = peerKeys.follow(ctx, a.nc, name == "token"); err != nil {
			return nil, fmt.Errorf("follow key rotations: %w", err)
		}
		a.closers = append(a.closers, stop)
		ks = peerKeys
	}
	var jwks authn.JWKSSource = ks
	if ks == nil {
		// serve inventory or authz without the key service, as any
		// resource service: the issuer's JWKS.
		jwksURL := cfg.JWKSURL
		if jwksURL == "" {
			jwksURL = cfg.Issuer + "/.well-known/jwks.json"
		}
		fromURL := authn.NewHTTPJWKSSource(jwksURL)
		if err := fromURL.Err(); err != nil {
			return nil, fmt.Errorf("jwks-url: %w", err)
		}
		jwks = fromURL
	}

	// The registry: here, or its replicas.
	var registry *clients.Registry
	var reg registryPeer
	var regClient registryClient
	if name == "clients" {
		registry = clients.New(a.store.clients,
			clients.WithPublisher(events.NewPublisher(a.nc)),
			clients.WithRevoker(revoker),
			clients.WithLogger(log.With("service", "clients")))
		reg = registryPeer{apiKeys: registry, clients: registry}
	} else {
		regClient = registryClient{clientsv1.NewClientRegistryServiceClient(conns["clients"])}
		reg = registryPeer{apiKeys: authn.VerifierFromClient(regClient.c), clients: regClient}
	}

	auth, err := newAuth(ctx, cfg, a.issuer, log, metrics, a.nc, reg, jwks, a.revs.follower, a.mtls)
	if err != nil {
		return nil, err
	}
	a.closers = append(a.closers, auth.close)
	if a.store != nil {
		// Every service with a store records the admin calls it serves
		// in its database; with one database for all (the usual), the
		// clients service reads the whole trail back.
		var keys keyLister
		if registry != nil {
			keys = registry
		}
		var stopAudit func()
		auth.admin, stopAudit = newAdminAudit(a, auth, a.store.audit, a.nc, keys)
		a.closers = append(a.closers, stopAudit)
	}
	if name == "keys" {
		// Validators in this process learn of a key change at once.
		a.keys.OnChange(func() { go refreshJWT(auth) })
	} else if peerKeys != nil && name != "token" {
		peerKeys.OnChange(func() { refreshJWT(auth) })
	}
	if name == "token" {
		a.users = users.New(a.store.users, users.WithRevoker(revoker), users.WithLogger(log.With("service", "users")))
		if a.token, stop, err = newTokenService(ctx, cfg, a.issuer, log, a.nc, metrics, peerKeys, auth, regClient, revoker, a.revs, a.store.grants, userLogins{a.users}, a.mtls); err != nil {
			return nil, err
		}
		a.closers = append(a.closers, stop)
		a.jwks = peerKeys
	}
	a.followCaches(auth)

	register := func() ([]service, error) {
		switch name {
		case "clients":
			clientsv1.RegisterClientRegistryServiceServer(a.grpcReg, registry)
			// Every service's scopes: the catalogue is the deployment's.
			served := append([]service{registryREST}, auth.admin.register(a.grpcReg, a.log)...)
			return served, registry.SeedScopes(ctx, auth.rules.Scopes())
		case "keys":
			keysv1.RegisterKeyManagementServiceServer(a.grpcReg, keys.NewServer(a.keys, keys.WithClients(regClient)))
			return []service{keysREST}, nil
		case "revocation":
			return []service{a.registerRevocation()}, nil
		case "token":
			usersv1.RegisterUserServiceServer(a.grpcReg, a.users)
			tokenv1.RegisterTokenServiceServer(a.grpcReg, a.token)
			return []service{usersREST, tokenREST}, nil
		case "inventory":
			return []service{a.registerInventory()}, nil
		}
		return nil, nil
	}
	if name == "gateway" {
		a.gatewayPeers = conns
	}
	if name == "clients" {
		// The first replica on an empty store creates the admin API key
		// (in its data directory, shown once); the others find it made.
		if err := a.bootstrap(ctx, registry); err != nil {
			return nil, err
		}
	}
	if err := a.serve(ctx, metrics, auth, register); err != nil {
		return nil, err
	}
	return a, nil
}

// refreshJWT makes the validator fetch the JWKS again after a key change.
func refreshJWT(auth *auth) {
	if auth.jwt != nil {
		_ = auth.jwt.Refresh(context.Background())
	}
}

// The REST routes of each service, registered on a gateway mux over a
// connection to the service: the process's own gRPC server, or a peer's
// replicas.
var (
	registryREST = service{clientsv1.ClientRegistryService_ServiceDesc.ServiceName, func(ctx context.Context, mux *runtime.ServeMux, cc grpc.ClientConnInterface) error {
		return clientsv1.RegisterClientRegistryServiceHandlerClient(ctx, mux, clientsv1.NewClientRegistryServiceClient(cc))
	}}
	keysREST = service{keysv1.KeyManagementService_ServiceDesc.ServiceName, func(ctx context.Context, mux *runtime.ServeMux, cc grpc.ClientConnInterface) error {
		return keysv1.RegisterKeyManagementServiceHandlerClient(ctx, mux, keysv1.NewKeyManagementServiceClient(cc))
	}}
	revocationREST = service{revocationv1.RevocationService_ServiceDesc.ServiceName, func(ctx context.Context, mux *runtime.ServeMux, cc grpc.ClientConnInterface) error {
		return revocationv1.RegisterRevocationServiceHandlerClient(ctx, mux, revocationv1.NewRevocationServiceClient(cc))
	}}
	usersREST = service{usersv1.UserService_ServiceDesc.ServiceName, func(ctx context.Context, mux *runtime.ServeMux, cc grpc.ClientConnInterface) error {
		return usersv1.RegisterUserServiceHandlerClient(ctx, mux, usersv1.NewUserServiceClient(cc))
	}}
	tokenREST = service{tokenv1.TokenService_ServiceDesc.ServiceName, func(ctx context.Context, mux *runtime.ServeMux, cc grpc.ClientConnInterface) error {
		return tokenv1.RegisterTokenServiceHandlerClient(ctx, mux, tokenv1.NewTokenServiceClient(cc))
	}}
	inventoryREST = service{inventoryv1.InventoryService_ServiceDesc.ServiceName, func(ctx context.Context, mux *runtime.ServeMux, cc grpc.ClientConnInterface) error {
		return inventoryv1.RegisterInventoryServiceHandlerClient(ctx, mux, inventoryv1.NewInventoryServiceClient(cc))
	}}
)

// gatewayRoutes are the REST routes `serve gateway` fronts, by the peer
// that serves them.
var gatewayRoutes = map[string][]service{
	"clients":    {registryREST, auditREST},
	"keys":       {keysREST},
	"revocation": {revocationREST},
	"token":      {usersREST, tokenREST},
	"inventory":  {inventoryREST},
}
