package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"

	clientsv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/clients/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
)

const (
	grantTypesHelp = "comma-separated grant `types`: authorization_code, client_credentials, refresh_token"
	authMethodHelp = "token endpoint auth `method`: client_secret_basic (default for confidential clients), client_secret_post, tls_client_auth, self_signed_tls_client_auth, or none (public clients)"
	lifetimeHelp   = "access token `lifetime`, e.g. 10m: 5m to 15m for first-party clients, at most 60m for third-party ones (default 10m)"
	tierHelp       = "rate-limit `tier`: standard (default), high, low or internal"
	idTokenHelp    = "ID token `lifetime` (authorization_code clients), e.g. 10m: 1m to 60m; unset or 0: the server default (5m out of the box)"
	postLogoutHelp = "comma-separated post-logout redirect `URIs` (OpenID Connect RP-initiated logout; authorization_code clients, at most 20): the rules of --redirect-uris; repeat the flag to add more"
	deliveryHelp   = "refresh token `delivery` (refresh_token grant only): body (the default: in the token response, for mobile and native apps) or cookie (an HttpOnly, SameSite=Strict cookie, never in the body, for browser SPAs: public first-party clients with an http(s) redirect URI); empty resets to the default"
)

// clientFlags are the flags create and update share.
type clientFlags struct {
	name         *string
	grantTypes   listFlag
	redirectURIs listFlag
	resources    listFlag
	scopes       listFlag
	authMethod   *string
	lifetime     durationFlag
	tier         tierFlag
	consent      *bool
	delivery     deliveryFlag
	tls          tlsFlags

	// OpenID Connect.
	postLogoutURIs        listFlag
	backchannelURI        *string
	backchannelSessionReq *bool
	idTokenLifetime       durationFlag

	// DPoP (RFC 9449).
	dpopBound *bool

	// Pushed authorization requests (RFC 9126).
	requirePAR *bool
}

func (f *clientFlags) register(fs *flag.FlagSet, update bool) {
	nameHelp := "client `name` shown in the admin UI and on consent pages"
	if !update {
		nameHelp += " (required)"
	}
	f.name = fs.String("name", "", nameHelp)
	fs.Var(&f.grantTypes, "grant-types", grantTypesHelp)
	fs.Var(&f.scopes, "scopes", "comma-separated `scopes` the client may be granted, each in the scope catalogue")
	fs.Var(&f.redirectURIs, "redirect-uris", "comma-separated redirect `URIs` (authorization_code clients): https, or http on a loopback IP; a public first-party client (native app) may also use one private-use scheme URI per scheme, such as com.example.app:/oauth2redirect (RFC 8252 §7.1)")
	fs.Var(&f.resources, "resources", "comma-separated resource indicators (RFC 8707) the client may request tokens for, each the token's aud: absolute https `URIs` (or http on a loopback IP), no fragment")
	f.authMethod = fs.String("auth-method", "", authMethodHelp)
	fs.Var(&f.lifetime, "access-token-lifetime", lifetimeHelp)
	fs.Var(&f.tier, "rate-limit-tier", tierHelp)
	f.consent = fs.Bool("require-consent", false, "show a consent page in the authorization code flow (always on for third-party clients using it)")
	fs.Var(&f.delivery, "refresh-token-delivery", deliveryHelp)
	f.tls.register(fs)
	fs.Var(&f.postLogoutURIs, "post-logout-redirect-uris", postLogoutHelp)
	fs.Var(&f.postLogoutURIs, "post-logout-redirect-uri", "same as --post-logout-redirect-uris `URIs`")
	f.backchannelURI = fs.String("backchannel-logout-uri", "", "back-channel logout `URI` (OpenID Connect; authorization_code clients) to which logout tokens are posted: https, or http on a loopback IP; may have a query, no fragment; empty removes it")
	f.backchannelSessionReq = fs.Bool("backchannel-logout-session-required", false, "put the sid claim in the client's logout tokens (needs --backchannel-logout-uri)")
	fs.Var(&f.idTokenLifetime, "id-token-lifetime", idTokenHelp)
	f.requirePAR = fs.Bool("require-pushed-authorization-requests", false, "accept the client's authorization requests only pushed to /oauth2/par first (RFC 9126); authorization_code clients")
	f.dpopBound = fs.Bool("dpop-bound-access-tokens", false, "require a DPoP proof (RFC 9449) at the token endpoint, so every access token of the client is bound to its DPoP key")
}

