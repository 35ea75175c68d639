package loadgen

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	inventoryv1 "github.com/gatehouse-dev/gatehouse/gen/gatehouse/inventory/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Paths of the Gatehouse endpoints the soak uses.
const (
	pathToken     = "/oauth2/token"
	pathRevoke    = "/oauth2/revoke"
	pathInventory = "/v1/inventory/items"
	pathMetrics   = "/metrics"
)

// maxBody bounds what is read of a response: a token response or an
// error is far smaller, and an inventory list is not looked at.
const maxBody = 64 << 10

func basicAuth(id, secret string) string {
	// RFC 6749 §2.3.1: form-encode, then Base64.
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// run performs one operation and records it.
func (s *soak) run(ctx context.Context, op Op, n int64) {
	began := time.Now()
	var (
		o      Outcome
		detail string
		lat    time.Duration
	)
	switch op {
	case OpToken:
		var tok string
		tok, o, detail = s.issue(ctx)
		if o == OutcomeOK {
			s.tokens.put(tok)
		}
	case OpREST:
		o, detail = s.getInventory(ctx, s.client, "Bearer "+s.tokens.get(n))
	case OpGRPC:
		o, detail = s.listItems(ctx, "Bearer "+s.tokens.get(n))
	case OpAPIKey:
		o, detail = s.getInventory(ctx, s.client, "ApiKey "+s.cfg.APIKey)
	case OpRevoke:
		var prop time.Duration
		var checked bool
		o, detail, lat, prop, checked = s.revoke(ctx)
		if checked {
			s.rec.propagation(prop, o == OutcomeLost)
		}
	case OpRefresh:
		o, detail = s.refreshOnce(ctx, n)
	}
	if o != OutcomeOK && ctx.Err() != nil {
		return // cut short by the caller (an interrupt), not the server
	}
	if lat == 0 {
		lat = time.Since(began)
	}
	s.rec.record(op, o, began, time.Now(), lat, detail)
}

// send makes one request and returns the status and up to maxBody of the
// body; err is a transport failure.
func (s *soak) send(ctx context.Context, c *http.Client, method, path, authz, form string) (int, []byte, error) {
	return s.sendLimit(ctx, c, method, path, authz, form, maxBody)
}

func (s *soak) sendLimit(ctx context.Context, c *http.Client, method, path, authz, form string, limit int64) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	return send(ctx, c, method, s.cfg.BaseURL+path, authz, form, limit)
}

// send makes one request, with form as its urlencoded body when not empty
// and authz as its Authorization header when not empty, and returns the
// status and at most limit bytes of the body, the rest drained so that the
// connection is reused.
func send(ctx context.Context, c *http.Client, method, u, authz, form string, limit int64) (int, []byte, error) {
	var body io.Reader
	if form != "" {
		body = strings.NewReader(form)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return 0, nil, err
	}
	if form != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	_, _ = io.Copy(io.Discard, resp.Body)
	if err != nil {
		return resp.StatusCode, nil, err
	}
	return resp.StatusCode, b, nil
}

// classifyHTTP maps a response (or a transport error) to an outcome.
func classifyHTTP(code int, err error) Outcome {
	switch {
	case err != nil:
		return OutcomeTransport
	case code == http.StatusOK:
		return OutcomeOK
	case code == http.StatusUnauthorized || code == http.StatusForbidden:
		return OutcomeAuth
	case code == http.StatusTooManyRequests:
		return OutcomeRateLimited
	case code == http.StatusServiceUnavailable:
		return OutcomeUnavailable
	case code >= 500:
		return OutcomeServerError
	}
	return OutcomeOther
}

// describe says what went wrong, for the failure list: the status and
// the OAuth error or gRPC-gateway message, never a credential.
func describe(path string, code int, body []byte, err error) string {
	if err != nil {
		return path + ": " + shorten(err.Error())
	}
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
		Message     string `json:"message"`
	}
	msg := ""
	if json.Unmarshal(body, &e) == nil {
		msg = strings.TrimSpace(strings.Join([]string{e.Error, e.Description, e.Message}, " "))
	}
	if msg == "" {
		msg = string(body)
	}
	return fmt.Sprintf("%s: %d %s", path, code, shorten(msg))
}

