package token

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
)

// Back-channel logout delivery (OpenID Connect Back-Channel Logout 1.0 §2.5):
// a sign-out queues a logout token for each client concerned and returns;
// a few workers POST them, each with the HTTP client's timeout, retrying a
// failed delivery a bounded number of times. A slow or failing client never
// delays the user's sign-out, and a full queue drops (and logs) rather than
// blocks.
const (
	backchannelWorkers  = 4
	backchannelQueue    = 1024
	backchannelAttempts = 3
	backchannelBackoff  = time.Second
	// logoutTokenLifetime is the logout token's exp: enough for the
	// retries, short enough that a copy is soon useless (§2.4 asks for a
	// short one).
	logoutTokenLifetime = 2 * time.Minute
	// backchannelEvent is the events member of every logout token (§2.4).
	backchannelEvent = "http://schemas.openid.net/event/backchannel-logout"
)

type logoutJob struct {
	clientID, uri, sub, sid string
	at                      time.Time
}

// logoutTokenClaims is a logout token's claims set (§2.4): no nonce, ever,
// so it cannot pass for an ID token.
type logoutTokenClaims struct {
	Iss    string              `json:"iss"`
	Aud    string              `json:"aud"`
	Iat    int64               `json:"iat"`
	Exp    int64               `json:"exp"`
	Jti    string              `json:"jti"`
	Sub    string              `json:"sub,omitempty"`
	Sid    string              `json:"sid,omitempty"`
	Events map[string]struct{} `json:"events"`
}

type backchannel struct {
	s      *Service
	jobs   chan logoutJob
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	start  sync.Once
	mu     sync.Mutex
	closed bool
}

func newBackchannel(s *Service) *backchannel {
	ctx, cancel := context.WithCancel(context.Background())
	return &backchannel{s: s, jobs: make(chan logoutJob, backchannelQueue), ctx: ctx, cancel: cancel}
}

// send queues a logout token for the client at uri.
func (b *backchannel) send(clientID, uri, sub, sid string, at time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.start.Do(func() {
		for range backchannelWorkers {
			b.wg.Go(b.work)
		}
	})
	select {
	case b.jobs <- logoutJob{clientID: clientID, uri: uri, sub: sub, sid: sid, at: at}:
	default:
		b.s.log.Warn("back-channel logout queue full: notification dropped", "client_id", clientID)
	}
}

// close stops the workers, abandoning deliveries in flight, and waits for
// them.
func (b *backchannel) close() {
	b.mu.Lock()
	if !b.closed {
		b.closed = true
		b.cancel()
		close(b.jobs)
	}
	b.mu.Unlock()
	b.wg.Wait()
}

func (b *backchannel) work() {
	for j := range b.jobs {
		b.deliver(j)
	}
}

// deliver POSTs one logout token, retrying on a transport error, a 5xx or
// a 429; any other answer than 200 or 204 is final (§2.8).
func (b *backchannel) deliver(j logoutJob) {
	tok, err := b.s.logoutToken(b.ctx, j)
	if err != nil {
		b.s.log.Warn("back-channel logout: sign the logout token", "client_id", j.clientID, "error", err)
		return
	}
	body := url.Values{"logout_token": {tok}}.Encode()
	for attempt := 1; ; attempt++ {
		status, err := b.post(j.uri, body)
		switch {
		case err == nil && (status == http.StatusOK || status == http.StatusNoContent):
			return
		case err == nil && status != http.StatusTooManyRequests && status < 500:
			b.s.log.Warn("back-channel logout refused", "client_id", j.clientID, "status", status)
			return
		case attempt == backchannelAttempts:
			b.s.log.Warn("back-channel logout failed", "client_id", j.clientID, "status", status, "error", err, "attempts", attempt)
			return
		}
		select {
		case <-b.ctx.Done():
			return
		case <-time.After(backchannelBackoff << (attempt - 1)):
		}
	}
}

func (b *backchannel) post(uri, body string) (int, error) {
	req, err := http.NewRequestWithContext(b.ctx, http.MethodPost, uri, strings.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", contentTypeFormURLEncoded)
	resp, err := b.s.cfg.Backchannel.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// logoutToken signs the logout token of a job (§2.4), typ logout+jwt.
func (s *Service) logoutToken(ctx context.Context, j logoutJob) (string, error) {
	jti, err := randomID()
	if err != nil {
		return "", err
	}
	claims := logoutTokenClaims{
		Iss: s.cfg.Issuer, Aud: j.clientID, Iat: j.at.Unix(), Exp: j.at.Add(logoutTokenLifetime).Unix(), Jti: jti,
		Sub: j.sub, Sid: j.sid, Events: map[string]struct{}{backchannelEvent: {}},
	}
	tok, err := s.clientCredentials.minter.signJWT(ctx, typLogout, func(jwa.SignatureAlgorithm) (any, error) { return claims, nil })
	if err != nil {
		return "", fmt.Errorf("logout token: %w", err)
	}
	return tok, nil
}

// Close stops the service's background work: back-channel logout
// deliveries still queued or in flight are abandoned.
func (s *Service) Close() { s.backchannel.close() }
