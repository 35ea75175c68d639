package cli

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
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
	{name: "api-key", kind: revocationv1.Kind_KIND_API_KEY, arg: "KEY_ID", summary: "revoke an API key in every validator (see also 'apikeys revoke')"},
	{name: "client", kind: revocationv1.Kind_KIND_CLIENT, arg: "CLIENT_ID", summary: "revoke every token and API key a client holds now; it can get new tokens"},
	{name: "subject", kind: revocationv1.Kind_KIND_SUBJECT, arg: "SUBJECT", summary: "revoke every token issued for a user (sub) until now"},
	{name: "certificate", kind: revocationv1.Kind_KIND_CERTIFICATE, arg: "SERIAL", summary: "revoke a client certificate by serial number (hex)"},
	{name: "signing-key", kind: revocationv1.Kind_KIND_SIGNING_KEY, arg: "KID", summary: "refuse every token a signing key signed (an emergency key rotation does this too)", expiry: 70 * time.Minute},
}

func revokeGroup() *group {
	g := &group{name: "revoke", summary: "add to the revocation list that every validator follows"}
	for _, k := range revokeKinds {
		g.commands = append(g.commands, &command{
			name: k.name, args: []string{k.arg}, synopsis: "[--reason R] [--expires-in D]",
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
		return func(ctx context.Context, s *session, args []string) error {
			return revokeEntry(ctx, s, k, args[0], *reason, expires.d)
		}
	}
}

// revokeEntry records one revocation and prints the entry.
func revokeEntry(ctx context.Context, s *session, k revokeKind, id, reason string, expires time.Duration) error {
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
	if err != nil {
		return err
	}
	if s.jsonOutput() {
		return s.printJSON(resp, "entry")
	}
	e := resp.GetEntry()
	fmt.Fprintf(s.stdout, "Revoked %s %s.\n", strings.ReplaceAll(k.name, "-", " "), clean(e.GetId()))
	kv := &kv{}
	kv.add("seq", fmt.Sprint(e.GetSeq()))
	kv.add("kind", k.name)
	kv.add("id", clean(e.GetId()))
	kv.add("reason", orDash(clean(e.GetReason())))
	kv.add("revoke_time", timeText(e.GetRevokeTime()))
	kv.add("expire_time", never(e.GetExpireTime()))
	kv.write(s.stdout)
	return nil
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