// shorten keeps failure details short and printable.
func shorten(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e {
			return ' '
		}
		return r
	}, s)
	if len(s) > 160 {
		s = s[:160] + "..."
	}
	return strings.TrimSpace(s)
}

// issue requests a client_credentials token.
func (s *soak) issue(ctx context.Context) (string, Outcome, string) {
	form := url.Values{"grant_type": {"client_credentials"}}
	if s.cfg.Scope != "" {
		form.Set("scope", s.cfg.Scope)
	}
	code, body, err := s.send(ctx, s.client, http.MethodPost, pathToken, s.basic, form.Encode())
	o := classifyHTTP(code, err)
	if o != OutcomeOK {
		return "", o, describe(pathToken, code, body, err)
	}
	var t struct {
		AccessToken string `json:"access_token"`
	}
	if json.Unmarshal(body, &t) != nil || t.AccessToken == "" {
		return "", OutcomeOther, pathToken + ": 200 without an access token"
	}
	return t.AccessToken, OutcomeOK, ""
}

func (s *soak) getInventory(ctx context.Context, c *http.Client, authz string) (Outcome, string) {
	code, body, err := s.send(ctx, c, http.MethodGet, pathInventory, authz, "")
	o := classifyHTTP(code, err)
	if o == OutcomeOK {
		return o, ""
	}
	return o, describe(pathInventory, code, body, err)
}

func (s *soak) listItems(ctx context.Context, authz string) (Outcome, string) {
	return s.listItemsWith(ctx, s.inv, authz)
}

func (s *soak) listItemsWith(ctx context.Context, inv inventoryv1.InventoryServiceClient, authz string) (Outcome, string) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "authorization", authz)
	_, err := inv.ListItems(ctx, &inventoryv1.ListItemsRequest{})
	o := classifyGRPC(err)
	if o == OutcomeOK {
		return o, ""
	}
	st, _ := status.FromError(err)
	return o, "ListItems: " + st.Code().String() + " " + shorten(st.Message())
}

// classifyGRPC maps a gRPC error to an outcome. The client reports a
// broken connection as Unavailable too; its messages tell it apart from
// the server's own Unavailable.
func classifyGRPC(err error) Outcome {
	if err == nil {
		return OutcomeOK
	}
	st, _ := status.FromError(err)
	switch st.Code() {
	case codes.OK:
		return OutcomeOK
	case codes.Unauthenticated, codes.PermissionDenied:
		return OutcomeAuth
	case codes.ResourceExhausted:
		return OutcomeRateLimited
	case codes.Unavailable:
		if isGRPCTransport(st.Message()) {
			return OutcomeTransport
		}
		return OutcomeUnavailable
	case codes.DeadlineExceeded, codes.Canceled:
		return OutcomeTransport
	case codes.Internal, codes.Unknown, codes.DataLoss, codes.Unimplemented:
		return OutcomeServerError
	}
	return OutcomeOther
}

func isGRPCTransport(msg string) bool {
	for _, m := range []string{"connection error", "error reading from server", "transport is closing", "connection closed", "connection is draining", "EOF"} {
		if strings.Contains(msg, m) {
			return true
		}
	}
	return false
}

