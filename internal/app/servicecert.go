package app

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/kek"
	"github.com/gatehouse-dev/gatehouse/pkg/authn"
	"github.com/gatehouse-dev/gatehouse/services/clients"
	"github.com/gatehouse-dev/gatehouse/services/keys"
)

// serviceScopes is what each service of a split deployment may call at its
// peers, granted to its identity certificate (authn.ServiceIdentities):
//
//   - every service validates requests, so it reads the revocation list,
//     verifies API keys and looks clients up (gatehouse:internal);
//   - the token service alone reads the signing key and checks client
//     secrets;
//   - the services that revoke as a side effect of their own work (a
//     refresh-token replay, a deleted client, a compromised key) record it.
var serviceScopes = map[string][]string{
	"token":      {"gatehouse:internal", "gatehouse:internal.client_secret", "gatehouse:internal.signing_key", "gatehouse:internal.revoke"},
	"clients":    {"gatehouse:internal", "gatehouse:internal.revoke"},
	"keys":       {"gatehouse:internal", "gatehouse:internal.revoke"},
	"revocation": {"gatehouse:internal"},
	"gateway":    {"gatehouse:internal"},
	"inventory":  {"gatehouse:internal"},
	"authz":      {"gatehouse:internal"},
}

// validatorScopes are the validator role's: a resource service outside
// Gatehouse that protects its own API with pkg/authn reads the revocation
// list, verifies the API keys presented to it and reads clients' tiers and
// names. gatehouse:internal would also let it read whole clients; the
// narrow scope is all a validator needs.
var validatorScopes = []string{clients.ValidatorScope}

// RoleValidator is the role of `gatehouse service-cert --role validator`:
// a resource service's identity with exactly validatorScopes.
const RoleValidator = "validator"

// CheckServiceIdentity decides what `gatehouse service-cert` may issue for
// name in role: a built-in service's identity (role empty, or the name of
// a built-in service), or with RoleValidator a resource service's
// validator identity, whose name must be a valid one of no built-in
// service. The two never meet: a validator certificate carries its own SAN
// URI prefix (authn.ValidatorURIPrefix), which ServiceIdentities never
// maps to a service's scopes.
func CheckServiceIdentity(name, role string) error {
	_, builtin := serviceScopes[name]
	switch role {
	case "":
		if !builtin {
			return fmt.Errorf("unknown service %q (want one of %s; for a resource service outside Gatehouse: --role %s)",
				name, builtinServices(), RoleValidator)
		}
		return nil
	case RoleValidator:
		if builtin {
			return fmt.Errorf("%q is a Gatehouse service: a validator identity needs a name of its own", name)
		}
		if err := authn.CheckValidatorName(name); err != nil {
			return fmt.Errorf("--name: %w", err)
		}
		return nil
	default:
		return fmt.Errorf("unknown role %q (the only role is %s; omit --role for a Gatehouse service)", role, RoleValidator)
	}
}

func builtinServices() string {
	return strings.Join(slices.Sorted(maps.Keys(serviceScopes)), ", ")
}

// ServiceCertFiles names the files IssueServiceCertificate writes in its
// output directory.
func ServiceCertFiles(dir, service string) (cert, key, ca string) {
	return filepath.Join(dir, service+".crt"), filepath.Join(dir, service+".key"), filepath.Join(dir, "ca.crt")
}

// IssueServiceCertificate is `gatehouse service-cert`: it opens the key
// service's store with the KEK, as `serve keys` would, and has the platform
// CA (created on first use) issue service's identity for hosts. It writes
// the certificate, its private key (mode 0600) and the platform CA
// certificate into dir. The operator runs it before the services start:
// a service cannot ask its peers for an identity it needs to reach them.
func IssueServiceCertificate(ctx context.Context, cfg *config.Config, log *slog.Logger, service string, hosts []string, validity time.Duration, dir string) error {
	return IssueIdentityCertificate(ctx, cfg, log, service, "", hosts, validity, dir)
}

// IssueIdentityCertificate is IssueServiceCertificate for name in role
// (CheckServiceIdentity): with RoleValidator, the validator identity of a
// resource service outside Gatehouse, written as <name>.crt and <name>.key.
func IssueIdentityCertificate(ctx context.Context, cfg *config.Config, log *slog.Logger, service, role string, hosts []string, validity time.Duration, dir string) error {
	if err := CheckServiceIdentity(service, role); err != nil {
		return err
	}
	if len(hosts) == 0 {
		return errors.New("--host: at least one DNS name or IP address the service is reached at")
	}
	k, _, err := kek.Load(cfg.KEKFile, cfg.KEK, cfg.DataDir)
	if err != nil {
		return fmt.Errorf("key-encryption key: %w", err)
	}
	// The key service's store alone, as `serve keys` opens it.
	keysCfg := *cfg
	keysCfg.Service = "keys"
	st, err := openStorage(ctx, &keysCfg, log)
	if err != nil {
		return err
	}
	defer st.close()
	m, err := keys.New(st.keys, k, keys.WithLogger(log))
	if err != nil {
		return err
	}
	defer m.Close()
	issue := m.ServiceCertificate
	if role == RoleValidator {
		issue = m.ValidatorCertificate
	}
	crt, err := issue(ctx, service, hosts, validity)
	if err != nil {
		return err
	}
	ca, err := m.CA(ctx)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(crt.PrivateKey)
	if err != nil {
		return fmt.Errorf("encode the private key: %w", err)
	}
	defer clear(keyDER)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	certFile, keyFile, caFile := ServiceCertFiles(dir, service)
	for _, f := range []struct {
		path  string
		block *pem.Block
		mode  os.FileMode
	}{
		{keyFile, &pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}, 0o600},
		{certFile, &pem.Block{Type: "CERTIFICATE", Bytes: crt.Certificate[0]}, 0o644},
		{caFile, &pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}, 0o644},
	} {
		if err := writePEM(f.path, f.block, f.mode); err != nil {
			return err
		}
	}
	return nil
}

// writePEM replaces path with block, through a temporary file so that a
// reader never sees half of it.
func writePEM(path string, block *pem.Block, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) //nolint:errcheck // gone after the rename
	err = tmp.Chmod(mode)
	if err == nil {
		err = pem.Encode(tmp, block)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
