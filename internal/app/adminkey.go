package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/services/audit"
	"github.com/gatehouse-dev/gatehouse/services/clients"
)

// MintAdminKey is `gatehouse admin create-key`: it opens the client
// registry's store, as `serve clients` would (--database-url, or the
// SQLite file under --data-dir), and makes an admin API key named name
// there. No server needs to run: this is the bootstrap of a deployment
// whose registry runs where no file can be read back (a pod without a
// shell), and the recovery when every admin key is lost.
func MintAdminKey(ctx context.Context, cfg *config.Config, log *slog.Logger, name string, scopes ...string) (raw string, key clients.APIKey, err error) {
	regCfg := *cfg
	regCfg.Service = "clients"
	st, err := openStorage(ctx, &regCfg, log)
	if err != nil {
		return "", clients.APIKey{}, err
	}
	defer st.close()
	// Audited like an admin call, and fail closed the same way: the record
	// is written before the key is made.
	rec, err := st.audit.Append(ctx, audit.Record{
		At: time.Now().UTC(), ActorKind: "local", Action: MintAdminKeyAction,
		Outcome: audit.OutcomePending, Remote: "local", Service: "cli",
	})
	if err != nil {
		return "", clients.APIKey{}, fmt.Errorf("admin audit trail unavailable: %w", err)
	}
	raw, key, err = clients.New(st.clients, clients.WithLogger(log)).MintAdminKey(ctx, name, scopes...)
	outcome, reason, targets := audit.OutcomeOK, "", []string{"client_id=" + clients.AdminClientID}
	if err != nil {
		outcome, reason = "Error", err.Error()
	} else {
		targets = append(targets, "key_id="+key.KeyID)
	}
	if ferr := st.audit.Finish(ctx, rec.Seq, outcome, reason, targets); ferr != nil {
		log.Error("admin audit: cannot store the outcome; the record stays pending", "seq", rec.Seq, "error", ferr)
	}
	return raw, key, err
}

// MintAdminKeyAction is the action of the audit records of `gatehouse
// admin create-key`, which makes keys without a server.
const MintAdminKeyAction = "gatehouse admin create-key"
