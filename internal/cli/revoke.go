package cli

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// revokeKind is one `gatehouse revoke <kind>` command.
type revokeKind struct {
	name    string
	kind    revocationv1.Kind
	arg     string
	summary string
	// expiry is the --expires-in default and why, for the help text; zero
	// means the entry never expires unless the flag is given.
	expiry time.Duration
}

// revokeKinds lists every kind of the revocation list. Entries are kept
// until --expires-in passes: set it to when the revoked thing would have
// expired anyway, so validators can forget it.
var revokeKinds = []revokeKind{
	{name: "access-token", kind: revocationv1.Kind_KIND_ACCESS_TOKEN, arg: "JTI", summary: "revoke one access token by its jti", expiry: time.Hour + 30*time.Second},
	{name: "refresh-family", kind: revocationv1.Kind_KIND_REFRESH_FAMILY, arg: "FAMILY_ID", summary: "revoke a refresh-token family and the access tokens issued from it"},
	{name: "api-key", kind: revocationv1.Kind_KIND_API_KEY, arg: "KEY_ID", summary: "revoke an API key in every validator, and in the registry ('apikeys list' shows it revoked)"},
	{name: "client", kind: revocationv1.Kind_KIND_CLIENT, arg: "CLIENT_ID", summary: "revoke every token and API key a client holds now; it can get new tokens"},
	{name: "subject", kind: revocationv1.Kind_KIND_SUBJECT, arg: "SUBJECT", summary: "revoke every token issued for a user (sub) until now"},
	{name: "certificate", kind: revocationv1.Kind_KIND_CERTIFICATE, arg: "SERIAL", summary: "revoke a client certificate by serial number (hex)"},
	{name: "signing-key", kind: revocationv1.Kind_KIND_SIGNING_KEY, arg: "KID", summary: "refuse every token a signing key signed (an emergency key rotation does this too)", expiry: 70 * time.Minute},
}

func revokeGroup() *group {
	g := &group{name: "revoke", summary: "add to the revocation list that every validator follows"}
	for _, k := range revokeKinds {
		synopsis := "[--reason R] [--expires-in D]"
		if k.kind == revocationv1.Kind_KIND_API_KEY {
			synopsis = "[--client ID] " + synopsis
		}
		g.commands = append(g.commands, &command{
			name: k.name, args: []string{k.arg}, synopsis: synopsis,
			summary: k.summary, setup: revokeCommand(k),
		})
	}
	return g
}

func revokeCommand(k revokeKind) func(fs *flag.FlagSet) action {
	return func(fs *flag.FlagSet) action {
		reason := fs.String("reason", "", "why, for the audit trail")
		expires := durationFlag{d: k.expiry}
		help := "when the entry may be dropped, counted from now: when the revoked thing expires anyway (default: never)"
		if k.expiry > 0 {
			help = "when the entry may be dropped, counted from now: when the revoked thing expires anyway"
		}
		fs.Var(positive{&expires}, "expires-in", help)
		var client *string
		if k.kind == revocationv1.Kind_KIND_API_KEY {
			client = fs.String("client", "", "`ID` of the client that owns the key (default: found by listing every client's keys)")
		}
		return func(ctx context.Context, s *session, args []string) error {
			entry, err := revokeEntry(ctx, s, k, args[0], *reason, expires.d)
			if err != nil {
				return err
			}
			var owner string
			if client != nil {
				if owner, err = revokeKeyInRegistry(ctx, s, args[0], *client); err != nil {
					return err
				}
			}
			return printEntry(s, k, entry, owner)
		}
	}
}

// revokeEntry records one revocation.
func revokeEntry(ctx context.Context, s *session, k revokeKind, id, reason string, expires time.Duration) (*revocationv1.Entry, error) {
	req := &revocationv1.RevokeRequest{Kind: k.kind, Id: id, Reason: reason}
	if reason == "" {
		req.Reason = "revoked with the gatehouse CLI"
	}
	if expires > 0 {
		req.ExpireTime = timestamppb.New(time.Now().Add(expires))
	}
	resp, err := invokeOn(ctx, s, "revoke "+k.name+" "+id, (*session).revocations,
		func(ctx context.Context, rc revocationv1.RevocationServiceClient) (*revocationv1.RevokeResponse, error) {
			return rc.Revoke(ctx, req)
		})
	return resp.GetEntry(), err
}

