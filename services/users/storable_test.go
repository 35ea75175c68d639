package users_test

import (
	"context"
	"encoding/base64"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/fieldmaskpb"

	usersv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/users/v1"
	"github.com/gatehouse-dev/gatehouse/internal/database/dbtest"
	"github.com/gatehouse-dev/gatehouse/services/users"
	"github.com/gatehouse-dev/gatehouse/services/users/sqlstore"
)

// TestUnstorableIDs: a user id PostgreSQL's text type cannot hold (NUL,
// invalid UTF-8) names no user over either store, never Internal. Found
// by FuzzUsersGatewayJSONPostgres: PATCH /v1/users/%00 was a 500.
func TestUnstorableIDs(t *testing.T) {
	for _, be := range dbtest.Backends {
		t.Run(be.Name, func(t *testing.T) {
			store, err := sqlstore.New(t.Context(), be.Open(t))
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			svc := users.New(store, users.WithParams(cheap))
			check := func(what string, err error, want codes.Code) {
				t.Helper()
				if got := status.Code(err); got != want {
					t.Errorf("%s: %v, want %s", what, err, want)
				}
			}
			for _, id := range []string{"\xff", "u\x00x", "\x00"} {
				_, err := svc.GetUser(ctx, &usersv1.GetUserRequest{UserId: id})
				check("GetUser "+id, err, codes.NotFound)
				_, err = svc.UpdateUser(ctx, &usersv1.UpdateUserRequest{
					User: &usersv1.User{UserId: id, Disabled: true}, UpdateMask: &fieldmaskpb.FieldMask{Paths: []string{"disabled"}},
				})
				check("UpdateUser "+id, err, codes.NotFound)
				_, err = svc.SetPassword(ctx, &usersv1.SetPasswordRequest{UserId: id, Password: password})
				check("SetPassword "+id, err, codes.NotFound)
				token := base64.RawURLEncoding.EncodeToString([]byte("1700000000000000|" + id))
				_, err = svc.ListUsers(ctx, &usersv1.ListUsersRequest{PageToken: token})
				check("ListUsers after "+id, err, codes.InvalidArgument)
			}
		})
	}
}
