package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	revocationv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/revocation/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func (s *session) jsonOutput() bool { return s.opts.output == "json" }

// toMap renders m as protojson with the proto field names (snake_case)
// and decodes it into a generic map, then writes its values as the CLI's
// flags take them (flagValues), so that what -o json prints can be given
// back to a command. False booleans, zero numbers, empty strings and empty
// lists are present: a script reads "disabled": false rather than guess
// what a missing field means.
func toMap(m proto.Message) (map[string]any, error) {
	b, err := protojson.MarshalOptions{UseProtoNames: true, EmitDefaultValues: true}.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("encode output: %w", err)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	out := map[string]any{}
	if err := d.Decode(&out); err != nil {
		return nil, fmt.Errorf("encode output: %w", err)
	}
	flagValues(m.ProtoReflect().Descriptor(), out)
	return out, nil
}

// flagValues rewrites, in place, the protojson values of the fields of md
// found in out into the CLI's own spelling: enums in lower case without
// their prefix (first_party, standard, body; a revocation kind with
// dashes, as the revoke command is named), durations as --ttl and the
// like take them (10m, 90d, not "600s"). The REST API keeps protojson;
// only the CLI's output changes.
func flagValues(md protoreflect.MessageDescriptor, out map[string]any) {
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		v, ok := out[string(fd.Name())]
		if !ok || fd.IsMap() {
			continue
		}
		conv := fieldConverter(fd)
		if conv == nil {
			continue
		}
		if list, isList := v.([]any); isList && fd.IsList() {
			for j, item := range list {
				list[j] = conv(item)
			}
			continue
		}
		out[string(fd.Name())] = conv(v)
	}
}

// fieldConverter returns how one value of fd is rewritten, or nil when it
// is left as protojson wrote it (strings, numbers, timestamps, bytes).
func fieldConverter(fd protoreflect.FieldDescriptor) func(any) any {
	switch fd.Kind() {
	case protoreflect.EnumKind:
		ed := fd.Enum()
		return func(v any) any {
			name, ok := v.(string)
			if !ok {
				return v
			}
			return enumFlagValue(ed, name)
		}
	case protoreflect.MessageKind, protoreflect.GroupKind:
		md := fd.Message()
		switch md.FullName() {
		case "google.protobuf.Duration":
			return func(v any) any {
				s, ok := v.(string)
				if !ok {
					return v
				}
				d, err := time.ParseDuration(s)
				if err != nil {
					return v
				}
				return formatDuration(d)
			}
		}
		if md.ParentFile().Package() == "google.protobuf" {
			return nil
		}
		return func(v any) any {
			if inner, ok := v.(map[string]any); ok {
				flagValues(md, inner)
			}
			return v
		}
	}
	return nil
}

// enumFlagValue is the flag spelling of an enum value: its name without
// the enum's prefix, in lower case. The unspecified value is "" (what the
// flags that have a default take to mean it), except the rate-limit tier,
// whose default is standard and whose flag takes no empty value.
func enumFlagValue(ed protoreflect.EnumDescriptor, name string) string {
	values := ed.Values()
	if values.Len() == 0 {
		return name
	}
	prefix := strings.TrimSuffix(string(values.Get(0).Name()), "UNSPECIFIED")
	if string(values.Get(0).Name()) == name {
		if ed.FullName() == clientsv1.RateLimitTier(0).Descriptor().FullName() {
			return "standard"
		}
		return ""
	}
	v := strings.ToLower(strings.TrimPrefix(name, prefix))
	if ed.FullName() == revocationv1.Kind(0).Descriptor().FullName() {
		v = strings.ReplaceAll(v, "_", "-")
	}
	return v
}

// printJSON writes m as one JSON object. The fields of the nested messages
// named in flatten move to the top level (a top-level field of the same
// name wins), so `{"api_key":..., "key":{"key_id":...}}` is printed as
// `{"api_key":..., "key_id":...}`.
func (s *session) printJSON(m proto.Message, flatten ...string) error {
	out, err := toMap(m)
	if err != nil {
		return err
	}
	for _, name := range flatten {
		inner, ok := out[name].(map[string]any)
		delete(out, name)
		if !ok {
			continue
		}
		for k, v := range inner {
			if _, clash := out[k]; !clash {
				out[k] = v
			}
		}
	}
	return s.printJSONValue(out)
}

// jsonItems renders each message as a JSON object; an empty list is [],
// not absent.
func jsonItems[T proto.Message](msgs []T) ([]any, error) {
	items := make([]any, 0, len(msgs))
	for _, m := range msgs {
		item, err := toMap(m)
		if err != nil {
			return nil, err
		}
		items = append(items, item)
	}
	return items, nil
}

// printJSONValue writes v indented, keys sorted, followed by a newline.
func (s *session) printJSONValue(v any) error {
	enc := json.NewEncoder(s.stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// secretWarning follows every secret printed in text mode.
func secretWarning(w io.Writer, what string) {
	fmt.Fprintf(w, "Store the %s now: it will not be shown again.\n", what)
}

// kv prints aligned "key: value" lines.
type kv struct{ rows [][2]string }

func (k *kv) add(key, val string) { k.rows = append(k.rows, [2]string{key, val}) }

func (k *kv) write(w io.Writer) {
	width := 0
	for _, r := range k.rows {
		width = max(width, len(r[0]))
	}
	for _, r := range k.rows {
		fmt.Fprintf(w, "%-*s %s\n", width+1, r[0]+":", r[1])
	}
}

// table prints tab-aligned columns.
type table struct {
	tw *tabwriter.Writer
}

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)}
	t.row(header...)
	return t
}

