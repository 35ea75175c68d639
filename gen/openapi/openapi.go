// Package openapi holds Gatehouse's OpenAPI 3.1 document, written by
// `make gen` from the REST routes, the auth rules and the description of
// the OAuth 2.0 and OpenID Connect endpoints. The server serves it at
// /openapi.json; a partner can generate a client from the version of this
// module it requires.
package openapi

import (
	"bytes"
	_ "embed"
)

//go:embed gatehouse.json
var document []byte

// Document returns the document, as JSON. The paths of the OAuth 2.0 and
// OpenID Connect endpoints are those of an issuer without a path.
func Document() []byte { return bytes.Clone(document) }