// printEntry prints a recorded revocation; owner is the client of an API
// key the registry now lists as revoked too.
func printEntry(s *session, k revokeKind, e *revocationv1.Entry, owner string) error {
	if s.jsonOutput() {
		out, err := toMap(e)
		if err != nil {
			return err
		}
		if k.kind == revocationv1.Kind_KIND_API_KEY {
			out["client_id"] = owner
		}
		return s.printJSONValue(out)
	}
	fmt.Fprintf(s.stdout, "Revoked %s %s.\n", strings.ReplaceAll(k.name, "-", " "), clean(e.GetId()))
	kv := &kv{}
	kv.add("seq", fmt.Sprint(e.GetSeq()))
	kv.add("kind", k.name)
	kv.add("id", clean(e.GetId()))
	kv.add("reason", orDash(clean(e.GetReason())))
	kv.add("revoke_time", timeText(e.GetRevokeTime()))
	kv.add("expire_time", never(e.GetExpireTime()))
	if k.kind == revocationv1.Kind_KIND_API_KEY {
		kv.add("client_id", orDash(owner))
	}
	kv.write(s.stdout)
	if k.kind == revocationv1.Kind_KIND_API_KEY && owner == "" {
		fmt.Fprintln(s.stdout, "No client of the registry holds this key: the revocation list alone refuses it.")
	}
	return nil
}

// revokeKeyInRegistry marks the key revoked in the client registry too,
// as 'apikeys revoke' does: the list makes validators refuse the key, but
// 'apikeys list' reads the registry, which would otherwise go on showing
// it active. The list entry comes first so that the key is refused even
// when this step fails. It returns the owning client, or "" for a key the
// registry does not hold (a deleted client's, or a mistyped ID), which
// the list entry covers alone.
func revokeKeyInRegistry(ctx context.Context, s *session, keyID, client string) (string, error) {
	partly := func(err error) error {
		return fmt.Errorf("revoke api-key %s: the revocation list refuses it, but the registry still lists it as it was (%s); run 'gatehouse apikeys revoke --client CLIENT_ID --key %s'", keyID, s.describe(err), keyID)
	}
	if client == "" {
		var err error
		if client, err = findKeyOwner(ctx, s, keyID); err != nil || client == "" {
			if err != nil {
				return "", partly(err)
			}
			return "", nil
		}
	}
	_, err := invoke(ctx, s, "revoke API key "+keyID+" in the registry", func(ctx context.Context, rc registry) (*clientsv1.RevokeAPIKeyResponse, error) {
		return rc.RevokeAPIKey(ctx, &clientsv1.RevokeAPIKeyRequest{ClientId: client, KeyId: keyID})
	})
	if err != nil {
		return "", partly(err)
	}
	return client, nil
}

// findKeyOwner looks for the client holding an API key through every
// client's keys: the registry has no lookup by key ID, and this runs once
// per revocation by an operator.
func findKeyOwner(ctx context.Context, s *session, keyID string) (string, error) {
	seen := map[string]bool{}
	token := ""
	for {
		page, err := invoke(ctx, s, "list clients", func(ctx context.Context, rc registry) (*clientsv1.ListClientsResponse, error) {
			return rc.ListClients(ctx, &clientsv1.ListClientsRequest{PageSize: 500, PageToken: token})
		})
		if err != nil {
			return "", err
		}
		for _, c := range page.GetClients() {
			keys, err := invoke(ctx, s, "list API keys of client "+c.GetClientId(), func(ctx context.Context, rc registry) (*clientsv1.ListAPIKeysResponse, error) {
				return rc.ListAPIKeys(ctx, &clientsv1.ListAPIKeysRequest{ClientId: c.GetClientId()})
			})
			if status.Code(err) == codes.NotFound {
				continue // deleted since the page was read
			}
			if err != nil {
				return "", err
			}
			for _, k := range keys.GetKeys() {
				if k.GetKeyId() == keyID {
					return c.GetClientId(), nil
				}
			}
		}
		token = page.GetNextPageToken()
		if token == "" || seen[token] {
			return "", nil
		}
		seen[token] = true
	}
}

// revokeKindNamed returns the revoke command of a kind.
func revokeKindNamed(name string) revokeKind {
	for _, k := range revokeKinds {
		if k.name == name {
			return k
		}
	}
	panic("cli: no revoke kind " + name)
}
