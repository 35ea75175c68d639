package keys_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/jackc/pgx/v5/pgconn"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/durationpb"

	authv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/auth/v1"
	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	keysv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/keys/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"github.com/gatehouse-dev/gatehouse/services/keys"
)

func parsePEMCert(t *testing.T, b []byte) *x509.Certificate {
	t.Helper()
	block, rest := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" || len(bytes.TrimSpace(rest)) != 0 {
		t.Fatalf("want exactly one PEM certificate, got %q", b)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestServerPlatformCA(t *testing.T) {
	stores, _ := openSQLite(t, 1)
	clock := newClock()
	logs := &logBuffer{}
	m := newManager(t, stores[0], newKEK(t), testOptions(clock, keys.WithLogger(logs.logger()))...)
	start(t, m)
	srv := keys.NewServer(m)
	ctx := t.Context()
	ca := mustCA(t, m)

	t.Run("GetPlatformCA returns the CA", func(t *testing.T) {
		resp, err := srv.GetPlatformCA(ctx, &keysv1.GetPlatformCARequest{})
		if err != nil {
			t.Fatal(err)
		}
		if got := parsePEMCert(t, resp.GetCertificatePem()); !got.Equal(ca) {
			t.Error("not the CA certificate")
		}
		if resp.GetSerial() != strings.ToLower(ca.SerialNumber.Text(16)) || !resp.GetExpireTime().AsTime().Equal(ca.NotAfter) {
			t.Errorf("serial %s expire %v", resp.GetSerial(), resp.GetExpireTime().AsTime())
		}
	})

	var serial string
	t.Run("IssueClientCertificate", func(t *testing.T) {
		resp, err := srv.IssueClientCertificate(ctx, &keysv1.IssueClientCertificateRequest{
			ClientId: "c_grpc", CsrPem: csrPEM(t, testKey(t, "p256"), nil), Validity: durationpb.New(7 * day),
		})
		if err != nil {
			t.Fatal(err)
		}
		cert := parsePEMCert(t, resp.GetCertificatePem())
		if got := parsePEMCert(t, resp.GetCaCertificatePem()); !got.Equal(ca) {
			t.Error("ca_certificate_pem is not the CA")
		}
		pool, _ := m.CAPool(ctx)
		if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: clock.Now(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("does not verify: %v", err)
		}
		serial = resp.GetSerial()
		if serial != strings.ToLower(cert.SerialNumber.Text(16)) || resp.GetThumbprint() != authn.CertThumbprint(cert) ||
			!resp.GetExpireTime().AsTime().Equal(cert.NotAfter) || !resp.GetStartTime().AsTime().Equal(cert.NotBefore) {
			t.Errorf("response %v does not describe the certificate", resp)
		}
		if want := clock.Now().Add(7 * day).Truncate(time.Second); !cert.NotAfter.Equal(want) {
			t.Errorf("NotAfter %v, want %v", cert.NotAfter, want)
		}
	})

	t.Run("no validity is 90 days, more is capped", func(t *testing.T) {
		for _, v := range []*durationpb.Duration{nil, durationpb.New(400 * day)} {
			resp, err := srv.IssueClientCertificate(ctx, &keysv1.IssueClientCertificateRequest{ClientId: "c_grpc", CsrPem: csrPEM(t, testKey(t, "p256"), nil), Validity: v})
			if err != nil {
				t.Fatal(err)
			}
			if got := resp.GetExpireTime().AsTime().Sub(clock.Now().Truncate(time.Second)); got != 90*day {
				t.Errorf("validity %v: valid %v", v.AsDuration(), got)
			}
		}
	})

	t.Run("ListClientCertificates", func(t *testing.T) {
		resp, err := srv.ListClientCertificates(ctx, &keysv1.ListClientCertificatesRequest{ClientId: "c_grpc"})
		if err != nil {
			t.Fatal(err)
		}
		certs := resp.GetCertificates()
		if len(certs) != 3 {
			t.Fatalf("%d certificates, want 3", len(certs))
		}
		found := false
		for _, c := range certs {
			pc := parsePEMCert(t, c.GetCertificatePem())
			if c.GetClientId() != "c_grpc" || c.GetSerial() != strings.ToLower(pc.SerialNumber.Text(16)) || c.GetThumbprint() != authn.CertThumbprint(pc) ||
				!c.GetStartTime().AsTime().Equal(pc.NotBefore) || !c.GetExpireTime().AsTime().Equal(pc.NotAfter) {
				t.Errorf("listed %v does not describe its certificate", c)
			}
			found = found || c.GetSerial() == serial
		}
		if !found {
			t.Errorf("serial %s not listed", serial)
		}
		empty, err := srv.ListClientCertificates(ctx, &keysv1.ListClientCertificatesRequest{ClientId: "c_none"})
		if err != nil || len(empty.GetCertificates()) != 0 {
			t.Errorf("list of a client without certificates: %v, %v", empty, err)
		}
	})

	refusals := []struct {
		name string
		req  *keysv1.IssueClientCertificateRequest
		want string
	}{
		{"no client_id", &keysv1.IssueClientCertificateRequest{CsrPem: csrPEM(t, testKey(t, "p256"), nil)}, "client_id: empty"},
		{"client_id with a slash", &keysv1.IssueClientCertificateRequest{ClientId: "c/x", CsrPem: csrPEM(t, testKey(t, "p256"), nil)}, "client_id: only letters"},
		{"no CSR", &keysv1.IssueClientCertificateRequest{ClientId: "c_grpc"}, "csr_pem: empty"},
		{"weak key", &keysv1.IssueClientCertificateRequest{ClientId: "c_grpc", CsrPem: csrPEM(t, testKey(t, "rsa1024"), nil)}, "csr_pem: RSA key of 1024 bits is too weak"},
		{"DNS SAN", &keysv1.IssueClientCertificateRequest{ClientId: "c_grpc", CsrPem: csrPEM(t, testKey(t, "p256"), &x509.CertificateRequest{DNSNames: []string{"x.example"}})}, "csr_pem: it asks for subject alternative names (DNS names)"},
		{"negative validity", &keysv1.IssueClientCertificateRequest{ClientId: "c_grpc", CsrPem: csrPEM(t, testKey(t, "p256"), nil), Validity: durationpb.New(-time.Hour)}, "validity: must be a positive duration"},
		{"zero validity", &keysv1.IssueClientCertificateRequest{ClientId: "c_grpc", CsrPem: csrPEM(t, testKey(t, "p256"), nil), Validity: durationpb.New(0)}, "validity: must be a positive duration"},
	}
	for _, tt := range refusals {
		t.Run("IssueClientCertificate refuses "+tt.name, func(t *testing.T) {
			_, err := srv.IssueClientCertificate(ctx, tt.req)
			assertCode(t, err, codes.InvalidArgument)
			if msg := status.Convert(err).Message(); !strings.Contains(msg, tt.want) {
				t.Errorf("message %q, want %q", msg, tt.want)
			}
		})
	}
	t.Run("ListClientCertificates refuses an empty client_id", func(t *testing.T) {
		_, err := srv.ListClientCertificates(ctx, &keysv1.ListClientCertificatesRequest{})
		assertCode(t, err, codes.InvalidArgument)
	})

	if strings.Contains(logs.String(), "PRIVATE KEY") {
		t.Error("a private key was logged")
	}
}

func TestServerWithoutCA(t *testing.T) {
	m := newManager(t, &memStore{}, newKEK(t), testOptions(newClock())...)
	start(t, m)
	srv := keys.NewServer(m)
	ctx := t.Context()
	_, err := srv.GetPlatformCA(ctx, &keysv1.GetPlatformCARequest{})
	assertCode(t, err, codes.Unimplemented)
	_, err = srv.IssueClientCertificate(ctx, &keysv1.IssueClientCertificateRequest{ClientId: "c_x", CsrPem: csrPEM(t, testKey(t, "p256"), nil)})
	assertCode(t, err, codes.Unimplemented)
	_, err = srv.ListClientCertificates(ctx, &keysv1.ListClientCertificatesRequest{ClientId: "c_x"})
	assertCode(t, err, codes.Unimplemented)
}

// TestCAAuthRules: the CA certificate is public, issuing and listing are
// for admins.
func TestCAAuthRules(t *testing.T) {
	svc := keysv1.File_gatehouse_keys_v1_keys_proto.Services().ByName("KeyManagementService")
	rule := func(name protoreflect.Name) *authv1.AuthRule {
		md := svc.Methods().ByName(name)
		if md == nil {
			t.Fatalf("no method %s", name)
		}
		r, _ := proto.GetExtension(md.Options(), authv1.E_Rule).(*authv1.AuthRule)
		if r == nil {
			t.Fatalf("%s has no auth rule", name)
		}
		return r
	}
	if r := rule("GetPlatformCA"); !r.GetPublic() || len(r.GetScopes()) != 0 {
		t.Errorf("GetPlatformCA rule %v, want public", r)
	}
	for _, name := range []protoreflect.Name{"IssueClientCertificate", "ListClientCertificates"} {
		if r := rule(name); r.GetPublic() || len(r.GetScopes()) != 1 || r.GetScopes()[0] != "gatehouse:admin" {
			t.Errorf("%s rule %v, want gatehouse:admin", name, r)
		}
	}
}

// TestCARESTRoutes: the gateway routes of gateway.yaml reach the server.
func TestCARESTRoutes(t *testing.T) {
	stores, _ := openSQLite(t, 1)
	m := newManager(t, stores[0], newKEK(t), testOptions(newClock())...)
	start(t, m)
	mux := runtime.NewServeMux(runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.JSONPb{MarshalOptions: protojson.MarshalOptions{UseProtoNames: true}}))
	if err := keysv1.RegisterKeyManagementServiceHandlerServer(t.Context(), mux, keys.NewServer(m)); err != nil {
		t.Fatal(err)
	}
	call := func(method, path, body string) map[string]any {
		t.Helper()
		rec := httptest.NewRecorder()
		req := httptest.NewRequestWithContext(t.Context(), method, path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		mux.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("%s %s: %d %s", method, path, rec.Code, rec.Body)
		}
		var out map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	b64 := func(v any) []byte {
		s, _ := v.(string)
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			t.Fatalf("%v is not base64: %v", v, err)
		}
		return b
	}

	ca := call("GET", "/v1/ca", "")
	if got := parsePEMCert(t, b64(ca["certificate_pem"])); !got.Equal(mustCA(t, m)) {
		t.Error("GET /v1/ca is not the CA")
	}
	body, _ := json.Marshal(map[string]any{"csr_pem": csrPEM(t, testKey(t, "p256"), nil), "validity": "86400s"})
	issued := call("POST", "/v1/clients/c_rest/certificates", string(body))
	if issued["serial"] == "" || issued["thumbprint"] == "" {
		t.Fatalf("POST issued %v", issued)
	}
	list := call("GET", "/v1/clients/c_rest/certificates", "")
	certs, _ := list["certificates"].([]any)
	if len(certs) != 1 || certs[0].(map[string]any)["serial"] != issued["serial"] {
		t.Fatalf("GET list %v, want the issued certificate", list)
	}
}

