package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// CredentialsFile is the name of the bootstrap admin credential file in the
// data directory.
const CredentialsFile = "admin-credentials.json"

// Credentials is the content of admin-credentials.json.
type Credentials struct {
	APIKey   string `json:"api_key"`
	GRPCAddr string `json:"grpc_addr"`
	HTTPAddr string `json:"http_addr"`
	// NATSURL is the embedded NATS server's URL, for services on this
	// machine that follow Gatehouse's events; empty with --nats-url.
	NATSURL string `json:"nats_url,omitempty"`
	// AdminAddr is the admin listener's address (--admin-addr), where the
	// CLI calls over TLS; empty when admin calls use grpc_addr.
	AdminAddr string `json:"admin_addr,omitempty"`
	// AdminCAFile is the CA certificate the admin listener's certificate
	// chains to, relative to this file's directory; empty when the
	// operator supplied the certificate (--tls-cert).
	AdminCAFile string `json:"admin_ca_file,omitempty"`
}

// Marshal is the content of admin-credentials.json, which holds the key:
// for its 0600 file, or a Kubernetes Secret.
func (c Credentials) Marshal() ([]byte, error) {
	return json.MarshalIndent(c, "", "  ") //nolint:gosec // the file (or Secret) is where the key goes
}

// WriteCredentials writes the file with mode 0600 through a temporary file
// and a rename, so a reader never sees half a file.
func WriteCredentials(path string, c Credentials) error {
	b, err := c.Marshal()
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".admin-credentials-*")
	if err != nil {
		return fmt.Errorf("create credentials file: %w", err)
	}
	defer os.Remove(tmp.Name()) //nolint:errcheck // gone after the rename
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close() //nolint:errcheck,gosec // already failing
		return fmt.Errorf("chmod credentials file: %w", err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close() //nolint:errcheck,gosec // already failing
		return fmt.Errorf("write credentials file: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close() //nolint:errcheck,gosec // already failing
		return fmt.Errorf("sync credentials file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close credentials file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("install credentials file: %w", err)
	}
	return nil
}

// refreshAddresses updates the listen addresses in an existing credentials
// file (they change between runs when a port is 0) and keeps its key. A
// missing file is left missing: the key was shown once.
func refreshAddresses(path string, addrs Credentials) error {
	b, err := os.ReadFile(path) //nolint:gosec // path is <data-dir>/admin-credentials.json from configuration
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read credentials file: %w", err)
	}
	var c Credentials
	if err := json.Unmarshal(b, &c); err != nil {
		return fmt.Errorf("credentials file %s is not valid JSON", path)
	}
	addrs.APIKey = c.APIKey
	if c == addrs {
		return nil
	}
	return WriteCredentials(path, addrs)
}
