package clientcreds_test

import (
	"context"
	"crypto/tls"
	"log"

	"github.com/gatehouse-dev/gatehouse/pkg/clientcreds"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// A service calls Gatehouse over gRPC with its own client-credentials
// token, renewed before it expires and when a call is refused with
// Unauthenticated.
func Example() {
	src := clientcreds.New(clientcreds.Config{
		TokenURL:     "https://gatehouse.example/oauth2/token",
		ClientID:     "c_orders",
		ClientSecret: "from a secret store",
	})
	opts := append(src.DialOptions(), grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS12})))
	conn, err := grpc.NewClient("gatehouse.example:9090", opts...)
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	// Use conn with any generated client.

	// The token alone, e.g. for an HTTP call:
	if tok, err := src.Token(context.Background()); err == nil {
		_ = tok.AccessToken
	}
}
