// Command openapigen writes the published OpenAPI documents (`make gen`,
// after buf generate), from the repository root:
//
//	go run ./scripts/openapigen
//
// It decorates gen/openapiv2/gatehouse.swagger.json in place (title, the
// release as version, security from the auth rules) and writes its OpenAPI
// 3.1 conversion, with the OAuth 2.0 and OpenID Connect endpoints, to
// gen/openapi/gatehouse.json, which the server embeds and serves, and the
// Go client oapi-codegen generates from it to internal/apiclient, which the
// tests call the API with.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/gatehouse-dev/gatehouse/internal/openapigen"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"github.com/gatehouse-dev/gatehouse/services/clients"
	"golang.org/x/mod/modfile"
	"google.golang.org/protobuf/reflect/protoregistry"

	// The services whose rules the REST routes need, registered in
	// protoregistry.GlobalFiles.
	_ "github.com/gatehouse-dev/gatehouse/gen/gatehouse/audit/v1"
	_ "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	_ "github.com/gatehouse-dev/gatehouse/gen/gatehouse/inventory/v1"
	_ "github.com/gatehouse-dev/gatehouse/gen/gatehouse/keys/v1"
	_ "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	_ "github.com/gatehouse-dev/gatehouse/gen/gatehouse/token/v1"
	_ "github.com/gatehouse-dev/gatehouse/gen/gatehouse/users/v1"
)

const (
	gatewayConfig = "proto/gatehouse/gateway.yaml"
	swaggerFile   = "gen/openapiv2/gatehouse.swagger.json"
	openAPIFile   = "gen/openapi/gatehouse.json"
	clientFile    = "internal/apiclient/apiclient.gen.go"
	// genModule is the module whose required version is the release: the
	// SDK modules are tagged with the version the root go.mod requires.
	genModule = "github.com/gatehouse-dev/gatehouse/gen"
)

func main() {
	if err := run(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "openapigen:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	release, err := releaseVersion("go.mod")
	if err != nil {
		return err
	}
	swagger, err := os.ReadFile(swaggerFile)
	if err != nil {
		return err
	}
	gw, err := os.ReadFile(gatewayConfig)
	if err != nil {
		return err
	}
	rules, err := authn.RulesFromFiles(protoregistry.GlobalFiles)
	if err != nil {
		return fmt.Errorf("auth rules: %w", err)
	}
	docs, err := openapigen.Build(ctx, swagger, gw, rules, openapigen.Info{
		Title: "Gatehouse API",
		Description: "The admin and resource APIs of Gatehouse (the REST facade of its gRPC services) " +
			"and its OAuth 2.0 and OpenID Connect endpoints. Every operation lists the credentials " +
			"and scopes its authorization rule accepts.",
		Version:          release,
		TokenURL:         "/oauth2/token",
		AuthorizationURL: "/oauth2/authorize",
		ScopeDescription: clients.ScopeDescription,
	})
	if err != nil {
		return err
	}
	// Committed files, read by everyone: the mode of the rest of gen/.
	if err := os.WriteFile(swaggerFile, docs.V2, 0o644); err != nil { //nolint:gosec // a committed file
		return err
	}
	if err := os.WriteFile(openAPIFile, docs.V31, 0o644); err != nil { //nolint:gosec // a committed file
		return err
	}
	client, err := openapigen.ClientCode(docs.V31)
	if err != nil {
		return err
	}
	return os.WriteFile(clientFile, client, 0o644) //nolint:gosec // a committed file
}

// releaseVersion is the version of the gen module that file requires.
func releaseVersion(file string) (string, error) {
	b, err := os.ReadFile(file) //nolint:gosec // the repository's go.mod, named by this program
	if err != nil {
		return "", err
	}
	mf, err := modfile.ParseLax(file, b, nil)
	if err != nil {
		return "", fmt.Errorf("parse %s: %w", file, err)
	}
	for _, r := range mf.Require {
		if r.Mod.Path == genModule {
			return r.Mod.Version, nil
		}
	}
	return "", fmt.Errorf("%s requires no %s", file, genModule)
}