// revoke issues a fresh token, revokes it with RFC 7009, then checks
// from the holder's address that the API refuses it within the bound.
// The outcome is OutcomeLost if the API accepted the token in a request
// sent after the bound; lat is the revocation request's latency, prop how
// long after its 200 the first refusal came.
func (s *soak) revoke(ctx context.Context) (o Outcome, detail string, lat, prop time.Duration, checked bool) {
	tok, o, detail := s.issue(ctx)
	if o != OutcomeOK {
		return o, "issue a token to revoke: " + detail, 0, 0, false
	}
	form := url.Values{"token": {tok}, "token_type_hint": {"access_token"}}.Encode()
	t0 := time.Now()
	code, body, err := s.send(ctx, s.client, http.MethodPost, pathRevoke, s.basic, form)
	lat = time.Since(t0)
	if o = classifyHTTP(code, err); o != OutcomeOK {
		return o, describe(pathRevoke, code, body, err), lat, 0, false
	}
	revoked := time.Now()
	deadline := revoked.Add(s.cfg.RevocationBound)
	holder := s.holders.next()
	for {
		sent := time.Now()
		code, body, err := s.send(ctx, holder, http.MethodGet, pathInventory, "Bearer "+tok, "")
		switch got := classifyHTTP(code, err); {
		case code == http.StatusUnauthorized:
			s.rechecks.add(tok)
			return OutcomeOK, "", lat, time.Since(revoked), true
		case sent.After(deadline) && got == OutcomeOK:
			s.rechecks.add(tok)
			return OutcomeLost, fmt.Sprintf("revoked token accepted by the API %s after the revocation's 200 (bound %s)",
				sent.Sub(revoked).Round(time.Millisecond), s.cfg.RevocationBound), lat, sent.Sub(revoked), true
		case sent.After(deadline):
			// Neither accepted nor refused as revoked by the bound: the
			// check itself failed, and says how.
			return got, "check of a revoked token: " + describe(pathInventory, code, body, err), lat, 0, false
		}
		t := time.NewTimer(pollEvery)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return OutcomeTransport, "check of a revoked token: " + ctx.Err().Error(), lat, 0, false
		}
	}
}

// recheck asks again, at the end, about a sample of the tokens revoked
// during the run, over REST and gRPC: a revocation the validators forgot
// (lost with NATS, or dropped by a re-sync) shows here. A refusal of any
// kind counts as refused; only an acceptance counts against the server.
func (s *soak) recheck(ctx context.Context, res *SoakResult) {
	toks := s.rechecks.all()
	if len(toks) == 0 {
		return
	}
	invs, closeAll := s.holders.grpcClients(s.cfg.GRPCAddr, s.inv)
	defer closeAll()
	for i, tok := range toks {
		if ctx.Err() != nil {
			return
		}
		res.Revocations.Rechecked++
		o, _ := s.getInventory(ctx, s.holders.next(), "Bearer "+tok)
		g, _ := s.listItemsWith(ctx, invs[i%len(invs)], "Bearer "+tok)
		if o == OutcomeOK || g == OutcomeOK {
			res.Revocations.RecheckAccepted++
		}
	}
}

// refreshOnce uses one of the refresh tokens.
func (s *soak) refreshOnce(ctx context.Context, n int64) (Outcome, string) {
	slot := &s.refresh[int(n%int64(len(s.refresh)))]
	slot.mu.Lock()
	defer slot.mu.Unlock()
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {slot.token}}
	authz := ""
	if s.cfg.RefreshClientSecret != "" {
		authz = basicAuth(s.cfg.RefreshClientID, s.cfg.RefreshClientSecret)
	} else {
		form.Set("client_id", s.cfg.RefreshClientID)
	}
	code, body, err := s.send(ctx, s.client, http.MethodPost, pathToken, authz, form.Encode())
	o := classifyHTTP(code, err)
	if o != OutcomeOK {
		return o, "refresh: " + describe(pathToken, code, body, err)
	}
	var t struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
	}
	if json.Unmarshal(body, &t) != nil || t.AccessToken == "" {
		return OutcomeOther, "refresh: 200 without an access token"
	}
	if t.RefreshToken != "" {
		slot.token = t.RefreshToken // rotated
	}
	return OutcomeOK, ""
}

// holders are the HTTP clients that check revoked tokens, each from its
// own loopback source address. Every check is a refused credential, and
// Gatehouse limits refused credentials per caller address (a burst, then
// a slow trickle), so checks from the load's own address would soon get
// the whole load refused with 429. The holder of a revoked token is in
// any case another caller than the bulk of the traffic. Where source
// addresses cannot be chosen (an IPv6 or named target other than
// localhost, or a machine with 127.0.0.1 alone), the load's own client is
// used, and checks beyond the server's failure budget see 429.
type holders struct {
	clients []*http.Client
	trs     []*http.Transport
	n       atomic.Int64
	// own is whether holders have their own source addresses.
	own bool
}

