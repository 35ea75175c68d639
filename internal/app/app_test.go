package app

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoregistry"
)

func startApp(t *testing.T) (*App, string) {
	t.Helper()
	cfg, err := config.Load([]string{"--data-dir", t.TempDir(), "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--mtls-addr", "127.0.0.1:0"}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	a, err := Start(context.Background(), cfg, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Shutdown)
	b, err := os.ReadFile(filepath.Join(cfg.DataDir, CredentialsFile))
	if err != nil {
		t.Fatal(err)
	}
	key := between(string(b), `"api_key": "`, `"`)
	if key == "" {
		t.Fatalf("no api_key in %s", CredentialsFile)
	}
	return a, key
}

func between(s, from, to string) string {
	_, after, ok := strings.Cut(s, from)
	if !ok {
		return ""
	}
	v, _, _ := strings.Cut(after, to)
	return v
}

// Every RPC of every Gatehouse contract carries an auth rule.
func TestEveryRPCHasAnAuthRule(t *testing.T) {
	rules, err := authn.RulesFromFiles(protoregistry.GlobalFiles)
	if err != nil {
		t.Fatal(err)
	}
	var ours []string
	if missing := rules.Missing(); len(missing) > 0 {
		t.Fatalf("RPCs without a (gatehouse.auth.v1.rule): %v", missing)
	}
	for _, m := range []string{
		clientsv1.ClientRegistryService_CreateClient_FullMethodName,
		clientsv1.ClientRegistryService_VerifyAPIKey_FullMethodName,
		"/gatehouse.keys.v1.KeyManagementService/GetJWKS",
		"/gatehouse.revocation.v1.RevocationService/Revoke",
		"/gatehouse.token.v1.TokenService/Introspect",
	} {
		if _, ok := rules.Lookup(m); !ok {
			ours = append(ours, m)
		}
	}
	if len(ours) > 0 {
		t.Fatalf("no rule found for %v", ours)
	}
}

func TestLimits(t *testing.T) {
	a, key := startApp(t)
	base := "http://" + a.HTTPAddr()

	t.Run("body over the limit is 413", func(t *testing.T) {
		body := strings.NewReader(`{"name":"` + strings.Repeat("a", maxBodyBytes) + `"}`)
		req, _ := http.NewRequestWithContext(context.Background(), "POST", base+"/v1/scopes", body)
		req.Header.Set("Authorization", "ApiKey "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d, want 413", resp.StatusCode)
		}
	})
	t.Run("header block over the limit is 431", func(t *testing.T) {
		req, _ := http.NewRequestWithContext(context.Background(), "GET", base+"/v1/scopes", nil)
		req.Header.Set("X-Filler", strings.Repeat("a", 2*maxHeaderBytes))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("status %d, want 431", resp.StatusCode)
		}
	})
	t.Run("REST without a credential is 401", func(t *testing.T) {
		resp, err := http.Get(base + "/v1/clients") //nolint:noctx // test
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != `Bearer realm="gatehouse"` {
			t.Fatalf("status %d, challenge %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
		}
	})
	t.Run("gRPC message over the limit is ResourceExhausted", func(t *testing.T) {
		conn, err := grpc.NewClient(a.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "ApiKey "+key)
		_, err = clientsv1.NewClientRegistryServiceClient(conn).CreateScope(ctx, &clientsv1.CreateScopeRequest{
			Scope: &clientsv1.Scope{Name: "big", Description: strings.Repeat("a", maxRecvMsgSize)},
		})
		if status.Code(err) != codes.ResourceExhausted {
			t.Fatalf("err %v, want ResourceExhausted", err)
		}
	})
	t.Run("readiness", func(t *testing.T) {
		resp, err := http.Get(base + "/readyz") //nolint:noctx // test
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("/readyz %d", resp.StatusCode)
		}
	})
}