// openID lays the OpenID Connect flags given over c.
func (f *clientFlags) openID(set map[string]bool, c *clientsv1.Client) {
	c.PostLogoutRedirectUris = f.postLogoutURIs.vals
	c.BackchannelLogoutUri = *f.backchannelURI
	c.BackchannelLogoutSessionRequired = *f.backchannelSessionReq
	if set["id-token-lifetime"] {
		c.IdTokenLifetime = durationpb.New(f.idTokenLifetime.d)
	}
}

// deliveryFlag is --refresh-token-delivery: body or cookie, or empty for
// unspecified (the default: body for clients with the refresh_token grant).
type deliveryFlag struct {
	v clientsv1.RefreshTokenDelivery
}

func (f *deliveryFlag) String() string {
	if f == nil || f.v == clientsv1.RefreshTokenDelivery_REFRESH_TOKEN_DELIVERY_UNSPECIFIED {
		return ""
	}
	return enumName(f.v.String(), "REFRESH_TOKEN_DELIVERY_")
}

func (f *deliveryFlag) Set(v string) error {
	if strings.TrimSpace(v) == "" {
		f.v = clientsv1.RefreshTokenDelivery_REFRESH_TOKEN_DELIVERY_UNSPECIFIED
		return nil
	}
	n, ok := clientsv1.RefreshTokenDelivery_value["REFRESH_TOKEN_DELIVERY_"+enumKey(v)]
	if !ok || n == 0 {
		return errors.New("must be body or cookie (or empty for the default)")
	}
	f.v = clientsv1.RefreshTokenDelivery(n)
	return nil
}

func deliveryText(d clientsv1.RefreshTokenDelivery) string {
	if d == clientsv1.RefreshTokenDelivery_REFRESH_TOKEN_DELIVERY_UNSPECIFIED {
		return "-"
	}
	return enumName(d.String(), "REFRESH_TOKEN_DELIVERY_")
}

// clientDetails is clientKV with the refresh-token delivery, shown after
// the grant types it depends on, and the OpenID Connect settings: the
// post-logout redirect URIs after the redirect URIs, the back-channel
// logout and ID token lifetime after the access token lifetime.
func clientDetails(c *clientsv1.Client) *kv {
	k := clientKV(c)
	insertAfter(k, "grant_types", [2]string{"refresh_token_delivery", deliveryText(c.GetRefreshTokenDelivery())})
	insertAfter(k, "redirect_uris", [2]string{"post_logout_redirect_uris", list(c.GetPostLogoutRedirectUris())})
	idLifetime := "default"
	if d := c.GetIdTokenLifetime(); d != nil && d.AsDuration() != 0 {
		idLifetime = formatDuration(d.AsDuration())
	}
	insertAfter(k, "access_token_lifetime",
		[2]string{"id_token_lifetime", idLifetime},
		[2]string{"backchannel_logout_uri", orDash(c.GetBackchannelLogoutUri())},
		[2]string{"backchannel_logout_session_required", yesNo(c.GetBackchannelLogoutSessionRequired())},
	)
	return k
}

// insertAfter puts rows after the row called key, or at the end.
func insertAfter(k *kv, key string, rows ...[2]string) {
	at := len(k.rows)
	for i, r := range k.rows {
		if r[0] == key {
			at = i + 1
			break
		}
	}
	k.rows = slices.Insert(k.rows, at, rows...)
}

// tlsFlags are the mTLS certificate binding (RFC 8705 §2).
type tlsFlags struct {
	subjectDN, sanDNS, sanURI, sanIP, sanEmail *string
	thumbprints                                listFlag
	bound                                      *bool
}

var tlsFlagNames = []string{"tls-subject-dn", "tls-san-dns", "tls-san-uri", "tls-san-ip", "tls-san-email", "tls-thumbprints", "bound-access-tokens"}

