package token

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// idHint is what an id_token_hint says that the service uses.
type idHint struct {
	Sub string `json:"sub"`
	// Aud is a string or an array: the clients the token was for.
	Aud audience `json:"aud"`
	Sid string   `json:"sid"`
	Iss string   `json:"iss"`
	Exp int64    `json:"exp"`
}

type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return errors.New("aud is neither a string nor an array of strings")
	}
	*a = many
	return nil
}

// keySetCache keeps the key set parsed until the JWKS document changes.
type keySetCache struct {
	mu   sync.Mutex
	doc  []byte
	keys jwk.Set
}

func (c *keySetCache) get(ctx context.Context, src KeySet) (jwk.Set, error) {
	doc, err := src.JWKS(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the key set: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.keys != nil && bytes.Equal(doc, c.doc) { // not-secret: compares public key sets
		return c.keys, nil
	}
	set, err := jwk.Parse(doc)
	if err != nil {
		return nil, fmt.Errorf("parse the key set: %w", err)
	}
	c.doc, c.keys = bytes.Clone(doc), set
	return set, nil
}

// verifyIDTokenHint checks that raw is an ID token this service signed:
// a JWS by a key of the published set, found by kid and verified with that
// key's one algorithm, typ JWT (so an access token, at+jwt, or a logout
// token is refused), iss this issuer, and unless allowExpired (RP-Initiated
// Logout §2 accepts an expired one) not expired.
func (s *Service) verifyIDTokenHint(ctx context.Context, raw string, allowExpired bool) (idHint, error) {
	if len(raw) > maxHintLen {
		return idHint{}, errors.New("id_token_hint is too long")
	}
	set, err := s.keySets.get(ctx, s.cfg.KeySet)
	if err != nil {
		return idHint{}, err
	}
	msg, err := jws.Parse([]byte(raw))
	if err != nil || len(msg.Signatures()) != 1 {
		return idHint{}, errors.New("id_token_hint is not a compact JWS")
	}
	h := msg.Signatures()[0].ProtectedHeaders()
	if !strings.EqualFold(h.Type(), typJWT) || h.KeyID() == "" || len(h.Critical()) > 0 {
		return idHint{}, errors.New("id_token_hint is not an ID token")
	}
	// Each key verifies with its one algorithm (RFC 8725 §3.1).
	if k, ok := set.LookupKeyID(h.KeyID()); !ok || k.Algorithm().String() != h.Algorithm().String() {
		return idHint{}, errors.New("id_token_hint is not signed with a published key and its algorithm")
	}
	payload, err := jws.Verify([]byte(raw), jws.WithKeySet(set, jws.WithRequireKid(true), jws.WithUseDefault(false), jws.WithInferAlgorithmFromKey(false)))
	if err != nil {
		return idHint{}, fmt.Errorf("id_token_hint: %w", err)
	}
	var c idHint
	if err := json.Unmarshal(payload, &c); err != nil {
		return idHint{}, fmt.Errorf("id_token_hint claims: %w", err)
	}
	switch {
	case c.Iss != s.cfg.Issuer:
		return idHint{}, errors.New("id_token_hint is from another issuer")
	case c.Sub == "" || len(c.Aud) == 0:
		return idHint{}, errors.New("id_token_hint has no sub or aud")
	case !allowExpired && s.cfg.Now().Unix() >= c.Exp:
		return idHint{}, errors.New("id_token_hint has expired")
	}
	return c, nil
}
