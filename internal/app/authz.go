package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"github.com/gatehouse-dev/gatehouse/internal/authz"
	"github.com/gatehouse-dev/gatehouse/internal/mtls"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"google.golang.org/grpc"
)

// routesPollInterval is how often the route-rules file is checked for a
// change; SIGHUP reloads at once.
const routesPollInterval = 2 * time.Second

// authzServer is the gateway authorizer's own listener, so that gateways
// reach it on an address of its own (and nothing else there): HTTP/1.1
// forward auth and Envoy's ext_authz gRPC on one port (HTTP/2 with prior
// knowledge, as Envoy's gRPC client speaks it).
type authzServer struct {
	lis  net.Listener
	srv  *http.Server
	grpc *grpc.Server
	stop func()
}

// startAuthz serves forward auth on --authz-addr with the process's
// validator, and reloads the route rules on SIGHUP or a file change.
func (a *App) startAuthz(ctx context.Context, auth *auth) error {
	var opts []authz.Option
	if auth.newJWT != nil {
		opts = append(opts, authz.WithAudiences(func(audience string) (authn.Authenticator, func(), error) {
			j := auth.newJWT(audience)
			if err := j.ConfigError(); err != nil {
				return nil, nil, err
			}
			stop, err := j.FollowKeyRotations(ctx, a.nc)
			if err != nil {
				return nil, nil, fmt.Errorf("follow key rotations: %w", err)
			}
			return j, stop, nil
		}))
	}
	az, err := authz.New(auth.validator, a.cfg.AuthzRoutes, a.log, opts...)
	if err != nil {
		return err
	}
	var lc net.ListenConfig
	lis, err := lc.Listen(ctx, "tcp", a.cfg.AuthzAddr)
	if err != nil {
		az.Close()
		return fmt.Errorf("listen on authz-addr %s: %w", a.cfg.AuthzAddr, err)
	}
	mux := http.NewServeMux()
	mux.Handle(authz.ForwardAuthPath, authz.ForwardAuth(az, a.cfg.TrustedProxies, a.cfg.AuthzClientCertHeader, a.log))
	gs := grpc.NewServer(grpc.ChainUnaryInterceptor(recoverUnary), grpc.MaxConcurrentStreams(maxInFlight))
	authv3.RegisterAuthorizationServer(gs, authz.NewExtAuthz(az, a.cfg.TrustedProxies, a.cfg.AuthzClientCertHeader, a.log))
	s := &authzServer{lis: lis, grpc: gs, srv: newHTTPServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
			gs.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	}))}
	s.srv.Protocols = new(http.Protocols)
	s.srv.Protocols.SetHTTP1(true)
	if a.cfg.AuthzTLS {
		s.srv.Protocols.SetHTTP2(true)
		s.srv.TLSConfig = gatewayTLS(a.mtls)
	} else {
		s.srv.Protocols.SetUnencryptedHTTP2(true)
	}
	watchCtx, cancel := context.WithCancel(context.Background())
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() { defer close(done); az.Watch(watchCtx, hup, routesPollInterval) }()
	s.stop = func() { signal.Stop(hup); cancel(); <-done; az.Close() }
	go func() {
		serve := s.srv.Serve
		if s.srv.TLSConfig != nil {
			serve = func(l net.Listener) error { return s.srv.ServeTLS(l, "", "") }
		}
		if err := serve(lis); !errors.Is(err, http.ErrServerClosed) {
			a.errc <- err
		}
	}()
	a.authz = s
	a.log.Info("gateway authorizer serving", "authz_addr", lis.Addr().String(), "routes", a.cfg.AuthzRoutes, "tls", a.cfg.AuthzTLS)
	return nil
}

// gatewayTLS is the authorizer listener's TLS: the mTLS listener's
// certificate and trust, and a client certificate required of every
// gateway, so that only a gateway holding a trusted identity (besides its
// address in --trusted-proxies) can ask.
func gatewayTLS(m *mtlsListener) *tls.Config {
	c := mtls.ServerConfig(m.cert, m.trust)
	verify := c.VerifyConnection
	c.ClientAuth = tls.RequireAnyClientCert
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("authz listener: the gateway presented no client certificate")
		}
		return verify(cs)
	}
	return c
}

// shutdown drains the authorizer's requests and stops following the file.
func (s *authzServer) shutdown(ctx context.Context) error {
	defer s.stop()
	err := s.srv.Shutdown(ctx)
	s.grpc.Stop()
	return err
}

// AuthzAddr is the bound address of the gateway authorizer, or "".
func (a *App) AuthzAddr() string {
	if a.authz == nil {
		return ""
	}
	return a.authz.lis.Addr().String()
}
