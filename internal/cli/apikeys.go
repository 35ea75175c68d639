package cli

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"slices"
	"time"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	"google.golang.org/protobuf/types/known/durationpb"
)

func apikeysGroup() *group {
	return &group{
		name:    "apikeys",
		summary: "manage API keys",
		commands: []*command{
			{
				name: "create", synopsis: "--client ID --scopes a,b [--ttl 90d] [--description D]",
				summary: "issue an API key for a client; the key is shown once",
				setup:   apikeysCreate,
			},
			{
				name: "list", synopsis: "--client ID",
				summary: "list a client's API keys, newest first (never their secrets)",
				setup:   apikeysList,
			},
			{
				name: "rotate", synopsis: "--client ID --key KEY_ID [--grace 24h]",
				summary: "replace a key with a new one; the old one works for the grace period",
				setup:   apikeysRotate,
			},
			{
				name: "revoke", synopsis: "--client ID --key KEY_ID",
				summary: "stop a key at once",
				setup:   apikeysRevoke,
			},
		},
	}
}

// required checks that each named string flag was given a value.
func required(cmd string, flags map[string]*string) error {
	for _, name := range slices.Sorted(maps.Keys(flags)) {
		if v := flags[name]; *v == "" {
			return fmt.Errorf("%s: --%s is required (run 'gatehouse %s -h')", cmd, name, cmd)
		}
	}
	return nil
}

func clientFlag(fs *flag.FlagSet) *string {
	return fs.String("client", "", "`ID` of the client that owns the keys (required)")
}

func keyFlag(fs *flag.FlagSet) *string {
	return fs.String("key", "", "`KEY_ID` of the key, as shown by 'gatehouse apikeys list' (required)")
}

func apikeysCreate(fs *flag.FlagSet) action {
	client := clientFlag(fs)
	var scopes listFlag
	fs.Var(&scopes, "scopes", "comma-separated `scopes` of the key, each allowed to the client (required)")
	var ttl durationFlag
	fs.Var(&ttl, "ttl", "lifetime of the key, e.g. 90d or 36h (default: no expiry)")
	desc := fs.String("description", "", "a note for admins: what the key is for")
	return func(ctx context.Context, s *session, _ []string) error {
		if err := required("apikeys create", map[string]*string{"client": client}); err != nil {
			return err
		}
		if len(scopes.vals) == 0 {
			return fmt.Errorf("apikeys create: --scopes is required (run 'gatehouse apikeys create -h')")
		}
		req := &clientsv1.CreateAPIKeyRequest{ClientId: *client, Scopes: scopes.vals, Description: *desc}
		if setFlags(fs)["ttl"] {
			req.Ttl = durationpb.New(ttl.d)
		}
		resp, err := invoke(ctx, s, "create API key for client "+*client, func(ctx context.Context, rc registry) (*clientsv1.CreateAPIKeyResponse, error) {
			return rc.CreateAPIKey(ctx, req)
		})
		if err != nil {
			return err
		}
		if s.jsonOutput() {
			return s.printJSON(resp, "key")
		}
		fmt.Fprintf(s.stdout, "Created API key %s.\n", clean(resp.GetKey().GetKeyId()))
		k := &kv{}
		k.add("api_key", resp.GetApiKey())
		k.rows = append(k.rows, apiKeyKV(resp.GetKey()).rows...)
		k.write(s.stdout)
		secretWarning(s.stdout, "API key")
		return nil
	}
}

func apikeysList(fs *flag.FlagSet) action {
	client := clientFlag(fs)
	return func(ctx context.Context, s *session, _ []string) error {
		if err := required("apikeys list", map[string]*string{"client": client}); err != nil {
			return err
		}
		resp, err := invoke(ctx, s, "list API keys of client "+*client, func(ctx context.Context, rc registry) (*clientsv1.ListAPIKeysResponse, error) {
			return rc.ListAPIKeys(ctx, &clientsv1.ListAPIKeysRequest{ClientId: *client})
		})
		if err != nil {
			return err
		}
		if s.jsonOutput() {
			items, err := jsonItems(resp.GetKeys())
			if err != nil {
				return err
			}
			return s.printJSONValue(map[string]any{"keys": items})
		}
		if len(resp.GetKeys()) == 0 {
			fmt.Fprintf(s.stdout, "No API keys for client %s.\n", clean(*client))
			return nil
		}
		now := time.Now()
		t := newTable(s.stdout, "KEY_ID", "STATUS", "SCOPES", "EXPIRES", "LAST_USED", "CREATED", "DESCRIPTION")
		for _, k := range resp.GetKeys() {
			t.row(clean(k.GetKeyId()), keyStatus(k, now), list(k.GetScopes()), never(k.GetExpireTime()),
				timeText(k.GetLastUsedTime()), timeText(k.GetCreateTime()), orDash(k.GetDescription()))
		}
		t.flush()
		return nil
	}
}

func apikeysRotate(fs *flag.FlagSet) action {
	client, key := clientFlag(fs), keyFlag(fs)
	var grace durationFlag
	fs.Var(&grace, "grace", "how long the old key keeps working, 0 to stop it at once (default 24h)")
	return func(ctx context.Context, s *session, _ []string) error {
		if err := required("apikeys rotate", map[string]*string{"client": client, "key": key}); err != nil {
			return err
		}
		req := &clientsv1.RotateAPIKeyRequest{ClientId: *client, KeyId: *key}
		if setFlags(fs)["grace"] {
			req.GracePeriod = durationpb.New(grace.d)
		}
		resp, err := invoke(ctx, s, "rotate API key "+*key, func(ctx context.Context, rc registry) (*clientsv1.RotateAPIKeyResponse, error) {
			return rc.RotateAPIKey(ctx, req)
		})
		if err != nil {
			return err
		}
		if s.jsonOutput() {
			return s.printJSON(resp, "key")
		}
		fmt.Fprintf(s.stdout, "Rotated API key %s to %s.\n", clean(*key), clean(resp.GetKey().GetKeyId()))
		k := &kv{}
		k.add("api_key", resp.GetApiKey())
		k.rows = append(k.rows, apiKeyKV(resp.GetKey()).rows...)
		k.add("previous_key_expire_time", timeText(resp.GetPreviousKeyExpireTime()))
		k.write(s.stdout)
		secretWarning(s.stdout, "API key")
		return nil
	}
}

func apikeysRevoke(fs *flag.FlagSet) action {
	client, key := clientFlag(fs), keyFlag(fs)
	return func(ctx context.Context, s *session, _ []string) error {
		if err := required("apikeys revoke", map[string]*string{"client": client, "key": key}); err != nil {
			return err
		}
		resp, err := invoke(ctx, s, "revoke API key "+*key, func(ctx context.Context, rc registry) (*clientsv1.RevokeAPIKeyResponse, error) {
			return rc.RevokeAPIKey(ctx, &clientsv1.RevokeAPIKeyRequest{ClientId: *client, KeyId: *key})
		})
		if err != nil {
			return err
		}
		if s.jsonOutput() {
			return s.printJSON(resp.GetKey())
		}
		fmt.Fprintf(s.stdout, "Revoked API key %s.\n", clean(*key))
		apiKeyKV(resp.GetKey()).write(s.stdout)
		return nil
	}
}
