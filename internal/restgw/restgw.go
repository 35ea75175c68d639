// Package restgw is the REST facade's grpc-gateway ServeMux, as the
// process serves it and as tests build it: one place for how REST requests
// become gRPC calls.
//
//   - errors: pkg/authn's handler (google.rpc.Status bodies, RFC 6750
//     challenges, no-store);
//   - headers: only Authorization and X-API-Key become metadata;
//   - JSON: snake_case out, unknown fields refused in, and nothing after
//     the body's JSON value (encoding/json's Decoder, which the generated
//     handlers use, stops after the first value and would ignore the rest);
//   - a path or query that is not valid UTF-8 is 400 before any call (a
//     proto string must be UTF-8: the gRPC client would fail with 500);
//   - a route served for other methods only is 405, not the 501 that
//     grpc-gateway's default makes of codes.Unimplemented.
package restgw

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
)

// UnmarshalOptions are the gateway's JSON decoding options: what a request
// body must satisfy to reach the service.
var UnmarshalOptions = protojson.UnmarshalOptions{DiscardUnknown: false}

// marshaler is the facade's one marshaler: snake_case as in the proto
// (like the CLI's -o json), unknown fields refused, one value per body.
var marshaler = strictJSON{&runtime.JSONPb{
	MarshalOptions:   protojson.MarshalOptions{UseProtoNames: true},
	UnmarshalOptions: UnmarshalOptions,
}}

// NewServeMux returns the facade's mux, answering errors with realm's
// challenges; extra options (metadata annotators, middlewares) are added.
func NewServeMux(realm string, extra ...runtime.ServeMuxOption) *runtime.ServeMux {
	errorHandler := authn.GatewayErrorHandler(realm)
	opts := []runtime.ServeMuxOption{
		runtime.WithErrorHandler(errorHandler),
		runtime.WithRoutingErrorHandler(routingErrors(errorHandler)),
		runtime.WithIncomingHeaderMatcher(authn.GatewayIncomingHeaderMatcher),
		runtime.WithMarshalerOption(runtime.MIMEWildcard, marshaler),
		runtime.WithMiddlewares(validUTF8(errorHandler)),
	}
	return runtime.NewServeMux(append(opts, extra...)...)
}

// strictJSON decodes a request body as exactly one JSON value.
type strictJSON struct{ *runtime.JSONPb }

// NewDecoder reads the whole body (the listener caps it), refuses it
// unless it is exactly one JSON value, and unmarshals that.
func (m strictJSON) NewDecoder(r io.Reader) runtime.Decoder {
	return runtime.DecoderFunc(func(v any) error {
		b, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		if len(bytes.TrimSpace(b)) == 0 {
			// What the generated handlers take for an empty body.
			return io.EOF
		}
		// JSONPb.Unmarshal itself reads one value and ignores the rest.
		d := json.NewDecoder(bytes.NewReader(b))
		var value json.RawMessage
		if err := d.Decode(&value); err != nil {
			return err
		}
		if _, err := d.Token(); !errors.Is(err, io.EOF) {
			return errors.New("unexpected data after the JSON value")
		}
		return m.Unmarshal(value, v)
	})
}

// routingErrors keeps the mux's 405 a 405.
func routingErrors(errorHandler runtime.ErrorHandlerFunc) runtime.RoutingErrorHandlerFunc {
	return func(ctx context.Context, mux *runtime.ServeMux, m runtime.Marshaler, w http.ResponseWriter, r *http.Request, httpStatus int) {
		if httpStatus == http.StatusMethodNotAllowed {
			errorHandler(ctx, mux, m, w, r, &runtime.HTTPStatusError{
				HTTPStatus: http.StatusMethodNotAllowed,
				Err:        status.Error(codes.Unimplemented, http.StatusText(http.StatusMethodNotAllowed)),
			})
			return
		}
		runtime.DefaultRoutingErrorHandler(ctx, mux, m, w, r, httpStatus)
	}
}

// validUTF8 refuses a request whose path parameters or query values are
// not valid UTF-8, before they become proto strings.
func validUTF8(errorHandler runtime.ErrorHandlerFunc) runtime.Middleware {
	return func(next runtime.HandlerFunc) runtime.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request, params map[string]string) {
			ok := true
			for _, v := range params {
				ok = ok && utf8.ValidString(v)
			}
			for k, vs := range r.URL.Query() {
				ok = ok && utf8.ValidString(k)
				for _, v := range vs {
					ok = ok && utf8.ValidString(v)
				}
			}
			if !ok {
				// The error handler needs no mux, only the marshaler.
				errorHandler(r.Context(), nil, marshaler, w, r, status.Error(codes.InvalidArgument, "the path or query is not valid UTF-8"))
				return
			}
			next(w, r, params)
		}
	}
}