// registryStub answers GetClient from a map; a missing id is NotFound.
type registryStub map[string]*clientsv1.Client

func (r registryStub) GetClient(_ context.Context, req *clientsv1.GetClientRequest) (*clientsv1.GetClientResponse, error) {
	if req.GetClientId() == "down" {
		return nil, status.Error(codes.Unavailable, "registry down")
	}
	c, ok := r[req.GetClientId()]
	if !ok {
		return nil, status.Error(codes.NotFound, "no such client")
	}
	return &clientsv1.GetClientResponse{Client: c}, nil
}

// TestServerIssueChecksClient: with the registry at hand, the CA certifies
// only a registered, enabled client, since the certificate becomes that
// client's credential.
func TestServerIssueChecksClient(t *testing.T) {
	stores, _ := openSQLite(t, 1)
	m := newManager(t, stores[0], newKEK(t), testOptions(newClock())...)
	start(t, m)
	srv := keys.NewServer(m, keys.WithClients(registryStub{
		"c_live": {ClientId: "c_live"},
		"c_off":  {ClientId: "c_off", Disabled: true},
	}))
	tests := []struct {
		client string
		want   codes.Code
	}{
		{"c_live", codes.OK},
		{"c_missing", codes.NotFound},
		{"c_off", codes.FailedPrecondition},
		{"down", codes.Unavailable},
		{"", codes.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.client, func(t *testing.T) {
			_, err := srv.IssueClientCertificate(t.Context(), &keysv1.IssueClientCertificateRequest{
				ClientId: tt.client, CsrPem: csrPEM(t, testKey(t, "p256"), nil),
			})
			if status.Code(err) != tt.want {
				t.Fatalf("IssueClientCertificate(%q): %v, want %s", tt.client, err, tt.want)
			}
		})
	}
}

