package cli

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	auditv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/audit/v1"
	eventsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/events/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func auditGroup() *group {
	return &group{
		name:    "audit",
		summary: "read the admin audit trail: every admin change and refused attempt",
		commands: []*command{
			{
				name: "list", synopsis: "[--actor ID] [--target ID] [--since TIME|DURATION] [--limit N]",
				summary: "list admin actions, newest first",
				setup:   auditList,
			},
		},
	}
}

// maxAuditListed bounds what one `audit list` prints.
const maxAuditListed = 10000

func (s *session) audit() (auditv1.AuditServiceClient, error) {
	conn, err := s.connect()
	if err != nil {
		return nil, err
	}
	return auditv1.NewAuditServiceClient(conn), nil
}

func auditList(fs *flag.FlagSet) action {
	actor := fs.String("actor", "", "only the actions of this client id or API key id")
	target := fs.String("target", "", "only the actions naming this id (client, key, user, kid, serial, scope)")
	since := fs.String("since", "", "only the actions since this RFC 3339 time, or this long ago (24h)")
	limit := fs.Int("limit", 100, "at most this many actions (1 to 10000)")
	return func(ctx context.Context, s *session, _ []string) error {
		const cmd = "audit list"
		if *limit < 1 || *limit > maxAuditListed {
			return fmt.Errorf("%s: --limit is 1 to %d", cmd, maxAuditListed)
		}
		req := &auditv1.ListAdminActionsRequest{Actor: *actor, Target: *target}
		if *since != "" {
			t, err := sinceTime(*since, time.Now())
			if err != nil {
				return fmt.Errorf("%s: --since: %w", cmd, err)
			}
			req.Since = timestamppb.New(t)
		}
		var actions []*eventsv1.AdminAction
		for len(actions) < *limit {
			req.PageSize = int32(min(*limit-len(actions), 1000)) //nolint:gosec // at most 1000
			resp, err := invokeOn(ctx, s, "list admin actions", (*session).audit,
				func(ctx context.Context, c auditv1.AuditServiceClient) (*auditv1.ListAdminActionsResponse, error) {
					return c.ListAdminActions(ctx, req)
				})
			if err != nil {
				return err
			}
			actions = append(actions, resp.GetActions()...)
			if resp.GetNextPageToken() == "" {
				break
			}
			req.PageToken = resp.GetNextPageToken()
		}
		if s.jsonOutput() {
			items, err := jsonItems(actions)
			if err != nil {
				return err
			}
			return s.printJSONValue(map[string]any{"actions": items})
		}
		if len(actions) == 0 {
			fmt.Fprintln(s.stdout, "No admin actions.")
			return nil
		}
		t := newTable(s.stdout, "TIME", "ACTOR", "KEY", "ACTION", "TARGETS", "OUTCOME", "REMOTE")
		for _, a := range actions {
			key := a.GetActorKeyId()
			if n := a.GetActorKeyName(); n != "" {
				key += " (" + n + ")"
			}
			if key == "" {
				key = a.GetActorCertSerial()
			}
			outcome := a.GetOutcome()
			if r := a.GetReason(); r != "" {
				outcome += ": " + r
			}
			action := a.GetAction()[strings.LastIndexByte(a.GetAction(), '/')+1:]
			t.row(timeText(a.GetAt()), orDash(clean(a.GetActorClientId())), orDash(clean(key)), clean(action),
				orDash(clean(strings.Join(a.GetTargets(), " "))), clean(outcome), orDash(clean(a.GetRemote())))
		}
		t.flush()
		return nil
	}
}

// sinceTime reads --since: an RFC 3339 time, or a duration back from now.
func sinceTime(v string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time nor a duration such as 24h", v)
	}
	return now.Add(-d), nil
}
