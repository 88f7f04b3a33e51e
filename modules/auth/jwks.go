package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

// The bounds of the external issuer's key set.
const (
	// jwksRefetchInterval is how often, at most, the key set is fetched:
	// an unknown kid (a rotation, or a flood of made-up ones) waits for it.
	jwksRefetchInterval = 30 * time.Second
	// jwksMaxAge is the age after which a key set in use is fetched again in
	// the background, so that a key the issuer withdrew stops working.
	jwksMaxAge = 5 * time.Minute
	// jwksFetchTimeout bounds one fetch, from dialling to the body's end.
	jwksFetchTimeout = 5 * time.Second
	// jwksMaxBody is the largest key set read; a real one is a few KiB.
	jwksMaxBody = 256 << 10
	// jwksMaxKeys is the most keys kept from one key set.
	jwksMaxKeys = 64
	// minRSABits is the smallest RSA modulus accepted.
	minRSABits = 2048
)

// externalAlgs are the algorithms accepted from the external issuer, each
// tied to one key type: EdDSA (Ed25519), ES256 (P-256), RS256 (RSA).
var externalAlgs = []string{
	jwt.SigningMethodEdDSA.Alg(),
	jwt.SigningMethodES256.Alg(),
	jwt.SigningMethodRS256.Alg(),
}

// Why a token's key could not be chosen; all end as 401.
var (
	errUnknownIssuer = errors.New("token issuer is not accepted")
	errAlgorithm     = errors.New("token algorithm is not accepted for its issuer")
	errNoKeyID       = errors.New("token has no kid")
	errUnknownKey    = errors.New("token kid is not in the issuer's key set")
)

// publicKey is one key of the external issuer's set and the one algorithm
// it verifies.
type publicKey struct {
	alg string
	key any // ed25519.PublicKey, *ecdsa.PublicKey (P-256) or *rsa.PublicKey
}

// keySet is a fetched key set, by kid.
type keySet struct {
	keys    map[string]publicKey
	fetched time.Time // zero: never fetched
}

// jwksCache holds the external issuer's public keys. Lookups read the
// current set without locking; fetches are serialised by gate and spaced
// at least jwksRefetchInterval apart, so that neither a flood of unknown
// kids nor an issuer that is down costs more than one request to it every
// 30 seconds. A failed fetch keeps the keys already held.
type jwksCache struct {
	url     string
	client  *http.Client
	timeout time.Duration // of one fetch, from dialling to the body's end
	now     func() time.Time
	log     *slog.Logger

	set atomic.Pointer[keySet]
	// gate is held by the one fetch in progress.
	gate chan struct{}
	// lastAttempt is when the latest fetch started; written under gate.
	lastAttempt atomic.Int64
	// generation counts finished fetches, successful or not.
	generation atomic.Int64
	// inFlight is true while a fetch runs.
	inFlight atomic.Bool
	// fetches counts requests sent to the issuer.
	fetches atomic.Int64
	// fetchBegun, when set (tests), is called by a fetch once it is marked
	// as started, before it asks the issuer.
	fetchBegun func()
}

func newJWKSCache(url string, now func() time.Time, log *slog.Logger) *jwksCache {
	c := &jwksCache{
		url:     url,
		timeout: jwksFetchTimeout,
		now:     now,
		log:     log,
		gate:    make(chan struct{}, 1),
		client: &http.Client{
			CheckRedirect: func(_ *http.Request, via []*http.Request) error {
				if len(via) >= 3 {
					return errors.New("too many redirects")
				}
				return nil
			},
		},
	}
	c.set.Store(&keySet{})
	return c
}

// start fetches the key set in the background, so that the service starts
// whether or not the issuer answers; the first token that needs a key
// waits for this fetch rather than starting another.
func (c *jwksCache) start() {
	c.gate <- struct{}{}
	go func() {
		defer func() { <-c.gate }()
		c.fetchLocked(context.Background())
	}()
}

// lookup returns the key with kid from the set held. A set older than
// jwksMaxAge is refreshed in the background meanwhile.
func (c *jwksCache) lookup(kid string) (publicKey, bool) {
	set := c.set.Load()
	if now := c.now(); now.Sub(set.fetched) > jwksMaxAge && c.due(now) {
		select {
		case c.gate <- struct{}{}:
			go func() {
				defer func() { <-c.gate }()
				if c.due(c.now()) {
					c.fetchLocked(context.Background())
				}
			}()
		default: // a fetch is under way
		}
	}
	k, ok := set.keys[kid]
	return k, ok
}

// due reports whether a fetch may start at now.
func (c *jwksCache) due(now time.Time) bool {
	last := c.lastAttempt.Load()
	return last == 0 || now.Sub(time.Unix(0, last)) >= jwksRefetchInterval
}

// refresh is called for a kid the set does not hold. It fetches the set
// again unless a fetch started less than jwksRefetchInterval ago, waiting
// for a fetch in progress rather than starting its own; it reports whether
// a fetch finished since the caller read gen (the generation before its
// lookup), so that the caller looks again. A background fetch that ended
// between the lookup and this call counts too.
func (c *jwksCache) refresh(ctx context.Context, gen int64) bool {
	if c.generation.Load() != gen {
		return true
	}
	if !c.due(c.now()) && !c.inFlight.Load() {
		// Nothing to wait for and no fetch allowed: a flood of unknown kids
		// is refused here without queueing on the gate. (Not due means a
		// fetch was marked in flight before; not in flight now means it
		// has finished and counted its generation, which is looked at.)
		return c.generation.Load() != gen
	}
	select {
	case c.gate <- struct{}{}:
	case <-ctx.Done():
		return false
	}
	defer func() { <-c.gate }()
	if c.generation.Load() != gen {
		return true // another caller's fetch finished while this one waited
	}
	if !c.due(c.now()) {
		return false
	}
	c.fetchLocked(ctx)
	return true
}