func (t *tlsFlags) register(fs *flag.FlagSet) {
	t.subjectDN = fs.String("tls-subject-dn", "", "tls_client_auth: expected certificate subject `DN` (RFC 4514)")
	t.sanDNS = fs.String("tls-san-dns", "", "tls_client_auth: expected dNSName SAN (a `DNS name`)")
	t.sanURI = fs.String("tls-san-uri", "", "tls_client_auth: expected uniformResourceIdentifier SAN (a `URI`)")
	t.sanIP = fs.String("tls-san-ip", "", "tls_client_auth: expected iPAddress SAN (an `IP`)")
	t.sanEmail = fs.String("tls-san-email", "", "tls_client_auth: expected rfc822Name SAN (an `email`)")
	fs.Var(&t.thumbprints, "tls-thumbprints", "self_signed_tls_client_auth: comma-separated SHA-256 `thumbprints` (base64url) of the accepted certificates")
	t.bound = fs.Bool("bound-access-tokens", false, "bind the client's access tokens to its certificate (mTLS methods)")
}

func anySet(set map[string]bool, names []string) bool {
	for _, n := range names {
		if set[n] {
			return true
		}
	}
	return false
}

// apply returns base with the given TLS flags laid over it.
func (t *tlsFlags) apply(set map[string]bool, base *clientsv1.TLSClientAuth) *clientsv1.TLSClientAuth {
	out := &clientsv1.TLSClientAuth{}
	if base != nil {
		out = proto.CloneOf(base)
	}
	if set["tls-subject-dn"] {
		out.SubjectDn = *t.subjectDN
	}
	if set["tls-san-dns"] {
		out.SanDns = *t.sanDNS
	}
	if set["tls-san-uri"] {
		out.SanUri = *t.sanURI
	}
	if set["tls-san-ip"] {
		out.SanIp = *t.sanIP
	}
	if set["tls-san-email"] {
		out.SanEmail = *t.sanEmail
	}
	if set["tls-thumbprints"] {
		out.CertificateThumbprints = t.thumbprints.vals
	}
	if set["bound-access-tokens"] {
		out.BoundAccessTokens = *t.bound
	}
	return out
}

func clientsGroup() *group {
	return &group{
		name:    "clients",
		summary: "manage OAuth clients",
		commands: []*command{
			{
				name:     "create",
				synopsis: "--name N --type first_party|third_party|service --grant-types a,b --scopes a,b [--redirect-uris u1,u2] [--resources r1,r2] [--auth-method M] [--public] [--access-token-lifetime 10m] [--rate-limit-tier T] [--require-consent] [--refresh-token-delivery body|cookie] [--post-logout-redirect-uris u1,u2] [--backchannel-logout-uri U] [--backchannel-logout-session-required] [--id-token-lifetime 5m] [--dpop-bound-access-tokens] [--require-pushed-authorization-requests]",
				summary:  "register an OAuth client; a confidential client's secret is shown once",
				setup:    clientsCreate,
			},
			{name: "get", args: []string{"ID"}, summary: "show one client", setup: clientsGet},
			{name: "list", synopsis: "[--page-size N] [--page-token T] [--all]", summary: "list clients, oldest first", setup: clientsList},
			{
				name: "update", args: []string{"ID"},
				synopsis: "[--name N] [--grant-types a,b] [--scopes a,b] [--disabled=true|false] ...",
				summary:  "change the fields given as flags, and only those",
				setup:    clientsUpdate,
			},
			{name: "delete", args: []string{"ID"}, summary: "delete a client, its secrets and its API keys", setup: clientsDelete},
			{
				name: "rotate-secret", args: []string{"ID"}, synopsis: "[--grace 24h]",
				summary: "issue a new client secret; the previous one works for the grace period",
				setup:   clientsRotateSecret,
			},
		},
	}
}

