package cli

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"time"

	keysv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/keys/v1"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

type keyService = keysv1.KeyManagementServiceClient

// keyManagement returns the KeyManagementService client, connecting first.
func (s *session) keyManagement() (keyService, error) {
	conn, err := s.connect()
	if err != nil {
		return nil, err
	}
	return keysv1.NewKeyManagementServiceClient(conn), nil
}

// invokeKeys makes one KeyManagementService call with the --timeout
// deadline.
func invokeKeys[T any](ctx context.Context, s *session, what string, call func(context.Context, keyService) (T, error)) (T, error) {
	return invokeOn(ctx, s, what, (*session).keyManagement, call)
}

func certsGroup() *group {
	return &group{
		name:    "certs",
		summary: "issue partners' mTLS client certificates from the platform CA",
		commands: []*command{
			{
				name: "issue", synopsis: "--client ID --csr FILE [--validity 90d] [--out FILE]",
				summary: "sign a partner's CSR for a client; revoke with 'gatehouse revoke certificate SERIAL'",
				setup:   certsIssue,
			},
			{
				name: "list", synopsis: "--client ID",
				summary: "list the certificates issued to a client, newest first",
				setup:   certsList,
			},
			{
				name: "revoke", synopsis: "--serial SERIAL [--reason R]",
				summary: "revoke a certificate by serial: refused at the TLS handshake and by every validator",
				setup:   certsRevoke,
			},
			{
				name: "ca", synopsis: "[--out FILE]",
				summary: "print the platform CA certificate (PEM), which partners trust",
				setup:   certsCA,
			},
		},
	}
}

// maxCertValidity is the longest validity the CA gives a client
// certificate.
const maxCertValidity = 90 * 24 * time.Hour

// maxCSRFile bounds what --csr reads; the server refuses larger requests.
const maxCSRFile = 64 << 10

// readCSR reads the CSR file and makes sure it is not a private key, which
// must never leave the partner, let alone reach the server.
func readCSR(cmd, path string) ([]byte, error) {
	info, err := os.Stat(path)
	if err == nil && info.Size() > maxCSRFile {
		return nil, fmt.Errorf("%s: --csr %s is larger than %d bytes: not a certificate request", cmd, path, maxCSRFile)
	}
	b, err := os.ReadFile(path) //nolint:gosec // the admin names the file on purpose
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is in the message already
		}
		return nil, fmt.Errorf("%s: read --csr %s: %w", cmd, path, err)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, fmt.Errorf("%s: --csr %s is empty", cmd, path)
	}
	if holdsPrivateKey(b) {
		clear(b)
		return nil, fmt.Errorf("%s: --csr %s holds a private key, not a certificate request: nothing was sent; the partner keeps the key and sends a CSR (e.g. openssl req -new -key partner.key -subj /CN=partner -out partner.csr)", cmd, path)
	}
	return b, nil
}

// holdsPrivateKey reports whether b is, or has a PEM block of, a private
// key.
func holdsPrivateKey(b []byte) bool {
	if bytes.Contains(b, []byte("PRIVATE KEY-----")) {
		return true
	}
	if _, err := x509.ParsePKCS8PrivateKey(b); err == nil {
		return true
	}
	if _, err := x509.ParseECPrivateKey(b); err == nil {
		return true
	}
	_, err := x509.ParsePKCS1PrivateKey(b)
	return err == nil
}

// writeFile writes a certificate (public) to path.
func writeFile(cmd, path string, b []byte) error {
	if err := os.WriteFile(path, b, 0o644); err != nil { //nolint:gosec // a certificate is public; the admin names the file
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("%s: write --out %s: %w", cmd, path, err)
	}
	return nil
}

// pemText renders PEM bytes from the server as JSON text rather than
// base64, so the output can be pasted into a file.
func pemText(out map[string]any, fields map[string][]byte) {
	for name, b := range fields {
		if len(b) > 0 {
			out[name] = string(b)
		}
	}
}

func certsIssue(fs *flag.FlagSet) action {
	client := fs.String("client", "", "`ID` of the client the certificate is issued to (required)")
	csrFile := fs.String("csr", "", "`FILE` holding the partner's PKCS #10 request, PEM or DER, without extensions (required)")
	validity := durationFlag{d: maxCertValidity}
	fs.Var(positive{&validity}, "validity", "`duration` of the certificate, e.g. 30d; at most 90d")
	out := fs.String("out", "", "write the certificate (PEM) to `FILE` instead of printing it")
	return func(ctx context.Context, s *session, _ []string) error {
		const cmd = "certs issue"
		if *client == "" {
			return fmt.Errorf("%s: --client is required (run 'gatehouse %s -h')", cmd, cmd)
		}
		if *csrFile == "" {
			return fmt.Errorf("%s: --csr is required (run 'gatehouse %s -h')", cmd, cmd)
		}
		if validity.d > maxCertValidity {
			return fmt.Errorf("%s: --validity %s is longer than the %s a client certificate may have", cmd, formatDuration(validity.d), formatDuration(maxCertValidity))
		}
		csr, err := readCSR(cmd, *csrFile)
		if err != nil {
			return err
		}
		req := &keysv1.IssueClientCertificateRequest{ClientId: *client, CsrPem: csr}
		if setFlags(fs)["validity"] {
			req.Validity = durationpb.New(validity.d)
		}
		resp, err := invokeKeys(ctx, s, "issue certificate for client "+*client, func(ctx context.Context, kc keyService) (*keysv1.IssueClientCertificateResponse, error) {
			return kc.IssueClientCertificate(ctx, req)
		})
		if err != nil {
			return err
		}
		if *out != "" {
			if err := writeFile(cmd, *out, resp.GetCertificatePem()); err != nil {
				return fmt.Errorf("%w (the certificate was issued: serial %s)", err, clean(resp.GetSerial()))
			}
		}
		if s.jsonOutput() {
			m, err := toMap(resp)
			if err != nil {
				return err
			}
			m["client_id"] = *client
			pemText(m, map[string][]byte{"certificate_pem": resp.GetCertificatePem(), "ca_certificate_pem": resp.GetCaCertificatePem()})
			if *out != "" {
				m["certificate_file"] = *out
			}
			return s.printJSONValue(m)
		}
		fmt.Fprintf(s.stdout, "Issued certificate %s to client %s.\n", clean(resp.GetSerial()), clean(*client))
		k := &kv{}
		k.add("serial", clean(resp.GetSerial()))
		k.add("client_id", clean(*client))
		k.add("thumbprint", clean(resp.GetThumbprint()))
		k.add("start_time", timeText(resp.GetStartTime()))
		k.add("expire_time", timeText(resp.GetExpireTime()))
		if *out != "" {
			k.add("certificate", clean(*out))
		}
		k.write(s.stdout)
		if *out == "" {
			// PEM readers skip the text above the block.
			fmt.Fprintf(s.stdout, "\n%s", resp.GetCertificatePem())
		}
		return nil
	}
}

