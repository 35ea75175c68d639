package app

import (
	"context"
	"log/slog"
	"time"

	auditv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/audit/v1"
	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	"github.com/gatehouse-dev/gatehouse/services/audit"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/nats-io/nats.go"
	"google.golang.org/grpc"
)

// auditPurgeInterval is how often records past --audit-retention are
// deleted.
const auditPurgeInterval = time.Hour

// adminAudit is the admin audit trail of the process (checklist item 100):
// the recorder whose interceptors surround the validator's, and the store
// it writes, nil in a process without one (serve gateway, serve inventory:
// they serve no admin method of their own; the gateway's calls are
// recorded by the service it forwards to).
type adminAudit struct {
	rec   *audit.Recorder
	store audit.Store
}

// keyLister is what the recorder needs to name an admin's API key.
type keyLister interface {
	ListAPIKeys(ctx context.Context, req *clientsv1.ListAPIKeysRequest) (*clientsv1.ListAPIKeysResponse, error)
}

// newAdminAudit builds the trail over store; keys names the API keys
// admins call with (nil: records carry the key id only). It starts the
// retention purge and returns its stop.
func newAdminAudit(a *App, auth *auth, store audit.Store, nc *nats.Conn, keys keyLister) (*adminAudit, func()) {
	opts := []audit.Option{audit.WithNATS(nc), audit.WithRemote(auth.validator.Remote)}
	if keys != nil {
		opts = append(opts, audit.WithKeyNames(keyNames(keys)))
	}
	log := a.log.With("component", "admin-audit")
	aa := &adminAudit{
		rec:   audit.NewRecorder(store, auth.rules, log, serviceName(a.cfg.Service), opts...),
		store: store,
	}
	if store == nil {
		return aa, func() {}
	}
	return aa, audit.StartRetention(store, a.cfg.AuditRetention, auditPurgeInterval, log)
}

// keyNames reads an API key's name from the registry: the description
// given at creation (gatehouse admin create-key --name).
func keyNames(keys keyLister) audit.KeyNames {
	return func(ctx context.Context, clientID, keyID string) string {
		resp, err := keys.ListAPIKeys(ctx, &clientsv1.ListAPIKeysRequest{ClientId: clientID})
		if err != nil {
			slog.WarnContext(ctx, "admin audit: cannot name the API key", "key_id", keyID, "error", err)
			return ""
		}
		for _, k := range resp.GetKeys() {
			if k.GetKeyId() == keyID {
				return k.GetDescription()
			}
		}
		return ""
	}
}

// unary is the validator's interceptor between the trail's two: refusals
// are seen by the outer one, the caller and the outcome by the inner one.
func (aa *adminAudit) unary(validator grpc.UnaryServerInterceptor) grpc.UnaryServerInterceptor {
	if aa == nil {
		return validator
	}
	outer, inner := aa.rec.Outer(), aa.rec.Inner()
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		return outer(ctx, req, info, func(ctx context.Context, req any) (any, error) {
			return validator(ctx, req, info, func(ctx context.Context, req any) (any, error) {
				return inner(ctx, req, info, h)
			})
		})
	}
}

// register serves AuditService where the process has the store.
func (aa *adminAudit) register(srv grpc.ServiceRegistrar, log *slog.Logger) []service {
	if aa == nil || aa.store == nil {
		return nil
	}
	auditv1.RegisterAuditServiceServer(srv, audit.NewService(aa.store, log.With("service", "audit")))
	return []service{auditREST}
}

var auditREST = service{auditv1.AuditService_ServiceDesc.ServiceName, func(ctx context.Context, mux *runtime.ServeMux, cc grpc.ClientConnInterface) error {
	return auditv1.RegisterAuditServiceHandlerClient(ctx, mux, auditv1.NewAuditServiceClient(cc))
}}
