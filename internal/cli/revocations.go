package cli

import (
	"context"
	"flag"
	"fmt"
	"strings"

	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"github.com/gatehouse-dev/gatehouse/pkg/revlist"
)

func revocationsGroup() *group {
	return &group{
		name:    "revocations",
		summary: "read the revocation list every validator follows",
		commands: []*command{
			{
				name: "list", synopsis: "[--since SEQ] [--kind KIND] [--limit N]",
				summary: "list the live entries in sequence order (expired ones are dropped)",
				setup:   revocationsList,
			},
		},
	}
}

// maxRevocationsListed bounds what one `revocations list` prints; --since
// pages further.
const maxRevocationsListed = 10000

func revocationsList(fs *flag.FlagSet) action {
	since := fs.Int64("since", 0, "list the entries after this sequence number")
	kind := fs.String("kind", "", "only this kind, named as the revoke commands are: access-token, refresh-family, api-key, client, subject, certificate, signing-key")
	limit := fs.Int("limit", 1000, "at most this many entries (1 to 10000)")
	return func(ctx context.Context, s *session, _ []string) error {
		const cmd = "revocations list"
		want := revocationv1.Kind_KIND_UNSPECIFIED
		if *kind != "" {
			if want = revlist.ParseKind(strings.ReplaceAll(*kind, "-", "_")); want == revocationv1.Kind_KIND_UNSPECIFIED {
				return fmt.Errorf("%s: --kind %q is not a kind (run 'gatehouse %s -h')", cmd, *kind, cmd)
			}
		}
		if *limit < 1 || *limit > maxRevocationsListed || *since < 0 {
			return fmt.Errorf("%s: --limit is 1 to %d and --since is not negative", cmd, maxRevocationsListed)
		}
		var entries []*revocationv1.Entry
		var head int64
		cursor := *since
		for len(entries) < *limit {
			resp, err := invokeOn(ctx, s, "list revocations", (*session).revocations,
				func(ctx context.Context, rc revocationv1.RevocationServiceClient) (*revocationv1.ListResponse, error) {
					return rc.List(ctx, &revocationv1.ListRequest{SinceSeq: cursor, PageSize: 1000})
				})
			if err != nil {
				return err
			}
			head = resp.GetHeadSeq()
			for _, e := range resp.GetEntries() {
				cursor = e.GetSeq()
				if want == revocationv1.Kind_KIND_UNSPECIFIED || e.GetKind() == want {
					entries = append(entries, e)
				}
			}
			if len(resp.GetEntries()) == 0 || cursor >= head {
				break
			}
		}
		if len(entries) > *limit {
			entries = entries[:*limit]
		}
		if s.jsonOutput() {
			items, err := jsonItems(entries)
			if err != nil {
				return err
			}
			return s.printJSONValue(map[string]any{"entries": items, "head_seq": head})
		}
		if len(entries) == 0 {
			fmt.Fprintf(s.stdout, "No entries after %d (head %d).\n", *since, head)
			return nil
		}
		t := newTable(s.stdout, "SEQ", "KIND", "ID", "REASON", "REVOKED", "EXPIRES")
		for _, e := range entries {
			t.row(fmt.Sprint(e.GetSeq()), enumFlagValue(e.GetKind().Descriptor(), e.GetKind().String()), clean(e.GetId()), orDash(clean(e.GetReason())),
				timeText(e.GetRevokeTime()), never(e.GetExpireTime()))
		}
		t.flush()
		return nil
	}
}
