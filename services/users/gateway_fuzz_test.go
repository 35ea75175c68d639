package users_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	usersv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/users/v1"
	"github.com/gatehouse-dev/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-dev/gatehouse/internal/fuzzseed"
	"github.com/gatehouse-dev/gatehouse/internal/gatewaytest"
	"github.com/gatehouse-dev/gatehouse/services/users"
	"github.com/gatehouse-dev/gatehouse/services/users/sqlstore"
)

// userRoutes are the POST and PATCH routes of the users admin API ({user}
// stands for an existing user), with the message each body decodes into.
var userRoutes = []gatewaytest.Route{
	{Method: http.MethodPost, Path: "/v1/users", Body: func() proto.Message { return &usersv1.CreateUserRequest{} }},
	{Method: http.MethodPatch, Path: "/v1/users/{user}", Body: func() proto.Message { return &usersv1.User{} }},
	{Method: http.MethodPost, Path: "/v1/users/{user}:setPassword", Body: func() proto.Message { return &usersv1.SetPasswordRequest{} }},
}

// usersGatewaySeeds are the seeds of both users gateway targets: (route,
// user id for the path, "" for alice; body).
func usersGatewaySeeds() []fuzzseed.Seed {
	return []fuzzseed.Seed{
		{Name: "seed-create", Args: []any{uint(0), "", `{"email":"bob@example.test","password":"correct horse battery staple"}`}},
		{Name: "seed-create-short-password", Args: []any{uint(0), "", `{"email":"carol@example.test","password":"short"}`}},
		{Name: "seed-create-bad-email", Args: []any{uint(0), "", `{"email":"not an email","password":"correct horse battery staple"}`}},
		{Name: "seed-create-unicode-email", Args: []any{uint(0), "", `{"email":"J\u00f6rg@EXAMPLE.test ","password":"correct horse battery staple"}`}},
		{Name: "seed-create-nul-email", Args: []any{uint(0), "", `{"email":"a\u0000@example.test","password":"correct horse battery staple"}`}},
		{Name: "seed-create-profile", Args: []any{uint(0), "", `{"email":"dan@example.test","password":"correct horse battery staple","name":"Dan Brown","given_name":"Dan","family_name":"Brown","preferred_username":"dan","locale":"en-US","email_verified":true}`}},
		{Name: "seed-create-bad-locale", Args: []any{uint(0), "", `{"email":"erin@example.test","password":"correct horse battery staple","locale":"en_US"}`}},
		{Name: "seed-patch-disable", Args: []any{uint(1), "", `{"disabled":true}`}},
		{Name: "seed-patch-profile", Args: []any{uint(1), "", `{"name":"Alice \u00c5berg","locale":"sv-se","email_verified":true}`}},
		{Name: "seed-patch-nul-name", Args: []any{uint(1), "", `{"given_name":"a\u0000b"}`}},
		{Name: "seed-patch-long-username", Args: []any{uint(1), "", `{"preferred_username":"` + strings.Repeat("u", 200) + `"}`}},
		{Name: "seed-patch-email", Args: []any{uint(1), "", `{"email":"alice2@example.test"}`}},
		{Name: "seed-patch-immutable", Args: []any{uint(1), "", `{"user_id":"u_other","create_time":"2020-01-01T00:00:00Z"}`}},
		{Name: "seed-patch-password-field", Args: []any{uint(1), "", `{"password":"x"}`}},
		{Name: "seed-patch-unknown-user", Args: []any{uint(1), "u_nope", `{"disabled":true}`}},
		{Name: "seed-set-password", Args: []any{uint(2), "", `{"password":"another long enough password"}`}},
		{Name: "seed-set-password-nul", Args: []any{uint(2), "", `{"password":"long enough\u0000password"}`}},
		{Name: "seed-trailing-garbage", Args: []any{uint(2), "", `{"password":"another long enough password"}}`}},
		{Name: "seed-truncated", Args: []any{uint(0), "", `{"email":"bob@`}},
		{Name: "seed-wrong-type", Args: []any{uint(1), "", `{"disabled":"yes"}`}},
		{Name: "seed-invalid-utf8", Args: []any{uint(0), "", "{\"email\":\"\xc3(@example.test\",\"password\":\"correct horse battery staple\"}"}},
		{Name: "seed-bad-timestamp", Args: []any{uint(1), "", `{"update_time":"2020-13-40T00:00:00Z"}`}},
		{Name: "seed-huge-password", Args: []any{uint(2), "", `{"password":"` + strings.Repeat("p", 5000) + `"}`}},
		{Name: "seed-empty-body", Args: []any{uint(1), "", ``}},
		{Name: "seed-number-body", Args: []any{uint(0), "", `1e999`}},
		// Ids PostgreSQL cannot store, in the path. The second one is what
		// FuzzUsersGatewayJSONPostgres found in 20 s: a 500 before the
		// service refused impossible ids (storable.go).
		{Name: "seed-nul-path-id", Args: []any{uint(2), "u\x00x", `{"password":"another long enough password"}`}},
		{Name: "seed-found-nul-patch-path-id", Args: []any{uint(1), "\x00", `{"disabled":true}`}},
		{Name: "seed-invalid-utf8-path-id", Args: []any{uint(1), "\xff", `{"disabled":true}`}},
	}
}