// grpcHolders is how many source addresses the gRPC recheck spreads over:
// maxRechecks refusals stay under the per-address burst.
const grpcHolders = 10

// holderIPs returns n source addresses from 127.0.<block>.2 on, clear of
// 127.0.0.1.
func holderIPs(block byte, n int) []net.IP {
	out := make([]net.IP, 0, n)
	hi, lo := block, byte(2)
	for range n {
		out = append(out, net.IPv4(127, 0, hi, lo))
		if lo++; lo == 0 {
			hi++
		}
	}
	return out
}

func holderDialer(src net.IP) *net.Dialer {
	return &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: src}, Control: loopbackOnly}
}

// grpcClients returns inventory clients from holder addresses for the
// end-of-run recheck, or fallback alone when holders have no addresses of
// their own; closeAll closes their connections.
func (h *holders) grpcClients(addr string, fallback inventoryv1.InventoryServiceClient) ([]inventoryv1.InventoryServiceClient, func()) {
	if !h.own {
		return []inventoryv1.InventoryServiceClient{fallback}, func() {}
	}
	var conns []*grpc.ClientConn
	var out []inventoryv1.InventoryServiceClient
	for _, ip := range holderIPs(2, grpcHolders) {
		d := holderDialer(ip)
		conn, err := grpc.NewClient("passthrough:///"+addr,
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithContextDialer(func(ctx context.Context, a string) (net.Conn, error) { return d.DialContext(ctx, "tcp", a) }))
		if err != nil {
			continue
		}
		conns = append(conns, conn)
		out = append(out, inventoryv1.NewInventoryServiceClient(conn))
	}
	if len(out) == 0 {
		return []inventoryv1.InventoryServiceClient{fallback}, func() {}
	}
	return out, func() {
		for _, c := range conns {
			_ = c.Close()
		}
	}
}

func newHolders(base string, timeout time.Duration, fallback *http.Client) *holders {
	h := &holders{}
	u, err := url.Parse(base)
	if err != nil {
		h.clients = []*http.Client{fallback}
		return h
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); (host != "localhost" && (ip == nil || ip.To4() == nil || !ip.IsLoopback())) || !canBind(holderIPs(0, 1)[0]) {
		h.clients = []*http.Client{fallback}
		return h
	}
	h.own = true
	for _, ip := range holderIPs(0, holderAddrs) {
		d := holderDialer(ip)
		tr := &http.Transport{
			DialContext:         d.DialContext,
			MaxIdleConnsPerHost: 1,
			// Holders are used in turn; a quiet one's connection goes.
			IdleConnTimeout: 5 * time.Second,
		}
		h.trs = append(h.trs, tr)
		h.clients = append(h.clients, &http.Client{
			Transport:     tr,
			Timeout:       timeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		})
	}
	return h
}

// canBind reports whether this machine has ip (all of 127/8 is loopback
// on Linux; elsewhere often only 127.0.0.1 is configured).
func canBind(ip net.IP) bool {
	var lc net.ListenConfig
	lis, err := lc.Listen(context.Background(), "tcp", net.JoinHostPort(ip.String(), "0"))
	if err != nil {
		return false
	}
	_ = lis.Close()
	return true
}

func (h *holders) next() *http.Client {
	return h.clients[int(h.n.Add(1)%int64(len(h.clients)))]
}

func (h *holders) closeIdle() {
	for _, tr := range h.trs {
		tr.CloseIdleConnections()
	}
}

// loopbackOnly refuses, at dial time, any address that is not loopback.
func loopbackOnly(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil || !isLoopbackIP(host) {
		return fmt.Errorf("dial %s: %w", address, ErrNotLoopback)
	}
	return nil
}
