package audit

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	auditv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/audit/v1"
	authv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/auth/v1"
	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	keysv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/keys/v1"
	usersv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/users/v1"
	pkgaudit "github.com/gatehouse-dev/gatehouse/pkg/audit"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

func TestMutates(t *testing.T) {
	for _, tc := range []struct {
		method string
		want   bool
	}{
		{"/gatehouse.clients.v1.ClientRegistryService/CreateClient", true},
		{"/gatehouse.clients.v1.ClientRegistryService/RotateAPIKey", true},
		{"/gatehouse.keys.v1.KeyManagementService/IssueClientCertificate", true},
		{"/gatehouse.users.v1.UserService/SetPassword", true},
		{"/gatehouse.revocation.v1.RevocationService/Revoke", true},
		{"/gatehouse.clients.v1.ClientRegistryService/GetClient", false},
		{"/gatehouse.clients.v1.ClientRegistryService/ListClients", false},
		{"/gatehouse.revocation.v1.RevocationService/Head", false},
		{"/gatehouse.audit.v1.AuditService/ListAdminActions", false},
	} {
		t.Run(tc.method, func(t *testing.T) {
			if got := Mutates(tc.method); got != tc.want {
				t.Fatalf("Mutates = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestRequiresAdmin(t *testing.T) {
	for _, tc := range []struct {
		name string
		rule *authv1.AuthRule
		want bool
	}{
		{"admin", authn.Scopes(AdminScope), true},
		{"admin as alternative", authn.AnyOf([]string{"gatehouse:internal.revoke"}, []string{AdminScope}), true},
		{"other scope", authn.Scopes("gatehouse:internal"), false},
		{"public", authn.Public(), false},
		{"none", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := RequiresAdmin(tc.rule); got != tc.want {
				t.Fatalf("RequiresAdmin = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestTargets(t *testing.T) {
	for _, tc := range []struct {
		name      string
		req, resp any
		want      []string
	}{
		{"ids of request and response, secrets left out",
			&clientsv1.CreateAPIKeyRequest{ClientId: "c_1", Description: "worker"},
			&clientsv1.CreateAPIKeyResponse{ApiKey: "gth_secret", Key: &clientsv1.APIKey{KeyId: "k_1", ClientId: "c_1"}},
			[]string{"client_id=c_1", "key_id=k_1"}},
		{"client secret and name left out",
			nil, &clientsv1.CreateClientResponse{Client: &clientsv1.Client{ClientId: "c_2", Name: "Shop"}, ClientSecret: "s3cret"},
			[]string{"client_id=c_2"}},
		{"a scope's name is its id",
			&clientsv1.CreateScopeRequest{Scope: &clientsv1.Scope{Name: "orders:read", Description: "d"}}, nil,
			[]string{"name=orders:read"}},
		{"password and personal data left out",
			&usersv1.CreateUserRequest{Email: "a@example.com", Password: "hunter2hunter2", Name: "Ann"},
			&usersv1.CreateUserResponse{User: &usersv1.User{UserId: "u_1", Email: "a@example.com"}},
			[]string{"user_id=u_1"}},
		{"kid", &keysv1.RotateKeysRequest{CompromisedKid: "old"}, &keysv1.RotateKeysResponse{Key: &keysv1.SigningKey{Kid: "new"}},
			[]string{"compromised_kid=old", "kid=new"}},
		{"nothing", nil, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Targets(tc.req, tc.resp); !slices.Equal(got, tc.want) {
				t.Fatalf("Targets = %v, want %v", got, tc.want)
			}
		})
	}
}

// memStore is an audit.Store in memory that can be made to fail.
type memStore struct {
	mu         sync.Mutex
	recs       []Record
	failAppend bool
	failFinish bool
}

func (m *memStore) Append(_ context.Context, r Record) (Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failAppend {
		return Record{}, errors.New("store down")
	}
	r.Seq = int64(len(m.recs) + 1)
	m.recs = append(m.recs, r)
	return r, nil
}

func (m *memStore) Finish(_ context.Context, seq int64, outcome, reason string, targets []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failFinish {
		return errors.New("store down")
	}
	r := &m.recs[seq-1]
	if r.Outcome != OutcomePending {
		return ErrNotFound
	}
	r.Outcome, r.Reason, r.Targets = outcome, reason, append(r.Targets, targets...)
	return nil
}

func (m *memStore) List(_ context.Context, f Filter) ([]Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Record
	for i := len(m.recs) - 1; i >= 0 && len(out) < f.Limit; i-- {
		if f.Before == 0 || m.recs[i].Seq < f.Before {
			out = append(out, m.recs[i])
		}
	}
	return out, nil
}

func (m *memStore) Purge(_ context.Context, cutoff time.Time, limit int) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var n int64
	kept := m.recs[:0]
	for _, r := range m.recs {
		if r.At.Before(cutoff) && n < int64(limit) {
			n++
			continue
		}
		kept = append(kept, r)
	}
	m.recs = kept
	return n, nil
}

type ruleMap map[string]*authv1.AuthRule

func (r ruleMap) Lookup(m string) (*authv1.AuthRule, bool) { rule, ok := r[m]; return rule, ok }

const (
	createClient = "/gatehouse.clients.v1.ClientRegistryService/CreateClient"
	getClient    = "/gatehouse.clients.v1.ClientRegistryService/GetClient"
)

// chain runs outer, a stand-in validator and inner around h, as the
// server's interceptor chain does.
func chain(rec *Recorder, refuse error, p *authn.Principal, method string, h grpc.UnaryHandler) (any, error) {
	info := &grpc.UnaryServerInfo{FullMethod: method}
	tap := TapFailures(nopFailures{})
	ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("x-request-id", "r-1"))
	return rec.Outer()(ctx, &clientsv1.CreateClientRequest{}, info, func(ctx context.Context, req any) (any, error) {
		if refuse != nil {
			tap.RecordFailure(ctx, pkgaudit.Failure{Reason: pkgaudit.Reason("insufficient_scope"), ClientID: "c_low", Remote: "192.0.2.9"})
			return nil, refuse
		}
		return rec.Inner()(authn.NewContext(ctx, p), req, info, h)
	})
}

type nopFailures struct{}

func (nopFailures) RecordFailure(context.Context, pkgaudit.Failure) {}

func TestRecorder(t *testing.T) {
	rules := ruleMap{createClient: authn.Scopes(AdminScope), getClient: authn.Scopes(AdminScope)}
	admin := &authn.Principal{ClientID: "gatehouse-admin", KeyID: "k_admin", Kind: authv1.CredentialKind_CREDENTIAL_KIND_API_KEY}
	created := func(context.Context, any) (any, error) {
		return &clientsv1.CreateClientResponse{Client: &clientsv1.Client{ClientId: "c_new"}, ClientSecret: "s3cret"}, nil
	}
	for _, tc := range []struct {
		name        string
		method      string
		store       *memStore
		refuse      error
		handler     grpc.UnaryHandler
		wantCode    codes.Code
		wantRecords int
		wantOutcome string
		wantActor   string
		wantRan     bool
	}{
		{"ok", createClient, &memStore{}, nil, created, codes.OK, 1, OutcomeOK, "gatehouse-admin", true},
		{"handler refuses", createClient, &memStore{}, nil,
			func(context.Context, any) (any, error) { return nil, status.Error(codes.AlreadyExists, "exists") },
			codes.AlreadyExists, 1, "AlreadyExists", "gatehouse-admin", true},
		{"validator refuses", createClient, &memStore{}, status.Error(codes.PermissionDenied, "no"), created,
			codes.PermissionDenied, 1, "PermissionDenied", "c_low", false},
		{"store down: the change is refused", createClient, &memStore{failAppend: true}, nil, created,
			codes.Unavailable, 0, "", "", false},
		{"outcome not stored: the record stays pending", createClient, &memStore{failFinish: true}, nil, created,
			codes.OK, 1, OutcomePending, "gatehouse-admin", true},
		{"reads are not recorded", getClient, &memStore{}, nil, created, codes.OK, 0, "", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := NewRecorder(tc.store, rules, slog.New(slog.NewTextHandler(io.Discard, nil)), "all")
			ran := false
			_, err := chain(rec, tc.refuse, admin, tc.method, func(ctx context.Context, req any) (any, error) {
				ran = true
				return tc.handler(ctx, req)
			})
			if status.Code(err) != tc.wantCode || ran != tc.wantRan {
				t.Fatalf("err %v (ran %v), want %v (ran %v)", err, ran, tc.wantCode, tc.wantRan)
			}
			if len(tc.store.recs) != tc.wantRecords {
				t.Fatalf("%d records, want %d: %+v", len(tc.store.recs), tc.wantRecords, tc.store.recs)
			}
			if tc.wantRecords == 0 {
				return
			}
			r := tc.store.recs[0]
			if r.Outcome != tc.wantOutcome || r.ActorClientID != tc.wantActor || r.RequestID != "r-1" || r.Action != tc.method {
				t.Fatalf("record %+v", r)
			}
			if tc.wantOutcome == OutcomeOK && !slices.Contains(r.Targets, "client_id=c_new") {
				t.Fatalf("targets %v: the created client is missing", r.Targets)
			}
		})
	}
}

func TestListAdminActionsPages(t *testing.T) {
	st := &memStore{}
	for range 5 {
		if _, err := st.Append(context.Background(), Record{Action: "/x/CreateClient", Outcome: OutcomeOK}); err != nil {
			t.Fatal(err)
		}
	}
	svc := NewService(st, slog.New(slog.NewTextHandler(io.Discard, nil)))
	var seqs []int64
	tok := ""
	for {
		resp, err := svc.ListAdminActions(context.Background(), &auditv1.ListAdminActionsRequest{PageSize: 2, PageToken: tok})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range resp.GetActions() {
			seqs = append(seqs, a.GetSeq())
		}
		if tok = resp.GetNextPageToken(); tok == "" {
			break
		}
	}
	if !slices.Equal(seqs, []int64{5, 4, 3, 2, 1}) {
		t.Fatalf("pages gave %v", seqs)
	}
	for _, tc := range []struct {
		name string
		req  *auditv1.ListAdminActionsRequest
	}{
		{"bad token", &auditv1.ListAdminActionsRequest{PageToken: "nonsense"}},
		{"negative size", &auditv1.ListAdminActionsRequest{PageSize: -1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := svc.ListAdminActions(context.Background(), tc.req); status.Code(err) != codes.InvalidArgument {
				t.Fatalf("err %v, want InvalidArgument", err)
			}
		})
	}
}

func TestPurgeInBatches(t *testing.T) {
	st := &memStore{}
	old := time.Now().Add(-48 * time.Hour)
	for range purgeBatch + 5 {
		if _, err := st.Append(context.Background(), Record{At: old, Outcome: OutcomeOK}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.Append(context.Background(), Record{At: time.Now(), Outcome: OutcomeOK}); err != nil {
		t.Fatal(err)
	}
	n, err := Purge(context.Background(), st, time.Now(), 24*time.Hour)
	if err != nil || n != purgeBatch+5 || len(st.recs) != 1 {
		t.Fatalf("Purge = %d, %v; %d left", n, err, len(st.recs))
	}
	stop := StartRetention(st, 24*time.Hour, time.Hour, slog.New(slog.NewTextHandler(io.Discard, nil)))
	stop()
}