func (t *table) row(cells ...string) { fmt.Fprintln(t.tw, strings.Join(cells, "\t")) }

func (t *table) flush() { _ = t.tw.Flush() }

// clean makes a server-provided string safe to show in a terminal: one
// with control characters (line breaks, tabs, escape sequences) is quoted.
func clean(s string) string {
	if strings.ContainsFunc(s, unicode.IsControl) {
		return strconv.Quote(s)
	}
	return s
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return clean(s)
}

func list(vals []string) string {
	if len(vals) == 0 {
		return "-"
	}
	out := make([]string, len(vals))
	for i, v := range vals {
		out[i] = clean(v)
	}
	return strings.Join(out, ",")
}

func timeText(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return "-"
	}
	return ts.AsTime().UTC().Format(time.RFC3339)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func clientTypeText(t clientsv1.ClientType) string {
	if t == clientsv1.ClientType_CLIENT_TYPE_UNSPECIFIED {
		return "-"
	}
	return enumName(t.String(), "CLIENT_TYPE_")
}

func tierText(t clientsv1.RateLimitTier) string {
	if t == clientsv1.RateLimitTier_RATE_LIMIT_TIER_UNSPECIFIED {
		return "standard"
	}
	return enumName(t.String(), "RATE_LIMIT_TIER_")
}

func clientKV(c *clientsv1.Client) *kv {
	k := &kv{}
	k.add("client_id", clean(c.GetClientId()))
	k.add("name", clean(c.GetName()))
	k.add("type", clientTypeText(c.GetType()))
	k.add("public", yesNo(c.GetPublic()))
	k.add("grant_types", list(c.GetGrantTypes()))
	k.add("redirect_uris", list(c.GetRedirectUris()))
	k.add("resources", list(c.GetResources()))
	k.add("scopes", list(c.GetScopes()))
	k.add("token_endpoint_auth_method", orDash(c.GetTokenEndpointAuthMethod()))
	if t := c.GetTlsClientAuth(); t != nil {
		for _, f := range []struct{ name, val string }{
			{"subject_dn", t.GetSubjectDn()}, {"san_dns", t.GetSanDns()}, {"san_uri", t.GetSanUri()},
			{"san_ip", t.GetSanIp()}, {"san_email", t.GetSanEmail()},
		} {
			if f.val != "" {
				k.add("tls_client_auth."+f.name, clean(f.val))
			}
		}
		if len(t.GetCertificateThumbprints()) > 0 {
			k.add("tls_client_auth.certificate_thumbprints", list(t.GetCertificateThumbprints()))
		}
		k.add("tls_client_auth.bound_access_tokens", yesNo(t.GetBoundAccessTokens()))
	}
	lifetime := "-"
	if d := c.GetAccessTokenLifetime(); d != nil {
		lifetime = formatDuration(d.AsDuration())
	}
	k.add("access_token_lifetime", lifetime)
	k.add("rate_limit_tier", tierText(c.GetRateLimitTier()))
	k.add("require_consent", yesNo(c.GetRequireConsent()))
	k.add("dpop_bound_access_tokens", yesNo(c.GetDpopBoundAccessTokens()))
	k.add("require_pushed_authorization_requests", yesNo(c.GetRequirePushedAuthorizationRequests()))
	k.add("disabled", yesNo(c.GetDisabled()))
	k.add("create_time", timeText(c.GetCreateTime()))
	k.add("update_time", timeText(c.GetUpdateTime()))
	return k
}

func scopeKV(sc *clientsv1.Scope) *kv {
	k := &kv{}
	k.add("name", clean(sc.GetName()))
	k.add("description", orDash(sc.GetDescription()))
	k.add("system", yesNo(sc.GetSystem()))
	k.add("create_time", timeText(sc.GetCreateTime()))
	return k
}

func apiKeyKV(ak *clientsv1.APIKey) *kv {
	k := &kv{}
	k.add("key_id", clean(ak.GetKeyId()))
	k.add("client_id", clean(ak.GetClientId()))
	k.add("scopes", list(ak.GetScopes()))
	k.add("status", keyStatus(ak, time.Now()))
	k.add("expire_time", never(ak.GetExpireTime()))
	k.add("description", orDash(ak.GetDescription()))
	k.add("create_time", timeText(ak.GetCreateTime()))
	k.add("last_used_time", timeText(ak.GetLastUsedTime()))
	if ak.GetRevokeTime() != nil {
		k.add("revoke_time", timeText(ak.GetRevokeTime()))
	}
	if ak.GetReplacedBy() != "" {
		k.add("replaced_by", clean(ak.GetReplacedBy()))
	}
	return k
}

func never(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return "never"
	}
	return timeText(ts)
}

// keyStatus summarizes whether a key works.
func keyStatus(k *clientsv1.APIKey, now time.Time) string {
	expired := k.GetExpireTime() != nil && !now.Before(k.GetExpireTime().AsTime())
	switch {
	case k.GetRevoked():
		return "revoked"
	case expired:
		return "expired"
	case k.GetReplacedBy() != "":
		return "rotated"
	}
	return "active"
}
