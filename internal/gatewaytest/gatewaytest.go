// Package gatewaytest builds the REST facade of one gRPC service for tests
// outside internal/app: the grpc-gateway ServeMux with the options of
// internal/app's gateway (pkg/authn's error handler and header matcher,
// snake_case JSON, unknown fields refused), in front of a gRPC server
// reached through an in-memory connection, so that every REST call goes
// through JSON decoding, gRPC and the service's own validation.
//
// It leaves out what internal/app adds around: the authentication
// interceptors, the metrics and panic recovery (a panic crashes the test,
// which is what a fuzz test wants) and the HTTP server's body limit. Keep
// the ServeMux options in step with internal/app/gateway.go.
package gatewaytest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/gatehouse-dev/gatehouse/pkg/authn"
)

// UnmarshalOptions are the gateway's JSON decoding options: what a request
// body must satisfy to reach the service.
var UnmarshalOptions = protojson.UnmarshalOptions{DiscardUnknown: false}

// New serves the services register adds to a gRPC server, and returns the
// REST handler whose routes registerREST adds.
func New(t testing.TB, register func(*grpc.Server), registerREST func(context.Context, *runtime.ServeMux, *grpc.ClientConn) error) http.Handler {
	t.Helper()
	srv := grpc.NewServer(grpc.MaxRecvMsgSize(1 << 20))
	register(srv)
	lis := bufconn.Listen(1 << 20)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient("passthrough:///gateway",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	mux := runtime.NewServeMux(
		runtime.WithErrorHandler(authn.GatewayErrorHandler(authn.DefaultRealm)),
		runtime.WithIncomingHeaderMatcher(authn.GatewayIncomingHeaderMatcher),
		runtime.WithMarshalerOption(runtime.MIMEWildcard, &runtime.JSONPb{
			MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true},
			UnmarshalOptions: UnmarshalOptions,
		}),
	)
	if err := registerREST(context.Background(), mux, conn); err != nil {
		t.Fatal(err)
	}
	return authn.GatewayPreflight(mux)
}

// CheckJSONBody checks the gateway's answer (status, body) to a request
// with the JSON body reqBody, which the route decodes into msg (a fresh
// message of the route's body type), and the (unescaped) path parameters
// inPath:
//   - no 5xx, and a JSON body;
//   - malformed JSON is 400: the body's first JSON value does not parse,
//     or protojson with UnmarshalOptions refuses it (an unknown field, a
//     wrong type, invalid UTF-8, an unknown enum name...).
//
// A request the mux does not route (its own 404 "Not Found": a path
// parameter that changes the path's shape) never has its body read, so
// only the first property applies.
//
// Three known gateway defects are let through, all to be fixed in
// internal/app/gateway.go (and not here: another change owns it):
//   - what follows the first JSON value is not checked: the generated
//     handlers decode one value with encoding/json's Decoder and discard
//     the rest, so `{"name":"x"} garbage` is served as `{"name":"x"}` (the
//     JSONPb options want a decoder that refuses trailing data);
//   - a path parameter that is not valid UTF-8 (%FF) becomes a proto
//     string the gRPC client cannot marshal: 500 "grpc: error while
//     marshaling: string field contains invalid UTF-8" (the gateway should
//     refuse such a path with 400 before routing);
//   - a path served for other methods only answers 501 "Method Not
//     Allowed": runtime.DefaultRoutingErrorHandler turns the mux's 405
//     into codes.Unimplemented, which maps to 501 (a routing error
//     handler that keeps 405 would fix it).
//
// A body of only white space is the empty message.
func CheckJSONBody(t *testing.T, status int, body []byte, reqBody string, msg proto.Message, inPath ...string) {
	t.Helper()
	var st struct{ Message string }
	_ = json.Unmarshal(body, &st)
	switch {
	case status == http.StatusInternalServerError && bytes.Contains(body, []byte("string field contains invalid UTF-8")) &&
		slices.ContainsFunc(inPath, func(p string) bool { return !utf8.ValidString(p) }):
		return // known defect: invalid UTF-8 in the path
	case status == http.StatusNotImplemented && st.Message == "Method Not Allowed":
		return // known defect: 405 answered 501
	case status == http.StatusNotFound && st.Message == "Not Found":
		return // not routed: the body was not read
	}
	if status >= 500 {
		t.Fatalf("status %d for %q: %s", status, reqBody, body)
	}
	if !json.Valid(body) {
		t.Fatalf("status %d with a body that is not JSON: %q", status, body)
	}
	var first json.RawMessage
	err := json.NewDecoder(strings.NewReader(reqBody)).Decode(&first)
	switch {
	case errors.Is(err, io.EOF):
		return
	case err == nil:
		err = UnmarshalOptions.Unmarshal(first, msg)
	}
	if err != nil && status != http.StatusBadRequest {
		t.Fatalf("malformed body %q (%v) answered %d, want 400: %s", reqBody, err, status, body)
	}
}
