package app

import (
	"context"
	"log/slog"
	"testing"
	"time"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	eventsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/events/v1"
	keysv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/keys/v1"
	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"github.com/gatehouse-dev/gatehouse/pkg/revlist"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// apiKeyCredentials sends an API key with every call.
type apiKeyCredentials string

func (k apiKeyCredentials) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "ApiKey " + string(k)}, nil
}

func (apiKeyCredentials) RequireTransportSecurity() bool { return false }

// An outside service without NATS follows the all-in-one process's list
// over Watch: a revocation and a key rotation reach it, and the process
// shuts down promptly with its stream open.
func TestWatchFromTheAllInOneProcess(t *testing.T) {
	a, admin := startApp(t)
	conn, err := grpc.NewClient(a.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "ApiKey "+admin)
	registry := clientsv1.NewClientRegistryServiceClient(conn)
	c, err := registry.CreateClient(ctx, &clientsv1.CreateClientRequest{Client: &clientsv1.Client{
		Name: "resource service", Type: clientsv1.ClientType_CLIENT_TYPE_FIRST_PARTY,
		GrantTypes: []string{"client_credentials"}, Scopes: []string{"gatehouse:internal"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	key, err := registry.CreateAPIKey(ctx, &clientsv1.CreateAPIKeyRequest{ClientId: c.GetClient().GetClientId(), Scopes: []string{"gatehouse:internal"}})
	if err != nil {
		t.Fatal(err)
	}

	keyEvents := make(chan *eventsv1.KeyRotated, 64)
	src := revlist.ClientSource(revocationv1.NewRevocationServiceClient(conn), grpc.PerRPCCredentials(apiKeyCredentials(key.GetApiKey())))
	fl := revlist.NewFollower(src, nil, revlist.WithResyncInterval(time.Hour), revlist.WithLogger(slog.New(slog.DiscardHandler)), revlist.WithOnKeyEvent(func(ev *eventsv1.KeyRotated) {
		select {
		case keyEvents <- ev:
		default:
		}
	}))
	if err := fl.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer fl.Close()
	waitCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := fl.WaitReady(waitCtx); err != nil {
		t.Fatal(err)
	}
	nextKeyEvent := func(want func(*eventsv1.KeyRotated) bool) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for {
			select {
			case ev := <-keyEvents:
				if want(ev) {
					return
				}
			case <-deadline:
				t.Fatal("no such key event")
			}
		}
	}
	nextKeyEvent(func(ev *eventsv1.KeyRotated) bool { return ev == nil })

	if _, err := revocationv1.NewRevocationServiceClient(conn).Revoke(ctx, &revocationv1.RevokeRequest{
		Kind: revocationv1.Kind_KIND_ACCESS_TOKEN, Id: "jti-watched", Reason: "test",
		ExpireTime: timestamppb.New(time.Now().Add(time.Hour)),
	}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if revoked, err := fl.CheckPrincipal(context.Background(), &authn.Principal{TokenID: "jti-watched"}); err == nil && revoked {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the revocation did not reach the follower")
		}
		time.Sleep(5 * time.Millisecond)
	}

	rotated, err := keysv1.NewKeyManagementServiceClient(conn).RotateKeys(ctx, &keysv1.RotateKeysRequest{})
	if err != nil {
		t.Fatal(err)
	}
	nextKeyEvent(func(ev *eventsv1.KeyRotated) bool { return ev.GetKid() == rotated.GetKey().GetKid() })

	if !fl.Stats().Watching || a.revs.svc.Watches() != 1 {
		t.Fatalf("watching %v, open streams %d", fl.Stats().Watching, a.revs.svc.Watches())
	}
	began := time.Now()
	a.Shutdown()
	if took := time.Since(began); took > a.cfg.ShutdownTimeout/2 {
		t.Fatalf("shutdown took %v with a stream open (timeout %v)", took, a.cfg.ShutdownTimeout)
	}
}
