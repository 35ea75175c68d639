package app

import (
	"context"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// The admin plane (checklist item 101). With --admin-addr the admin API
// has a TLS listener of its own, gRPC and REST on one port, which an
// operator can keep on a private network; the public listeners (gRPC,
// HTTP, mTLS) then neither serve admin-only methods nor accept admin
// credentials, so a leaked admin key is useless from the internet and the
// admin API is not even visible there.
//
// One gRPC server serves every listener, so the plane of a call is told by
// the local address of its connection: connections accepted on the admin
// listener, and the calls of the admin REST gateway, carry an
// adminPlaneAddr.

// AdminCAFile is the PEM file, next to the credentials file, of the CA
// that issued the admin listener's certificate, when the platform CA did:
// what the CLI verifies the admin listener with.
const AdminCAFile = "admin-ca.pem"

// adminPlaneAddr marks the local address of a connection of the admin
// plane.
type adminPlaneAddr struct{ net.Addr }

// adminPlaneListener marks every connection it accepts as the admin
// plane's.
type adminPlaneListener struct{ net.Listener }

func (l adminPlaneListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return adminPlaneConn{c}, nil
}

type adminPlaneConn struct{ net.Conn }

func (c adminPlaneConn) LocalAddr() net.Addr { return adminPlaneAddr{c.Conn.LocalAddr()} }

// onAdminPlane reports whether the call came in on the admin plane.
func onAdminPlane(ctx context.Context) bool {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return false
	}
	_, ok = p.LocalAddr.(adminPlaneAddr)
	return ok
}

// isAdminScope reports whether scope is gatehouse:admin or one of its
// narrower forms (gatehouse:admin.read, gatehouse:admin.clients, ...).
func isAdminScope(scope string) bool {
	return scope == "gatehouse:admin" || strings.HasPrefix(scope, "gatehouse:admin.")
}

// adminGuard enforces the plane separation in the interceptor chain,
// around the validator: before it, an admin-only method called on a public
// listener is refused as if it did not exist there; after it, so is a
// call of any method made with an admin credential.
type adminGuard struct {
	rules *authn.Rules
	// adminOnly caches, per full method name, whether every way its rule
	// grants access takes an admin scope.
	adminOnly sync.Map
}

// newAdminGuard returns the guard, or nil when the admin plane is not
// separate (no --admin-addr): then nothing is refused for its plane.
func newAdminGuard(enabled bool, rules *authn.Rules) *adminGuard {
	if !enabled {
		return nil
	}
	return &adminGuard{rules: rules}
}

// isAdminOnly reports whether method can be called with admin scopes only.
func (g *adminGuard) isAdminOnly(method string) bool {
	if v, ok := g.adminOnly.Load(method); ok {
		return v.(bool)
	}
	only := false
	if rule, ok := g.rules.Lookup(method); ok && !rule.GetPublic() {
		only = !slices.ContainsFunc(authn.ScopeSets(rule), func(scopes []string) bool {
			return !slices.ContainsFunc(scopes, isAdminScope)
		})
	}
	g.adminOnly.Store(method, only)
	return only
}

// refuseBefore is the check before authentication: nil on the admin plane
// and for methods the public plane serves.
func (g *adminGuard) refuseBefore(ctx context.Context, method string) error {
	if g == nil || onAdminPlane(ctx) || !g.isAdminOnly(method) {
		return nil
	}
	if p, ok := peer.FromContext(ctx); ok && isGatewayPeer(p.Addr) {
		// The public REST facade: 404, as for a route it does not have.
		return status.Error(codes.NotFound, "not found: the admin API is served on the admin listener only")
	}
	return status.Errorf(codes.PermissionDenied, "%s is served on the admin listener only", method)
}

// refuseAfter is the check after authentication: an admin credential on
// a public listener is refused, whatever the method.
func (g *adminGuard) refuseAfter(ctx context.Context) error {
	if g == nil || onAdminPlane(ctx) {
		return nil
	}
	if p, ok := authn.FromContext(ctx); ok && slices.ContainsFunc(p.Scopes, isAdminScope) {
		return status.Error(codes.PermissionDenied, "admin credentials are accepted on the admin listener only")
	}
	return nil
}

// unary puts the guard around the validator's interceptor.
func (g *adminGuard) unary(validator grpc.UnaryServerInterceptor) grpc.UnaryServerInterceptor {
	if g == nil {
		return validator
	}
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if err := g.refuseBefore(ctx, info.FullMethod); err != nil {
			return nil, err
		}
		return validator(ctx, req, info, func(ctx context.Context, req any) (any, error) {
			if err := g.refuseAfter(ctx); err != nil {
				return nil, err
			}
			return h(ctx, req)
		})
	}
}

// stream puts the guard around the validator's stream interceptor.
func (g *adminGuard) stream(validator grpc.StreamServerInterceptor) grpc.StreamServerInterceptor {
	if g == nil {
		return validator
	}
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		if err := g.refuseBefore(ss.Context(), info.FullMethod); err != nil {
			return err
		}
		return validator(srv, ss, info, func(srv any, ss grpc.ServerStream) error {
			if err := g.refuseAfter(ss.Context()); err != nil {
				return err
			}
			return h(srv, ss)
		})
	}
}

// listenAdmin binds the admin listener: TLS with the certificate of
// --tls-cert/--tls-key, or one the platform CA issues at start, whose CA
// it then writes to the data directory for the CLI. Client certificates
// are asked for and verified as on the mTLS listener, so certificate-bound
// admin tokens work.
func (a *App) listenAdmin(ctx context.Context) error {
	if a.cfg.AdminAddr == "" {
		return nil
	}
	var ca platformCA
	if a.keys != nil {
		ca = a.keys
	}
	lis, err := listenTLS(ctx, "admin-addr", a.cfg.AdminAddr, a.cfg, a.log, a.revs.follower, ca)
	if err != nil {
		return err
	}
	lis.lis = adminPlaneListener{lis.lis}
	a.admin = lis
	a.closers = append(a.closers, func() { _ = lis.lis.Close() })
	if a.cfg.TLSCertFile == "" && a.keys != nil {
		return a.writeAdminCA(ctx)
	}
	return nil
}

// writeAdminCA writes the platform CA's certificate where the CLI finds it
// next to admin-credentials.json.
func (a *App) writeAdminCA(ctx context.Context) error {
	cert, err := a.keys.CA(ctx)
	if err != nil {
		return fmt.Errorf("admin listener: platform CA: %w", err)
	}
	b := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
	if err := os.MkdirAll(a.cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("admin listener: %w", err)
	}
	if err := os.WriteFile(filepath.Join(a.cfg.DataDir, AdminCAFile), b, 0o644); err != nil { //nolint:gosec // a CA certificate is public
		return fmt.Errorf("admin listener: write the CA certificate: %w", err)
	}
	return nil
}

// AdminAddr is the bound admin listener's address, or "" when the admin
// plane shares the public listeners.
func (a *App) AdminAddr() string {
	if a.admin == nil {
		return ""
	}
	return a.admin.lis.Addr().String()
}

// adminRoutes are the admin listener's HTTP routes: the admin REST facade
// (a gateway of its own, whose calls are on the admin plane) and health.
func (a *App) adminRoutes(gw *gateway) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.Handle("/v1/", limitBody(gw.handler))
	return a.observeHTTP(mux)
}