// FuzzUsersGatewayJSON fuzzes the users admin API's POST and PATCH routes
// (route picks one of userRoutes; id, when not empty, replaces alice's id
// in the path) through the REST gateway, gRPC and the user service over
// SQLite (cheap argon2id parameters), built once (internal/gatewaytest:
// internal/app's ServeMux options, without the authentication
// interceptors). Property (gatewaytest.CheckJSONBody): no 5xx, and
// malformed JSON, or JSON protojson refuses, is a 400. Users created by
// one input stay for the next, which the property does not depend on.
func FuzzUsersGatewayJSON(f *testing.F) {
	fuzzseed.Sync(f, "FuzzUsersGatewayJSON", usersGatewaySeeds())
	store, err := sqlstore.New(context.Background(), dbtest.SQLiteDB(f))
	if err != nil {
		f.Fatal(err)
	}
	fuzzUsersGateway(f, store)
}

// FuzzUsersGatewayJSONPostgres is FuzzUsersGatewayJSON over PostgreSQL
// (skipped without one), whose text type refuses NUL.
func FuzzUsersGatewayJSONPostgres(f *testing.F) {
	fuzzseed.Sync(f, "FuzzUsersGatewayJSONPostgres", usersGatewaySeeds())
	store, err := sqlstore.New(context.Background(), dbtest.PostgresDB(f))
	if err != nil {
		f.Fatal(err)
	}
	fuzzUsersGateway(f, store)
}

func fuzzUsersGateway(f *testing.F, store users.Store) {
	ctx := context.Background()
	svc := users.New(store, users.WithParams(cheap))
	alice, err := svc.CreateUser(ctx, &usersv1.CreateUserRequest{Email: "alice@example.test", Password: password})
	if err != nil {
		f.Fatal(err)
	}
	aliceID := alice.GetUser().GetUserId()
	h := gatewaytest.New(f,
		func(s *grpc.Server) { usersv1.RegisterUserServiceServer(s, svc) },
		func(ctx context.Context, mux *runtime.ServeMux, cc *grpc.ClientConn) error {
			return usersv1.RegisterUserServiceHandlerClient(ctx, mux, usersv1.NewUserServiceClient(cc))
		})

	f.Fuzz(func(t *testing.T, route uint, id, body string) {
		rt := userRoutes[route%uint(len(userRoutes))]
		if id == "" {
			id = aliceID
		}
		var inPath []string
		if strings.Contains(rt.Path, "{user}") {
			inPath = append(inPath, id)
		}
		gatewaytest.Check(t, h, rt, strings.ReplaceAll(rt.Path, "{user}", url.PathEscape(id)), body, inPath...)
	})
}
