package cli

import (
	"context"
	"flag"
	"fmt"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
)

type registry = clientsv1.ClientRegistryServiceClient

func scopesGroup() *group {
	return &group{
		name:    "scopes",
		summary: "manage the scope catalogue",
		commands: []*command{
			{
				name: "create", args: []string{"NAME"}, synopsis: "[--description D]",
				summary: "add a scope to the catalogue",
				setup: func(fs *flag.FlagSet) action {
					desc := fs.String("description", "", "what the scope grants, shown to admins and on consent pages")
					return func(ctx context.Context, s *session, args []string) error {
						name := args[0]
						resp, err := invoke(ctx, s, "create scope "+name, func(ctx context.Context, rc registry) (*clientsv1.CreateScopeResponse, error) {
							return rc.CreateScope(ctx, &clientsv1.CreateScopeRequest{Scope: &clientsv1.Scope{Name: name, Description: *desc}})
						})
						if err != nil {
							return err
						}
						if s.jsonOutput() {
							return s.printJSON(resp.GetScope())
						}
						fmt.Fprintf(s.stdout, "Created scope %s.\n", clean(resp.GetScope().GetName()))
						scopeKV(resp.GetScope()).write(s.stdout)
						return nil
					}
				},
			},
			{
				name: "list", summary: "list the scope catalogue",
				setup: func(*flag.FlagSet) action {
					return func(ctx context.Context, s *session, _ []string) error {
						resp, err := invoke(ctx, s, "list scopes", func(ctx context.Context, rc registry) (*clientsv1.ListScopesResponse, error) {
							return rc.ListScopes(ctx, &clientsv1.ListScopesRequest{})
						})
						if err != nil {
							return err
						}
						if s.jsonOutput() {
							items, err := jsonItems(resp.GetScopes())
							if err != nil {
								return err
							}
							return s.printJSONValue(map[string]any{"scopes": items})
						}
						if len(resp.GetScopes()) == 0 {
							fmt.Fprintln(s.stdout, "No scopes.")
							return nil
						}
						t := newTable(s.stdout, "NAME", "SYSTEM", "CREATED", "DESCRIPTION")
						for _, sc := range resp.GetScopes() {
							t.row(clean(sc.GetName()), yesNo(sc.GetSystem()), timeText(sc.GetCreateTime()), orDash(sc.GetDescription()))
						}
						t.flush()
						return nil
					}
				},
			},
			{
				name: "delete", args: []string{"NAME"},
				summary: "remove a scope that no client or API key uses",
				setup: func(*flag.FlagSet) action {
					return func(ctx context.Context, s *session, args []string) error {
						name := args[0]
						resp, err := invoke(ctx, s, "delete scope "+name, func(ctx context.Context, rc registry) (*clientsv1.DeleteScopeResponse, error) {
							return rc.DeleteScope(ctx, &clientsv1.DeleteScopeRequest{Name: name})
						})
						if err != nil {
							return err
						}
						if s.jsonOutput() {
							return s.printJSON(resp)
						}
						fmt.Fprintf(s.stdout, "Deleted scope %s.\n", clean(name))
						return nil
					}
				},
			},
		},
	}
}
