package cli

import (
	"context"
	"flag"
	"fmt"

	keysv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/keys/v1"
)

func keysGroup() *group {
	return &group{
		name:    "keys",
		summary: "list, rotate and retire the token signing keys",
		commands: []*command{
			{
				name: "list", synopsis: "",
				summary: "list the signing keys, newest first, with their state",
				setup:   keysList,
			},
			{
				name: "rotate", synopsis: "[--compromised KID] [--alg ALG]",
				summary: "activate a new signing key; with --compromised, drop KID from the JWKS at once and revoke every token it signed",
				setup:   keysRotate,
			},
			{
				name: "retire", synopsis: "--kid KID [--force]",
				summary: "remove a retired key from the JWKS before its retire period ends; tokens it signed fail validation from then on",
				setup:   keysRetire,
			},
		},
	}
}

func keysList(_ *flag.FlagSet) action {
	return func(ctx context.Context, s *session, _ []string) error {
		resp, err := invokeKeys(ctx, s, "list signing keys", func(ctx context.Context, kc keyService) (*keysv1.ListKeysResponse, error) {
			return kc.ListKeys(ctx, &keysv1.ListKeysRequest{})
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
		t := newTable(s.stdout, "KID", "ALG", "STATE", "CREATED", "ACTIVATED", "RETIRED")
		for _, k := range resp.GetKeys() {
			t.row(clean(k.GetKid()), clean(k.GetAlg()), keyState(k.GetState()),
				timeText(k.GetCreateTime()), timeText(k.GetActivateTime()), timeText(k.GetRetireTime()))
		}
		t.flush()
		return nil
	}
}

// keyState is the state as the CLI spells it: active, retired, ...
func keyState(st keysv1.KeyState) string { return enumFlagValue(st.Descriptor(), st.String()) }

func keysRetire(fs *flag.FlagSet) action {
	kid := fs.String("kid", "", "`KID` of the retired key to remove from the JWKS")
	force := fs.Bool("force", false, "remove it before its scheduled removal, though tokens it signed may be unexpired (they fail validation from then on)")
	return func(ctx context.Context, s *session, _ []string) error {
		if err := required("keys retire", map[string]*string{"kid": kid}); err != nil {
			return err
		}
		resp, err := invokeKeys(ctx, s, "retire signing key "+*kid, func(ctx context.Context, kc keyService) (*keysv1.RetireKeyResponse, error) {
			return kc.RetireKey(ctx, &keysv1.RetireKeyRequest{Kid: *kid, Force: *force})
		})
		if err != nil {
			return err
		}
		if s.jsonOutput() {
			return s.printJSON(resp.GetKey())
		}
		fmt.Fprintf(s.stdout, "Key %s removed from the JWKS.\n", clean(resp.GetKey().GetKid()))
		return nil
	}
}

func keysRotate(fs *flag.FlagSet) action {
	compromised := fs.String("compromised", "", "`KID` of a compromised key: an emergency rotation (the key leaves the JWKS now and every token it signed is revoked)")
	alg := fs.String("alg", "", "`ALG` of the new key (ES256, EdDSA, RS256, PS256); empty keeps the configured one")
	return func(ctx context.Context, s *session, _ []string) error {
		what := "rotate the signing key"
		if *compromised != "" {
			what = "emergency rotation of compromised key " + *compromised
		}
		resp, err := invokeKeys(ctx, s, what, func(ctx context.Context, kc keyService) (*keysv1.RotateKeysResponse, error) {
			return kc.RotateKeys(ctx, &keysv1.RotateKeysRequest{CompromisedKid: *compromised, Alg: *alg})
		})
		if err != nil {
			return err
		}
		if s.jsonOutput() {
			return s.printJSON(resp.GetKey())
		}
		if *compromised != "" {
			fmt.Fprintf(s.stdout, "Key %s removed and its tokens revoked; new signing key %s (%s).\n", clean(*compromised), clean(resp.GetKey().GetKid()), clean(resp.GetKey().GetAlg()))
			return nil
		}
		fmt.Fprintf(s.stdout, "New signing key %s (%s), state %s.\n", clean(resp.GetKey().GetKid()), clean(resp.GetKey().GetAlg()), keyState(resp.GetKey().GetState()))
		return nil
	}
}
