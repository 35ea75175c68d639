package openapigen

import (
	"fmt"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/oapi-codegen/oapi-codegen/v2/pkg/codegen"
)

// ClientPackage is the package of the Go client generated from the
// document (internal/apiclient).
const ClientPackage = "apiclient"

// generatorVersion is what the generated code's header says generated it.
// oapi-codegen used as a library names the main module and its version,
// which differ between `go run` and `go test` (a test binary knows no
// module versions); go.mod pins oapi-codegen's.
const generatorVersion = "(make gen, oapi-codegen as pinned in go.mod)"

// ClientCode is the Go client oapi-codegen generates from doc: the models
// and a client with a method per operation. It is how a user of the
// published document would generate one; the tests call the API with it.
func ClientCode(doc []byte) ([]byte, error) {
	spec, err := openapi3.NewLoader().LoadFromData(doc)
	if err != nil {
		return nil, fmt.Errorf("load the document: %w", err)
	}
	version := generatorVersion
	code, err := codegen.Generate(spec, codegen.Configuration{
		PackageName:          ClientPackage,
		Generate:             codegen.GenerateOptions{Client: true, Models: true},
		AllowRemoteRefsFrom:  []string{},
		NoVCSVersionOverride: &version,
	})
	if err != nil {
		return nil, fmt.Errorf("oapi-codegen: %w", err)
	}
	return []byte(code), nil
}
