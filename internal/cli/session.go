package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/loopback"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// session is one command's connection to the server, made on first use.
type session struct {
	opts   commonOptions
	stdin  io.Reader // read by --password-stdin
	stdout io.Writer
	getenv func(string) string

	addr      string
	keySource string // where the API key came from, for error messages
	conn      *grpc.ClientConn
	rc        clientsv1.ClientRegistryServiceClient
}

// credentialsFile is the part of admin-credentials.json the CLI reads.
type credentialsFile struct {
	APIKey   string `json:"api_key"`
	GRPCAddr string `json:"grpc_addr"`
	// AdminAddr is the admin listener (serve --admin-addr): TLS, verified
	// with AdminCAFile (relative to the file) when that is set.
	AdminAddr   string `json:"admin_addr"`
	AdminCAFile string `json:"admin_ca_file"`
}

// registry returns the ClientRegistryService client, connecting first.
func (s *session) registry() (clientsv1.ClientRegistryServiceClient, error) {
	if s.rc != nil {
		return s.rc, nil
	}
	conn, err := s.connect()
	if err != nil {
		return nil, err
	}
	s.rc = clientsv1.NewClientRegistryServiceClient(conn)
	return s.rc, nil
}

// revocations returns the RevocationService client, connecting first.
func (s *session) revocations() (revocationv1.RevocationServiceClient, error) {
	conn, err := s.connect()
	if err != nil {
		return nil, err
	}
	return revocationv1.NewRevocationServiceClient(conn), nil
}

// connect dials the server once per session.
func (s *session) connect() (*grpc.ClientConn, error) {
	if s.conn != nil {
		return s.conn, nil
	}
	key, addr, err := s.resolve()
	if err != nil {
		return nil, err
	}
	transport, err := s.transport(addr)
	if err != nil {
		return nil, err
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(transport)}
	if key != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(apiKeyAuth(key)))
	}
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return nil, fmt.Errorf("server address %q: %w", addr, err)
	}
	s.addr, s.conn = addr, conn
	return conn, nil
}

// transport is TLS when asked for (--tls, --ca-file, --client-cert), and plain
// gRPC otherwise, which is allowed to a loopback address only: the admin
// key must not cross a network in clear.
func (s *session) transport(addr string) (credentials.TransportCredentials, error) {
	o := s.opts
	if !o.tls && o.caFile == "" && o.certFile == "" {
		host, _, err := net.SplitHostPort(addr)
		if err != nil || !loopback.Host(host) {
			return nil, fmt.Errorf("refusing to send the admin API key in plaintext to %s: pass --tls (and --ca-file for a private CA), or use a loopback address", addr)
		}
		return insecure.NewCredentials(), nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.caFile != "" {
		pem, err := os.ReadFile(o.caFile)
		if err != nil {
			return nil, fmt.Errorf("--ca-file: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca-file %s: no PEM certificate", o.caFile)
		}
	}
	if o.certFile != "" || o.keyFile != "" {
		cert, err := tls.LoadX509KeyPair(o.certFile, o.keyFile)
		if err != nil {
			return nil, fmt.Errorf("--client-cert/--client-key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return credentials.NewTLS(cfg), nil
}

// resolve finds the API key and server address: $GATEHOUSE_API_KEY and
// --server first, the credentials file for what they leave open. With
// --server and a client certificate, and no key, the certificate alone is
// the credential (an admin certificate from the platform CA).
func (s *session) resolve() (key, addr string, err error) {
	key = strings.TrimSpace(s.getenv(EnvAPIKey))
	addr = strings.TrimSpace(s.opts.server)
	s.keySource = "$" + EnvAPIKey
	if addr != "" && (key != "" || s.opts.certFile != "") {
		if key == "" {
			s.keySource = "the client certificate " + s.opts.certFile
		}
		return key, addr, nil
	}
	path := s.opts.credentials
	c, err := readCredentials(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && key == "":
		return "", "", fmt.Errorf("no API key: set %s, or point --credentials at the admin-credentials.json that 'gatehouse serve' wrote in its data directory (%s does not exist)", EnvAPIKey, path)
	case errors.Is(err, fs.ErrNotExist):
		return "", "", fmt.Errorf("no server address: pass --server host:port, or point --credentials at the admin-credentials.json that 'gatehouse serve' wrote (%s does not exist)", path)
	case err != nil:
		return "", "", err
	}
	if key == "" {
		key = strings.TrimSpace(c.APIKey)
		s.keySource = "the api_key in " + path
	}
	if addr == "" && strings.TrimSpace(c.AdminAddr) != "" {
		// The server keeps admin calls on its admin listener, which
		// speaks TLS only.
		addr = dialable(strings.TrimSpace(c.AdminAddr))
		s.opts.tls = true
		if s.opts.caFile == "" && c.AdminCAFile != "" {
			s.opts.caFile = c.AdminCAFile
			if !filepath.IsAbs(s.opts.caFile) {
				s.opts.caFile = filepath.Join(filepath.Dir(path), s.opts.caFile)
			}
		}
	}
	if addr == "" {
		addr = dialable(strings.TrimSpace(c.GRPCAddr))
	}
	if key == "" {
		return "", "", fmt.Errorf("no API key: set %s, or add api_key to %s", EnvAPIKey, path)
	}
	if addr == "" {
		return "", "", fmt.Errorf("no server address: pass --server host:port (%s has no grpc_addr)", path)
	}
	return key, addr, nil
}

func readCredentials(path string) (credentialsFile, error) {
	var c credentialsFile
	b, err := os.ReadFile(path) //nolint:gosec // the admin names the file on purpose
	if errors.Is(err, fs.ErrNotExist) {
		return c, err
	}
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is in the message already
		}
		return c, fmt.Errorf("read credentials file %s: %w", path, err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		// Not the decoder's message: it could quote part of the file.
		return c, fmt.Errorf("credentials file %s is not valid JSON", path)
	}
	return c, nil
}

// dialable turns a listen address on all interfaces (0.0.0.0:9090, [::]:9090,
// :9090) into the loopback address of the same port.
func dialable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	switch host {
	case "", "0.0.0.0":
		return net.JoinHostPort("127.0.0.1", port)
	case "::":
		return net.JoinHostPort("::1", port)
	}
	return addr
}

func (s *session) close() {
	if s.conn != nil {
		_ = s.conn.Close()
	}
}

// apiKeyAuth sends "authorization: ApiKey <key>" with every call.
type apiKeyAuth string

func (k apiKeyAuth) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "ApiKey " + string(k)}, nil
}