// unreachableKeys fails List with err once set: a database that is away.
type unreachableKeys struct {
	keys.Store
	err *atomic.Pointer[error]
}

func (s unreachableKeys) List(ctx context.Context) ([]keys.Key, error) {
	if p := s.err.Load(); p != nil {
		return nil, *p
	}
	return s.Store.List(ctx)
}

// TestServerStoreUnavailable: a store that cannot be reached is
// Unavailable at the API (callers retry, REST answers 503); any other
// store failure stays Internal.
func TestServerStoreUnavailable(t *testing.T) {
	stores, _ := openSQLite(t, 1)
	var fail atomic.Pointer[error]
	m := newManager(t, unreachableKeys{stores[0], &fail}, newKEK(t), testOptions(newClock())...)
	start(t, m)
	srv := keys.NewServer(m)
	tests := []struct {
		name string
		err  error
		want codes.Code
	}{
		{"connection dropped", fmt.Errorf("keys: list: %w", io.ErrUnexpectedEOF), codes.Unavailable},
		{"connection refused", &pgconn.ConnectError{}, codes.Unavailable},
		{"server shutting down", &pgconn.PgError{Code: "57P01"}, codes.Unavailable},
		{"a bug", errors.New("keys: scan: unexpected column"), codes.Internal},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fail.Store(&tc.err)
			defer fail.Store(nil)
			if _, err := srv.ListKeys(t.Context(), &keysv1.ListKeysRequest{}); status.Code(err) != tc.want {
				t.Fatalf("ListKeys: %v, want %v", err, tc.want)
			}
		})
	}
}
