package app

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"strings"
	"time"

	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/mtls"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
)

// mtlsListener is the partners' TLS listener: gRPC and HTTPS on one port,
// with client certificates (RFC 8705).
type mtlsListener struct {
	lis   net.Listener
	trust *mtls.Trust
	// platform holds the platform CA alone (nil in `serve clients`): a
	// certificate it issued names its client.
	platform *x509.CertPool
	cert     tls.Certificate
	srv      *http.Server
}

// platformCA is the key service's CA: it issues partners' certificates
// and the listener's own.
type platformCA interface {
	CAPool(ctx context.Context) (*x509.CertPool, error)
	ServerCertificate(ctx context.Context, hosts []string) (tls.Certificate, error)
}

// listenMTLS binds the listener and prepares its trust: the platform CA
// (when this process runs the key service) and --tls-client-ca. Serving
// starts once the handlers exist (serve).
func listenMTLS(ctx context.Context, cfg *config.Config, log *slog.Logger, revoked authn.RevocationChecker, ca platformCA) (*mtlsListener, error) {
	return listenTLS(ctx, "mtls-addr", cfg.MTLSAddr, cfg, log, revoked, ca)
}

// listenTLS binds a TLS listener (the mTLS one, or the admin one) on
// addr, named by its option in errors and logs.
func listenTLS(ctx context.Context, option, addr string, cfg *config.Config, log *slog.Logger, revoked authn.RevocationChecker, ca platformCA) (*mtlsListener, error) {
	var lc net.ListenConfig
	lis, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s %s: %w", option, addr, err)
	}
	m := &mtlsListener{lis: lis}
	fail := func(err error) (*mtlsListener, error) {
		_ = lis.Close()
		return nil, err
	}
	pool := x509.NewCertPool()
	if ca != nil {
		if m.platform, err = ca.CAPool(ctx); err != nil {
			return fail(fmt.Errorf("platform CA: %w", err))
		}
		pool = m.platform.Clone()
	} else if cfg.PeerCAFile != "" {
		// A split service trusts the platform CA it was given, for the
		// partners' certificates as for its peers'.
		m.platform = x509.NewCertPool()
		if err := mtls.AppendCertsFile(m.platform, cfg.PeerCAFile); err != nil {
			return fail(fmt.Errorf("peer-ca: %w", err))
		}
		pool = m.platform.Clone()
	}
	if cfg.ClientCAFile != "" {
		if err := mtls.AppendCertsFile(pool, cfg.ClientCAFile); err != nil {
			return fail(fmt.Errorf("tls-client-ca: %w", err))
		}
	}
	// A certificate whose serial is in the revocation list fails the
	// handshake; so does any certificate while the list cannot answer.
	m.trust = mtls.NewTrust(pool, func(serial string) bool {
		r, err := revoked.CheckPrincipal(context.Background(), &authn.Principal{CertSerial: serial})
		return r || err != nil
	})
	switch {
	case cfg.TLSCertFile == "" && cfg.TLSKeyFile == "" && cfg.Service != "" && cfg.PeerCertFile != "":
		// A split service: its identity certificate, which the platform
		// CA issued for the names its peers reach it at.
		if m.cert, err = tls.LoadX509KeyPair(cfg.PeerCertFile, cfg.PeerKeyFile); err != nil {
			return fail(fmt.Errorf("peer-cert/peer-key: %w", err))
		}
	case cfg.TLSCertFile != "" && cfg.TLSKeyFile != "":
		if m.cert, err = tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile); err != nil {
			return fail(fmt.Errorf("tls-cert/tls-key: %w", err))
		}
	case cfg.TLSCertFile != "" || cfg.TLSKeyFile != "":
		return fail(errors.New("tls-cert and tls-key go together"))
	case ca != nil:
		// The embedded default: a server certificate from the platform
		// CA, which partners already trust (GET /v1/ca).
		if m.cert, err = ca.ServerCertificate(ctx, serverHosts(lis.Addr())); err != nil {
			return fail(fmt.Errorf("mTLS server certificate: %w", err))
		}
		log.Warn("the TLS listener uses a certificate issued at start by the platform CA; production should supply --tls-cert and --tls-key",
			strings.ReplaceAll(option, "-", "_"), lis.Addr().String())
	default:
		if m.cert, err = localServerCert(serverHosts(lis.Addr())); err != nil {
			return fail(err)
		}
		log.Warn("the TLS listener uses a self-signed certificate generated at start; production should supply --tls-cert and --tls-key",
			strings.ReplaceAll(option, "-", "_"), lis.Addr().String())
	}
	return m, nil
}

// localServerCert is a self-signed server certificate for hosts, valid 90
// days, for a process without the platform CA (serve clients).
func localServerCert(hosts []string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial, Subject: pkix.Name{CommonName: "gatehouse local"},
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(90 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("generate the mTLS server certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// serverHosts are the names the listener's certificate is for: the bound
// address, localhost and the loopback addresses.
func serverHosts(addr net.Addr) []string {
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if host, _, err := net.SplitHostPort(addr.String()); err == nil {
		if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() && !ip.IsLoopback() {
			hosts = append(hosts, host)
		}
	}
	return hosts
}

// base is the listener's https://host:port, for the metadata's aliases.
func (m *mtlsListener) base() string { return "https://" + m.lis.Addr().String() }

// serve starts serving: gRPC requests (HTTP/2 with an application/grpc
// content type) go to the gRPC server with its interceptors, the rest to
// the HTTP routes; both see the client certificate.
func (m *mtlsListener) serve(grpcSrv interface {
	ServeHTTP(http.ResponseWriter, *http.Request)
}, routes http.Handler, errc chan<- error) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
			grpcSrv.ServeHTTP(w, r)
			return
		}
		routes.ServeHTTP(w, r)
	})
	m.srv = newHTTPServer(h)
	limited := m.srv.Handler
	m.srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 2 && r.URL.Path == revocationv1.RevocationService_Watch_FullMethodName {
			// A Watch stream lasts as long as its follower: neither
			// the listener's read and write timeouts nor its in-flight
			// slots apply (the revocation service bounds the streams).
			rc := http.NewResponseController(w)
			_ = rc.SetReadDeadline(time.Time{})
			_ = rc.SetWriteDeadline(time.Time{})
			grpcSrv.ServeHTTP(w, r)
			return
		}
		limited.ServeHTTP(w, r)
	})
	m.srv.TLSConfig = mtls.ServerConfig(m.cert, m.trust)
	go func() {
		if err := m.srv.ServeTLS(m.lis, "", ""); !errors.Is(err, http.ErrServerClosed) {
			errc <- err
		}
	}()
}

func (m *mtlsListener) shutdown(ctx context.Context) error {
	if m.srv == nil {
		return m.lis.Close()
	}
	return m.srv.Shutdown(ctx)
}