func clientsCreate(fs *flag.FlagSet) action {
	var f clientFlags
	f.register(fs, false)
	var typ clientTypeFlag
	fs.Var(&typ, "type", "client `type`: first_party, third_party, or service: a confidential client_credentials client whose only scope is "+validatorScope+", for a resource service validating its own callers (required)")
	public := fs.Bool("public", false, "a public client: no secret, PKCE required, auth method none")
	return func(ctx context.Context, s *session, _ []string) error {
		set := setFlags(fs)
		if typ.service {
			if err := serviceClientFlags(set, &f); err != nil {
				return err
			}
		}
		for _, req := range []string{"name", "type", "grant-types"} {
			if !set[req] {
				return fmt.Errorf("clients create: --%s is required (run 'gatehouse clients create -h')", req)
			}
		}
		c := &clientsv1.Client{
			Name:                               *f.name,
			Type:                               typ.v,
			Public:                             *public,
			GrantTypes:                         f.grantTypes.vals,
			RedirectUris:                       f.redirectURIs.vals,
			Resources:                          f.resources.vals,
			Scopes:                             f.scopes.vals,
			TokenEndpointAuthMethod:            *f.authMethod,
			RateLimitTier:                      f.tier.v,
			RequireConsent:                     *f.consent,
			RefreshTokenDelivery:               f.delivery.v,
			DpopBoundAccessTokens:              *f.dpopBound,
			RequirePushedAuthorizationRequests: *f.requirePAR,
		}
		if set["access-token-lifetime"] {
			c.AccessTokenLifetime = durationpb.New(f.lifetime.d)
		}
		f.openID(set, c)
		if anySet(set, tlsFlagNames) {
			c.TlsClientAuth = f.tls.apply(set, nil)
		}
		resp, err := invoke(ctx, s, "create client", func(ctx context.Context, rc registry) (*clientsv1.CreateClientResponse, error) {
			return rc.CreateClient(ctx, &clientsv1.CreateClientRequest{Client: c})
		})
		if err != nil {
			return err
		}
		if s.jsonOutput() {
			if resp.GetClientSecret() == "" {
				// A public client has no secret, rather than an empty one.
				return s.printJSON(resp.GetClient())
			}
			return s.printJSON(resp, "client")
		}
		fmt.Fprintf(s.stdout, "Created client %s.\n", clean(resp.GetClient().GetClientId()))
		k := clientDetails(resp.GetClient())
		if resp.GetClientSecret() != "" {
			k.add("client_secret", resp.GetClientSecret())
		}
		k.write(s.stdout)
		if resp.GetClientSecret() != "" {
			secretWarning(s.stdout, "client secret")
		}
		return nil
	}
}

// validatorScope is what a --type service client may be granted, and all
// it may be: the scope of a resource service's validator.
const validatorScope = "gatehouse:validator"

// notForServiceClients are the create flags of a client a user signs in
// to, or that asks for tokens for other resources, which a --type service
// client is not.
var notForServiceClients = []string{
	"public", "redirect-uris", "resources", "require-consent", "refresh-token-delivery",
	"post-logout-redirect-uris", "post-logout-redirect-uri", "backchannel-logout-uri",
	"backchannel-logout-session-required", "id-token-lifetime",
}

// serviceClientFlags checks the flags given with --type service and fills
// in what such a client is: the client_credentials grant, the one scope
// gatehouse:validator and, unless given, the internal rate-limit tier that
// a service's certificate gets too. Its token endpoint auth method may be
// any confidential one.
func serviceClientFlags(set map[string]bool, f *clientFlags) error {
	for _, name := range notForServiceClients {
		if set[name] {
			return fmt.Errorf("clients create: --%s does not apply to --type service (a confidential client_credentials client with the scope %s)", name, validatorScope)
		}
	}
	if set["grant-types"] && !slices.Equal(f.grantTypes.vals, []string{"client_credentials"}) {
		return fmt.Errorf("clients create: --type service uses the client_credentials grant alone, not --grant-types %s", strings.Join(f.grantTypes.vals, ","))
	}
	if set["scopes"] && !slices.Equal(f.scopes.vals, []string{validatorScope}) {
		return fmt.Errorf("clients create: --type service has the scope %s alone, not --scopes %s; create a first_party client for other scopes", validatorScope, strings.Join(f.scopes.vals, ","))
	}
	f.grantTypes.vals, f.scopes.vals = []string{"client_credentials"}, []string{validatorScope}
	set["grant-types"] = true
	if !set["rate-limit-tier"] {
		f.tier.v = clientsv1.RateLimitTier_RATE_LIMIT_TIER_INTERNAL
	}
	return nil
}

func getClient(ctx context.Context, s *session, id string) (*clientsv1.Client, error) {
	resp, err := invoke(ctx, s, "client "+id, func(ctx context.Context, rc registry) (*clientsv1.GetClientResponse, error) {
		return rc.GetClient(ctx, &clientsv1.GetClientRequest{ClientId: id})
	})
	return resp.GetClient(), err
}