// fetchLocked fetches and installs the key set; the caller holds gate. The
// fetch outlives a cancelled request, which other requests may wait on.
func (c *jwksCache) fetchLocked(ctx context.Context) {
	// The order of these stores, and of the loads in refresh, leaves no
	// moment at which a fetch under way looks neither due nor in flight,
	// nor one at which a finished fetch is neither in flight nor counted.
	c.inFlight.Store(true)
	c.lastAttempt.Store(c.now().UnixNano())
	if c.fetchBegun != nil {
		c.fetchBegun()
	}
	defer func() {
		c.generation.Add(1)
		c.inFlight.Store(false)
	}()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.timeout)
	defer cancel()
	keys, skipped, err := c.fetch(ctx)
	if err != nil {
		c.log.WarnContext(ctx, "jwks: fetch failed; the keys held stay in use", "url", c.url, "keys_held", len(c.set.Load().keys), "err", err.Error())
		return
	}
	c.set.Store(&keySet{keys: keys, fetched: c.now()})
	c.log.InfoContext(ctx, "jwks: key set fetched", "url", c.url, "keys", len(keys), "skipped", skipped)
}

func (c *jwksCache) fetch(ctx context.Context) (map[string]publicKey, int, error) {
	c.fetches.Add(1)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return nil, 0, fmt.Errorf("request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, 0, fmt.Errorf("get: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, 0, fmt.Errorf("status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, jwksMaxBody+1))
	switch {
	case err != nil:
		return nil, 0, fmt.Errorf("read: %w", err)
	case len(body) > jwksMaxBody:
		return nil, 0, fmt.Errorf("key set larger than %d bytes", jwksMaxBody)
	}
	return parseJWKS(body)
}

// parseJWKS reads a JSON Web Key Set, keeping the signing keys it can use
// and counting the others (another algorithm or key type, encryption keys,
// no kid, a kid seen before, keys past jwksMaxKeys). A set with no usable
// key is an error, so that the keys held are kept.
func parseJWKS(body []byte) (map[string]publicKey, int, error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, 0, fmt.Errorf("decode key set: %w", err)
	}
	keys := make(map[string]publicKey, len(doc.Keys))
	skipped := 0
	for _, raw := range doc.Keys {
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(raw); err != nil {
			skipped++
			continue
		}
		k, ok := usableKey(jwk)
		if _, seen := keys[jwk.KeyID]; !ok || seen || jwk.KeyID == "" || len(keys) == jwksMaxKeys {
			skipped++
			continue
		}
		keys[jwk.KeyID] = k
	}
	if len(keys) == 0 {
		return nil, skipped, fmt.Errorf("no usable signing key among %d", len(doc.Keys))
	}
	return keys, skipped, nil
}

// usableKey is the public key of jwk and the one algorithm it verifies, if
// it is a signing key of an accepted type whose alg, when given, agrees.
func usableKey(jwk jose.JSONWebKey) (publicKey, bool) {
	if jwk.Use != "" && jwk.Use != "sig" {
		return publicKey{}, false
	}
	var k publicKey
	switch key := jwk.Public().Key.(type) {
	case ed25519.PublicKey:
		k = publicKey{alg: jwt.SigningMethodEdDSA.Alg(), key: key}
	case *ecdsa.PublicKey:
		if key.Curve != elliptic.P256() {
			return publicKey{}, false
		}
		k = publicKey{alg: jwt.SigningMethodES256.Alg(), key: key}
	case *rsa.PublicKey:
		if key.N.BitLen() < minRSABits {
			return publicKey{}, false
		}
		k = publicKey{alg: jwt.SigningMethodRS256.Alg(), key: key}
	default: // symmetric ("oct") and other key types are never used
		return publicKey{}, false
	}
	if jwk.Algorithm != "" && jwk.Algorithm != k.alg {
		return publicKey{}, false
	}
	return k, true
}

// externalIssuer is the one external issuer whose tokens are accepted: its
// name (the iss its tokens carry), the audience they must name, its keys,
// and the claim checks its tokens get.
type externalIssuer struct {
	issuer    string
	audience  string
	keys      *jwksCache
	validator *jwt.Validator
}

// externalLeeway is the clock difference allowed between the issuer and
// this service when checking exp, nbf and iat.
const externalLeeway = 5 * time.Second

func newExternalIssuer(issuer, audience, url string, now func() time.Time, log *slog.Logger) *externalIssuer {
	return &externalIssuer{
		issuer:   issuer,
		audience: audience,
		keys:     newJWKSCache(url, now, log),
		validator: jwt.NewValidator(
			jwt.WithIssuer(issuer),
			jwt.WithAudience(audience),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(externalLeeway),
			jwt.WithTimeFunc(now),
		),
	}
}

// key chooses the key that verifies t, a token claiming to come from this
// issuer: an accepted algorithm, a kid, and the key of that kid, whose
// algorithm must be the token's.
func (x *externalIssuer) key(t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	accepted := false
	for _, a := range externalAlgs {
		accepted = accepted || a == alg
	}
	if !accepted {
		return nil, errAlgorithm
	}
	kid, _ := t.Header["kid"].(string)
	if kid == "" {
		return nil, errNoKeyID
	}
	k, ok := x.keys.lookup(kid)
	switch {
	case !ok:
		return nil, errUnknownKey
	case k.alg != alg:
		return nil, errAlgorithm
	}
	return k.key, nil
}