// RequireTransportSecurity is false: see the comment in registry.
func (apiKeyAuth) RequireTransportSecurity() bool { return false }

// rpcError is a failed call; what says what the command was doing.
type rpcError struct {
	what string
	err  error
}

func (e *rpcError) Error() string { return e.what + ": " + e.err.Error() }
func (e *rpcError) Unwrap() error { return e.err }

// invoke makes one registry call with the --timeout deadline.
func invoke[T any](ctx context.Context, s *session, what string, call func(context.Context, clientsv1.ClientRegistryServiceClient) (T, error)) (T, error) {
	return invokeOn(ctx, s, what, (*session).registry, call)
}

// invokeOn makes one call on the client that client returns, with the
// --timeout deadline.
func invokeOn[C, T any](ctx context.Context, s *session, what string, client func(*session) (C, error), call func(context.Context, C) (T, error)) (T, error) {
	var zero T
	c, err := client(s)
	if err != nil {
		return zero, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.timeout.d)
	defer cancel()
	resp, err := call(ctx, c)
	if err != nil {
		return zero, &rpcError{what: what, err: err}
	}
	return resp, nil
}

// describe renders an error as the one line the user sees: for a failed
// call, the status message and field violations, never Go types or codes
// the user cannot act on.
func (s *session) describe(err error) string {
	var re *rpcError
	if !errors.As(err, &re) {
		return err.Error()
	}
	st, ok := status.FromError(re.err)
	if !ok {
		return re.what + ": " + re.err.Error()
	}
	msg := st.Message()
	switch st.Code() {
	case codes.Unavailable:
		msg = fmt.Sprintf("cannot reach the Gatehouse server at %s (is it running? set the address with --server): %s", s.addr, msg)
	case codes.DeadlineExceeded:
		msg = fmt.Sprintf("no answer from %s within %s (raise --timeout?)", s.addr, formatDuration(s.opts.timeout.d))
	case codes.Canceled:
		msg = "canceled"
	case codes.Unauthenticated:
		msg = fmt.Sprintf("the server refused the API key: %s (check %s)", msg, s.keySource)
	case codes.PermissionDenied:
		msg = "permission denied: " + msg
	}
	for _, d := range st.Details() {
		br, ok := d.(*errdetails.BadRequest)
		if !ok {
			continue
		}
		for _, v := range br.GetFieldViolations() {
			text := v.GetField() + ": " + v.GetDescription()
			if !strings.Contains(msg, text) {
				msg += " (" + text + ")"
			}
		}
	}
	return re.what + ": " + msg
}
