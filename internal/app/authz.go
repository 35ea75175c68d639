package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/authz"
)

// routesPollInterval is how often the route-rules file is checked for a
// change; SIGHUP reloads at once.
const routesPollInterval = 2 * time.Second

// authzServer is the gateway authorizer's own listener, so that gateways
// reach it on an address of its own (and nothing else there).
type authzServer struct {
	lis  net.Listener
	srv  *http.Server
	stop func()
}

// startAuthz serves forward auth on --authz-addr with the process's
// validator, and reloads the route rules on SIGHUP or a file change.
func (a *App) startAuthz(ctx context.Context, auth *auth) error {
	az, err := authz.New(auth.validator, a.cfg.AuthzRoutes, a.log)
	if err != nil {
		return err
	}
	var lc net.ListenConfig
	lis, err := lc.Listen(ctx, "tcp", a.cfg.AuthzAddr)
	if err != nil {
		return fmt.Errorf("listen on authz-addr %s: %w", a.cfg.AuthzAddr, err)
	}
	mux := http.NewServeMux()
	mux.Handle(authz.ForwardAuthPath, authz.ForwardAuth(az, a.cfg.TrustedProxies, a.log))
	s := &authzServer{lis: lis, srv: newHTTPServer(mux)}
	watchCtx, cancel := context.WithCancel(context.Background())
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	go func() { defer close(done); az.Watch(watchCtx, hup, routesPollInterval) }()
	s.stop = func() { signal.Stop(hup); cancel(); <-done }
	go func() {
		if err := s.srv.Serve(lis); !errors.Is(err, http.ErrServerClosed) {
			a.errc <- err
		}
	}()
	a.authz = s
	a.log.Info("gateway authorizer serving", "authz_addr", lis.Addr().String(), "routes", a.cfg.AuthzRoutes)
	return nil
}

// shutdown drains the authorizer's requests and stops following the file.
func (s *authzServer) shutdown(ctx context.Context) error {
	defer s.stop()
	return s.srv.Shutdown(ctx)
}

// AuthzAddr is the bound address of the gateway authorizer, or "".
func (a *App) AuthzAddr() string {
	if a.authz == nil {
		return ""
	}
	return a.authz.lis.Addr().String()
}
