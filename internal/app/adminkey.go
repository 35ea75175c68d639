package app

import (
	"context"
	"log/slog"

	"github.com/gatehouse-dev/gatehouse/internal/config"
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
	return clients.New(st.clients, clients.WithLogger(log)).MintAdminKey(ctx, name, scopes...)
}