func certsList(fs *flag.FlagSet) action {
	client := fs.String("client", "", "`ID` of the client whose certificates to list (required)")
	return func(ctx context.Context, s *session, _ []string) error {
		const cmd = "certs list"
		if *client == "" {
			return fmt.Errorf("%s: --client is required (run 'gatehouse %s -h')", cmd, cmd)
		}
		resp, err := invokeKeys(ctx, s, "list certificates of client "+*client, func(ctx context.Context, kc keyService) (*keysv1.ListClientCertificatesResponse, error) {
			return kc.ListClientCertificates(ctx, &keysv1.ListClientCertificatesRequest{ClientId: *client})
		})
		if err != nil {
			return err
		}
		certs := resp.GetCertificates()
		if s.jsonOutput() {
			items, err := jsonItems(certs)
			if err != nil {
				return err
			}
			for i, c := range certs {
				pemText(items[i].(map[string]any), map[string][]byte{"certificate_pem": c.GetCertificatePem()})
			}
			return s.printJSONValue(map[string]any{"certificates": items})
		}
		if len(certs) == 0 {
			fmt.Fprintf(s.stdout, "No certificates for client %s.\n", clean(*client))
			return nil
		}
		now := time.Now()
		t := newTable(s.stdout, "SERIAL", "STATUS", "THUMBPRINT", "START", "EXPIRES")
		for _, c := range certs {
			t.row(clean(c.GetSerial()), certStatus(c.GetStartTime(), c.GetExpireTime(), now), clean(c.GetThumbprint()),
				timeText(c.GetStartTime()), timeText(c.GetExpireTime()))
		}
		t.flush()
		return nil
	}
}

// certStatus says whether a certificate is within its validity. Revoked
// certificates are in the revocation list, not here.
func certStatus(start, expire *timestamppb.Timestamp, now time.Time) string {
	switch {
	case expire != nil && !now.Before(expire.AsTime()):
		return "expired"
	case start != nil && now.Before(start.AsTime()):
		return "not yet valid"
	}
	return "valid"
}

func certsCA(fs *flag.FlagSet) action {
	out := fs.String("out", "", "write the CA certificate (PEM) to `FILE` instead of printing it")
	return func(ctx context.Context, s *session, _ []string) error {
		const cmd = "certs ca"
		resp, err := invokeKeys(ctx, s, "get the platform CA", func(ctx context.Context, kc keyService) (*keysv1.GetPlatformCAResponse, error) {
			return kc.GetPlatformCA(ctx, &keysv1.GetPlatformCARequest{})
		})
		if err != nil {
			return err
		}
		if *out != "" {
			if err := writeFile(cmd, *out, resp.GetCertificatePem()); err != nil {
				return err
			}
		}
		if s.jsonOutput() {
			m, err := toMap(resp)
			if err != nil {
				return err
			}
			pemText(m, map[string][]byte{"certificate_pem": resp.GetCertificatePem()})
			if *out != "" {
				m["certificate_file"] = *out
			}
			return s.printJSONValue(m)
		}
		if *out != "" {
			fmt.Fprintf(s.stdout, "Wrote the platform CA certificate to %s.\n", clean(*out))
			k := &kv{}
			k.add("serial", clean(resp.GetSerial()))
			k.add("expire_time", timeText(resp.GetExpireTime()))
			k.write(s.stdout)
			return nil
		}
		// Only the PEM, so that `gatehouse certs ca > ca.pem` is the file.
		fmt.Fprint(s.stdout, strings.TrimRight(string(resp.GetCertificatePem()), "\n")+"\n")
		return nil
	}
}

func certsRevoke(fs *flag.FlagSet) action {
	serial := fs.String("serial", "", "`SERIAL` of the certificate (hex), as 'gatehouse certs list' shows it (required)")
	reason := fs.String("reason", "", "why, for the audit trail")
	return func(ctx context.Context, s *session, _ []string) error {
		if *serial == "" {
			return fmt.Errorf("certs revoke: --serial is required (run 'gatehouse certs revoke -h')")
		}
		// Client certificates live at most 90 days: the entry may go then.
		k := revokeKindNamed("certificate")
		e, err := revokeEntry(ctx, s, k, strings.ToLower(*serial), *reason, maxCertValidity)
		if err != nil {
			return err
		}
		return printEntry(s, k, e, "")
	}
}