func clientsGet(*flag.FlagSet) action {
	return func(ctx context.Context, s *session, args []string) error {
		c, err := getClient(ctx, s, args[0])
		if err != nil {
			return err
		}
		if s.jsonOutput() {
			return s.printJSON(c)
		}
		clientDetails(c).write(s.stdout)
		return nil
	}
}

func clientsList(fs *flag.FlagSet) action {
	size := fs.Int("page-size", 0, "clients per page, 1 to 500 (default 100)")
	token := fs.String("page-token", "", "next_page_token of the previous page")
	all := fs.Bool("all", false, "fetch every page")
	return func(ctx context.Context, s *session, _ []string) error {
		var clients []*clientsv1.Client
		tok, next := *token, ""
		seen := map[string]bool{}
		for {
			resp, err := invoke(ctx, s, "list clients", func(ctx context.Context, rc registry) (*clientsv1.ListClientsResponse, error) {
				return rc.ListClients(ctx, &clientsv1.ListClientsRequest{PageSize: int32(*size), PageToken: tok}) //nolint:gosec // the server checks the range
			})
			if err != nil {
				return err
			}
			clients = append(clients, resp.GetClients()...)
			next = resp.GetNextPageToken()
			if !*all || next == "" {
				break
			}
			if seen[next] {
				return errors.New("list clients: the server returned the same page token twice")
			}
			seen[next], tok = true, next
		}
		if s.jsonOutput() {
			items, err := jsonItems(clients)
			if err != nil {
				return err
			}
			out := map[string]any{"clients": items}
			if next != "" {
				out["next_page_token"] = next
			}
			return s.printJSONValue(out)
		}
		if len(clients) == 0 {
			fmt.Fprintln(s.stdout, "No clients.")
		} else {
			t := newTable(s.stdout, "CLIENT_ID", "NAME", "TYPE", "GRANT_TYPES", "SCOPES", "TIER", "STATUS")
			for _, c := range clients {
				st := "active"
				if c.GetDisabled() {
					st = "disabled"
				}
				t.row(clean(c.GetClientId()), clean(c.GetName()), clientTypeText(c.GetType()), list(c.GetGrantTypes()), list(c.GetScopes()), tierText(c.GetRateLimitTier()), st)
			}
			t.flush()
		}
		if next != "" {
			more := "gatehouse clients list --page-token " + next
			if *size != 0 {
				more += fmt.Sprintf(" --page-size %d", *size)
			}
			fmt.Fprintf(s.stdout, "More clients: %s (or --all)\n", more)
		}
		return nil
	}
}

// updateFields maps update flags to update_mask paths, in mask order.
var updateFields = []struct {
	path  string
	flags []string
}{
	{"name", []string{"name"}},
	{"grant_types", []string{"grant-types"}},
	{"redirect_uris", []string{"redirect-uris"}},
	{"scopes", []string{"scopes"}},
	{"token_endpoint_auth_method", []string{"auth-method"}},
	{"tls_client_auth", append([]string{"tls-clear"}, tlsFlagNames...)},
	{"access_token_lifetime", []string{"access-token-lifetime"}},
	{"rate_limit_tier", []string{"rate-limit-tier"}},
	{"disabled", []string{"disabled"}},
	{"require_consent", []string{"require-consent"}},
	{"resources", []string{"resources"}},
	{"refresh_token_delivery", []string{"refresh-token-delivery"}},
	{"post_logout_redirect_uris", []string{"post-logout-redirect-uris", "post-logout-redirect-uri"}},
	{"backchannel_logout_uri", []string{"backchannel-logout-uri"}},
	{"backchannel_logout_session_required", []string{"backchannel-logout-session-required"}},
	{"id_token_lifetime", []string{"id-token-lifetime"}},
	{"dpop_bound_access_tokens", []string{"dpop-bound-access-tokens"}},
	{"require_pushed_authorization_requests", []string{"require-pushed-authorization-requests"}},
}

