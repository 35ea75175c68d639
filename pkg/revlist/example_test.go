package revlist_test

import (
	"context"
	"fmt"
	"log"
	"time"

	eventsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/events/v1"
	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"github.com/gatehouse-dev/gatehouse/pkg/revlist"
	"github.com/nats-io/nats.go"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// A validator follows the revocation list and refuses revoked
// credentials: the follower is both the validator's RevocationChecker and
// the JWT authenticator's RevocationList.
func ExampleFollower() {
	var (
		conn *grpc.ClientConn // to the revocation service, with the validator's credentials
		nc   *nats.Conn       // to NATS; nil streams from the service's Watch instead
	)
	f := revlist.NewFollower(revlist.ClientSource(revocationv1.NewRevocationServiceClient(conn)), nc)
	if err := f.Start(context.Background()); err != nil {
		log.Fatal(err)
	}
	defer f.Close()

	validator := authn.NewValidator(nil, authn.WithRevocationChecker(f))
	jwtOpt := authn.WithRevocationList(f)
	_, _ = validator, jwtOpt
}

// A resource service that cannot reach NATS streams the list from Watch,
// and refetches the signing keys as soon as they change.
func ExampleWithOnKeyEvent() {
	var (
		conn *grpc.ClientConn        // to the revocation service, with the service's credentials
		jwt  *authn.JWTAuthenticator // the service's JWT validation
	)
	f := revlist.NewFollower(revlist.ClientSource(revocationv1.NewRevocationServiceClient(conn)), nil,
		// Called for each KeyRotated, and with nil after each (re)connect:
		// changes made meanwhile were not replayed. Quick: the fetch runs
		// on its own.
		revlist.WithOnKeyEvent(func(*eventsv1.KeyRotated) {
			go func() { _ = jwt.Refresh(context.Background()) }()
		}))
	if err := f.Start(context.Background()); err != nil {
		log.Fatal(err)
	}
	defer f.Close()
}

func ExampleList() {
	now := time.Now()
	l := revlist.NewList()
	l.Apply(&revocationv1.Entry{
		Seq:        1,
		Kind:       revocationv1.Kind_KIND_SUBJECT,
		Id:         "alice",
		RevokeTime: timestamppb.New(now),
		ExpireTime: timestamppb.New(now.Add(time.Hour)),
	}, now)

	before := &authn.Principal{Subject: "alice", IssuedAt: now.Add(-time.Minute)}
	after := &authn.Principal{Subject: "alice", IssuedAt: now.Add(time.Minute)}
	fmt.Println(l.RevokedPrincipal(before, now), l.RevokedPrincipal(after, now.Add(time.Minute)))
	// Output: true false
}
