// Package gatewaytest builds the REST facade of one gRPC service for tests
// outside internal/app: the grpc-gateway ServeMux with the options of
// internal/app's gateway (pkg/authn's error handler and header matcher,
// snake_case JSON, unknown fields refused), in front of a gRPC server
// reached through an in-memory connection, so that every REST call goes
// through JSON decoding, gRPC and the service's own validation.
//
// The mux is internal/restgw's, as internal/app serves it. It leaves out
// what internal/app adds around: the authentication interceptors, the
// metrics and panic recovery (a panic crashes the test, which is what a
// fuzz test wants) and the HTTP server's body limit.
package gatewaytest

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/proto"

	"github.com/gatehouse-dev/gatehouse/internal/restgw"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
)

// UnmarshalOptions are the gateway's JSON decoding options.
var UnmarshalOptions = restgw.UnmarshalOptions

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
	mux := restgw.NewServeMux(authn.DefaultRealm)
	if err := registerREST(context.Background(), mux, conn); err != nil {
		t.Fatal(err)
	}
	return authn.GatewayPreflight(mux)
}

// Route is one route of a REST facade a fuzz target drives: its method, its
// path with {placeholders}, and a fresh message of the type its body
// decodes into.
type Route struct {
	Method, Path string
	Body         func() proto.Message
}

// Check sends body to route at path (the route's path with its
// placeholders filled in) through h, and checks the answer with
// CheckJSONBody; inPath are the unescaped path parameters.
func Check(t *testing.T, h http.Handler, route Route, path, body string, inPath ...string) {
	t.Helper()
	r := httptest.NewRequestWithContext(context.Background(), route.Method, path, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	CheckJSONBody(t, w.Code, w.Body.Bytes(), body, route.Body(), inPath...)
}

// CheckJSONBody checks the gateway's answer (status, body) to a request
// with the JSON body reqBody, which the route decodes into msg (a fresh
// message of the route's body type), and the (unescaped) path parameters
// inPath:
//   - no 5xx, and a JSON body;
//   - malformed JSON is 400: the body is not exactly one JSON value that
//     protojson with UnmarshalOptions accepts (trailing data, an unknown
//     field, a wrong type, invalid UTF-8, an unknown enum name...);
//   - a path parameter that is not valid UTF-8 is 400;
//   - a route served for other methods only is 405.
//
// A request the mux does not route (its own 404 "Not Found": a path
// parameter that changes the path's shape) never has its body read, so
// only the first property applies. A body of only white space is the
// empty message.
func CheckJSONBody(t *testing.T, status int, body []byte, reqBody string, msg proto.Message, inPath ...string) {
	t.Helper()
	var st struct{ Message string }
	_ = json.Unmarshal(body, &st)
	switch {
	case status == http.StatusNotFound && st.Message == "Not Found":
		return // not routed: the body was not read
	case slices.ContainsFunc(inPath, func(p string) bool { return !utf8.ValidString(p) }):
		if status != http.StatusBadRequest {
			t.Fatalf("a path that is not valid UTF-8 answered %d, want 400: %s", status, body)
		}
		return
	case status == http.StatusMethodNotAllowed:
		return // a route served for other methods only
	}
	if status >= 500 {
		t.Fatalf("status %d for %q: %s", status, reqBody, body)
	}
	if !json.Valid(body) {
		t.Fatalf("status %d with a body that is not JSON: %q", status, body)
	}
	if strings.TrimSpace(reqBody) == "" {
		return
	}
	// Exactly one JSON value: anything after it is malformed too.
	err := UnmarshalOptions.Unmarshal([]byte(reqBody), msg)
	if err != nil && status != http.StatusBadRequest {
		t.Fatalf("malformed body %q (%v) answered %d, want 400: %s", reqBody, err, status, body)
	}
}