func clientsUpdate(fs *flag.FlagSet) action {
	var f clientFlags
	f.register(fs, true)
	disabled := fs.Bool("disabled", false, "--disabled=true stops the client and revokes every token and API key it holds; --disabled=false lets it get new tokens and keys (the revoked ones stay revoked)")
	tlsClear := fs.Bool("tls-clear", false, "start the certificate binding from empty instead of the current one (with no --tls-* flag: remove it)")
	return func(ctx context.Context, s *session, args []string) error {
		id := args[0]
		set := setFlags(fs)
		var paths []string
		var flagNames []string
		for _, u := range updateFields {
			if anySet(set, u.flags) {
				paths = append(paths, u.path)
			}
			flagNames = append(flagNames, "--"+u.flags[0])
		}
		if len(paths) == 0 {
			return fmt.Errorf("clients update: nothing to change: give at least one of %s", strings.Join(flagNames, ", "))
		}
		c := &clientsv1.Client{
			ClientId:                           id,
			Name:                               *f.name,
			GrantTypes:                         f.grantTypes.vals,
			RedirectUris:                       f.redirectURIs.vals,
			Resources:                          f.resources.vals,
			Scopes:                             f.scopes.vals,
			TokenEndpointAuthMethod:            *f.authMethod,
			RateLimitTier:                      f.tier.v,
			Disabled:                           *disabled,
			RequireConsent:                     *f.consent,
			RefreshTokenDelivery:               f.delivery.v,
			DpopBoundAccessTokens:              *f.dpopBound,
			RequirePushedAuthorizationRequests: *f.requirePAR,
		}
		if set["access-token-lifetime"] {
			c.AccessTokenLifetime = durationpb.New(f.lifetime.d)
		}
		f.openID(set, c)
		if set["tls-clear"] || anySet(set, tlsFlagNames) {
			// The binding is replaced as a whole: start from the current one
			// so that one --tls-* flag changes one field.
			var base *clientsv1.TLSClientAuth
			if !*tlsClear {
				cur, err := getClient(ctx, s, id)
				if err != nil {
					return err
				}
				base = cur.GetTlsClientAuth()
			}
			c.TlsClientAuth = f.tls.apply(set, base)
		}
		resp, err := invoke(ctx, s, "update client "+id, func(ctx context.Context, rc registry) (*clientsv1.UpdateClientResponse, error) {
			return rc.UpdateClient(ctx, &clientsv1.UpdateClientRequest{Client: c, UpdateMask: &fieldmaskpb.FieldMask{Paths: paths}})
		})
		if err != nil {
			return err
		}
		if s.jsonOutput() {
			return s.printJSON(resp.GetClient())
		}
		fmt.Fprintf(s.stdout, "Updated client %s (%s).\n", clean(id), strings.Join(paths, ", "))
		clientDetails(resp.GetClient()).write(s.stdout)
		return nil
	}
}

func clientsDelete(*flag.FlagSet) action {
	return func(ctx context.Context, s *session, args []string) error {
		id := args[0]
		resp, err := invoke(ctx, s, "delete client "+id, func(ctx context.Context, rc registry) (*clientsv1.DeleteClientResponse, error) {
			return rc.DeleteClient(ctx, &clientsv1.DeleteClientRequest{ClientId: id})
		})
		if err != nil {
			return err
		}
		if s.jsonOutput() {
			return s.printJSON(resp)
		}
		fmt.Fprintf(s.stdout, "Deleted client %s, its secrets and its API keys.\n", clean(id))
		return nil
	}
}

func clientsRotateSecret(fs *flag.FlagSet) action {
	var grace durationFlag
	fs.Var(&grace, "grace", "how long the previous secret keeps working, 0 to stop it at once (default 24h)")
	return func(ctx context.Context, s *session, args []string) error {
		id := args[0]
		req := &clientsv1.RotateClientSecretRequest{ClientId: id}
		if setFlags(fs)["grace"] {
			req.GracePeriod = durationpb.New(grace.d)
		}
		resp, err := invoke(ctx, s, "rotate secret of client "+id, func(ctx context.Context, rc registry) (*clientsv1.RotateClientSecretResponse, error) {
			return rc.RotateClientSecret(ctx, req)
		})
		if err != nil {
			return err
		}
		if s.jsonOutput() {
			out, err := toMap(resp)
			if err != nil {
				return err
			}
			out["client_id"] = id
			return s.printJSONValue(out)
		}
		k := &kv{}
		k.add("client_id", clean(id))
		k.add("client_secret", resp.GetClientSecret())
		k.add("previous_secret_expire_time", timeText(resp.GetPreviousSecretExpireTime()))
		k.write(s.stdout)
		secretWarning(s.stdout, "client secret")
		return nil
	}
}
