// Package openapigen turns the OpenAPI v2 document protoc-gen-openapiv2
// writes for the REST facade into the documents Gatehouse publishes: the v2
// one with a title, the release as version, security definitions and each
// operation's security taken from its RPC's auth rule; and an OpenAPI 3.1
// one converted from it, with the hand-written description of the OAuth
// 2.0 and OpenID Connect endpoints (oauth.yaml) merged in; and the Go
// client oapi-codegen generates from the latter. `make gen` runs it
// (scripts/openapigen); the documents are committed under gen/, the client
// in internal/apiclient.
package openapigen
