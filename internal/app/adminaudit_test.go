package app

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	auditv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/audit/v1"
	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	eventsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/events/v1"
	keysv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/keys/v1"
	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	usersv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/users/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/apikey"
	pkgaudit "github.com/gatehouse-dev/gatehouse/pkg/audit"
	"github.com/gatehouse-dev/gatehouse/pkg/requestid"
	"github.com/gatehouse-dev/gatehouse/services/audit"
	"github.com/gatehouse-dev/gatehouse/services/clients"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// Every admin RPC family leaves one record naming the admin's key and the
// ids it touched; reads leave none; refusals leave one too; and no record
// holds a secret the calls carried.
func TestAdminAuditTrail(t *testing.T) {
	a, key := startApp(t)
	conn, err := grpc.NewClient(a.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	admin, err := apikey.Parse(key)
	if err != nil {
		t.Fatal(err)
	}
	as := func(k string, reqID string) context.Context {
		return metadata.AppendToOutgoingContext(context.Background(), "authorization", "ApiKey "+k, "x-request-id", reqID)
	}
	ctx := as(key, "req-admin")
	sub, err := a.nc.SubscribeSync(pkgaudit.Subject)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := a.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	reg := clientsv1.NewClientRegistryServiceClient(conn)
	km := keysv1.NewKeyManagementServiceClient(conn)
	us := usersv1.NewUserServiceClient(conn)
	rv := revocationv1.NewRevocationServiceClient(conn)
	au := auditv1.NewAuditServiceClient(conn)

	must := func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(reg.CreateScope(ctx, &clientsv1.CreateScopeRequest{Scope: &clientsv1.Scope{Name: "audit:test"}}))
	must(reg.CreateScope(ctx, &clientsv1.CreateScopeRequest{Scope: &clientsv1.Scope{Name: "audit:spare"}}))
	c, err := reg.CreateClient(ctx, &clientsv1.CreateClientRequest{Client: &clientsv1.Client{
		Name: "audited", Type: clientsv1.ClientType_CLIENT_TYPE_FIRST_PARTY, GrantTypes: []string{"client_credentials"}, Scopes: []string{"audit:test"}}})
	if err != nil {
		t.Fatal(err)
	}
	cid := c.GetClient().GetClientId()
	k, err := reg.CreateAPIKey(ctx, &clientsv1.CreateAPIKeyRequest{ClientId: cid, Scopes: []string{"audit:test"}, Description: "worker"})
	if err != nil {
		t.Fatal(err)
	}
	kid := k.GetKey().GetKeyId()
	must(reg.GetClient(ctx, &clientsv1.GetClientRequest{ClientId: cid})) // a read: not recorded
	const password = "correct horse battery staple 42!"
	u, err := us.CreateUser(ctx, &usersv1.CreateUserRequest{Email: "audit@example.com", Password: password, Name: "Audit"})
	if err != nil {
		t.Fatal(err)
	}
	uid := u.GetUser().GetUserId()
	must(us.SetPassword(ctx, &usersv1.SetPasswordRequest{UserId: uid, Password: password + "?"}))
	rot, err := km.RotateKeys(ctx, &keysv1.RotateKeysRequest{})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := km.IssueClientCertificate(ctx, &keysv1.IssueClientCertificateRequest{ClientId: cid, CsrPem: testCSR(t)})
	if err != nil {
		t.Fatal(err)
	}
	// Refused: a key without gatehouse:admin (before its revocation), and
	// no credential at all (below).
	worker := as(k.GetApiKey(), "req-worker")
	if _, err := reg.DeleteClient(worker, &clientsv1.DeleteClientRequest{ClientId: "victim"}); err == nil {
		t.Fatal("a non-admin key deleted a client")
	}
	must(rv.Revoke(ctx, &revocationv1.RevokeRequest{Kind: revocationv1.Kind_KIND_API_KEY, Id: kid, Reason: "audit test"}))
	must(reg.DeleteScope(ctx, &clientsv1.DeleteScopeRequest{Name: "audit:spare"}))
	if _, err := reg.DeleteClient(context.Background(), &clientsv1.DeleteClientRequest{ClientId: "victim2"}); err == nil {
		t.Fatal("no credential deleted a client")
	}

	list, err := au.ListAdminActions(ctx, &auditv1.ListAdminActionsRequest{PageSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	byAction := map[string][]*eventsv1.AdminAction{}
	for _, r := range list.GetActions() {
		byAction[r.GetAction()[strings.LastIndexByte(r.GetAction(), '/')+1:]] = append(byAction[r.GetAction()[strings.LastIndexByte(r.GetAction(), '/')+1:]], r)
		j, _ := protojson.Marshal(r)
		for _, secret := range []string{key, admin.Secret, k.GetApiKey(), c.GetClientSecret(), password, string(cert.GetCertificatePem())} {
			if secret != "" && strings.Contains(string(j), secret) {
				t.Fatalf("record %s holds a secret", j)
			}
		}
	}
	tests := []struct {
		action  string
		target  string
		outcome string
		actor   string
		reqID   string
	}{
		{"CreateScope", "name=audit:test", "ok", clients.AdminClientID, "req-admin"},
		{"CreateClient", "client_id=" + cid, "ok", clients.AdminClientID, "req-admin"},
		{"CreateAPIKey", "key_id=" + kid, "ok", clients.AdminClientID, "req-admin"},
		{"CreateUser", "user_id=" + uid, "ok", clients.AdminClientID, "req-admin"},
		{"SetPassword", "user_id=" + uid, "ok", clients.AdminClientID, "req-admin"},
		{"RotateKeys", "kid=" + rot.GetKey().GetKid(), "ok", clients.AdminClientID, "req-admin"},
		{"IssueClientCertificate", "serial=" + cert.GetSerial(), "ok", clients.AdminClientID, "req-admin"},
		{"Revoke", "id=" + kid, "ok", clients.AdminClientID, "req-admin"},
		{"DeleteScope", "name=audit:spare", "ok", clients.AdminClientID, "req-admin"},
		{"DeleteClient", "client_id=victim", "PermissionDenied", cid, "req-worker"},
		{"DeleteClient", "client_id=victim2", "Unauthenticated", "", ""}, // "": one the server made
	}
	for _, tc := range tests {
		t.Run(tc.action, func(t *testing.T) {
			var found *eventsv1.AdminAction
			for _, r := range byAction[tc.action] {
				if slices.Contains(r.GetTargets(), tc.target) {
					found = r
				}
			}
			if found == nil {
				t.Fatalf("no record of %s naming %s in %v", tc.action, tc.target, byAction[tc.action])
			}
			if found.GetOutcome() != tc.outcome {
				t.Fatalf("outcome %q (%s), want %q", found.GetOutcome(), found.GetReason(), tc.outcome)
			}
			// A call that sent no id gets one from the server.
			if idOK := found.GetRequestId() == tc.reqID || tc.reqID == "" && requestid.Valid(found.GetRequestId()); found.GetActorClientId() != tc.actor || !idOK || found.GetSeq() == 0 || found.GetRemote() == "" {
				t.Fatalf("record %v: want actor %q, request id %q, a seq and a remote", found, tc.actor, tc.reqID)
			}
			if tc.actor == clients.AdminClientID && (found.GetActorKeyId() != admin.ID || found.GetActorKind() != "api_key" || found.GetActorKeyName() == "") {
				t.Fatalf("record %v: want the admin key %s with its name", found, admin.ID)
			}
		})
	}
	for _, read := range []string{"GetClient", "ListAdminActions"} {
		if len(byAction[read]) > 0 {
			t.Errorf("a read (%s) was recorded", read)
		}
	}
	t.Run("published on NATS", func(t *testing.T) {
		for {
			msg, err := sub.NextMsg(5 * time.Second)
			if err != nil {
				t.Fatalf("no AdminAction event: %v", err)
			}
			if msg.Header.Get(audit.EventHeader) != "gatehouse.events.v1.AdminAction" {
				continue // an AuthFailure
			}
			var ev eventsv1.AdminAction
			if err := proto.Unmarshal(msg.Data, &ev); err != nil {
				t.Fatal(err)
			}
			if ev.GetAction() != clientsv1.ClientRegistryService_CreateScope_FullMethodName || ev.GetOutcome() != "ok" || ev.GetSeq() == 0 {
				t.Fatalf("first event %v, want the CreateScope", &ev)
			}
			return
		}
	})
	t.Run("filters", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			req  *auditv1.ListAdminActionsRequest
			want int
		}{
			{"target", &auditv1.ListAdminActionsRequest{Target: uid}, 2},
			{"actor key", &auditv1.ListAdminActionsRequest{Actor: admin.ID, Target: kid}, 2},
			{"actor refused", &auditv1.ListAdminActionsRequest{Actor: cid}, 1},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := au.ListAdminActions(ctx, tc.req)
				if err != nil {
					t.Fatal(err)
				}
				if len(got.GetActions()) != tc.want {
					t.Fatalf("%d records, want %d: %v", len(got.GetActions()), tc.want, got.GetActions())
				}
			})
		}
	})
	t.Run("REST", func(t *testing.T) {
		base := "http://" + a.HTTPAddr()
		do := func(method, path, body string) (int, string) {
			req, _ := http.NewRequestWithContext(context.Background(), method, base+path, strings.NewReader(body))
			req.Header.Set("Authorization", "ApiKey "+key)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		if code, body := do("POST", "/v1/scopes", `{"name":"audit:rest"}`); code != http.StatusOK {
			t.Fatalf("POST /v1/scopes: %d %s", code, body)
		}
		code, body := do("GET", "/v1/audit?target=audit:rest", "")
		var got auditv1.ListAdminActionsResponse
		if code != http.StatusOK || protojson.Unmarshal([]byte(body), &got) != nil || len(got.GetActions()) != 1 {
			t.Fatalf("GET /v1/audit: %d %s", code, body)
		}
		// The caller's address, not the in-process gateway's.
		if r := got.GetActions()[0]; r.GetRemote() != "127.0.0.1" || r.GetActorKeyId() != admin.ID || r.GetOutcome() != "ok" {
			t.Fatalf("REST record %v", r)
		}
	})
	t.Run("non-admins cannot read it", func(t *testing.T) {
		if _, err := au.ListAdminActions(worker, &auditv1.ListAdminActionsRequest{}); err == nil {
			t.Fatal("a non-admin key read the trail")
		}
	})
}

func testCSR(t *testing.T) []byte {
	t.Helper()
	csr, _ := testCSRKey(t)
	return csr
}

// testCSRKey is a CSR and its private key.
func testCSRKey(t *testing.T) ([]byte, *ecdsa.PrivateKey) {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "audit"}}, priv)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), priv
}
