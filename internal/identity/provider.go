package identity

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// The identity provider stage: the JWT access tokens of configured issuers
// (jwt_issuers), verified here against the keys each issuer publishes
// (jwks.go) and never sent to Rails. Which verifier a credential goes to is
// decided by the token itself, never by trying one after another: a
// three-part JWT whose (unverified) iss names a configured issuer goes to
// that issuer only, and anything it refuses is refused; everything else
// goes to Rails, or is refused without calling it when legacy_fallback is
// off. A forged JWT of a configured issuer is thus never load on Rails.
//
// A verified provider identity is the same Identity a Rails answer makes:
// the same headers, the same clearing of client-sent spellings, the same
// signed identity token, the same revocation by user id. It differs in
// three ways: it never outlives its token's exp (cache entries and minted
// tokens alike), its revocation time is the token's iat (a user revoked
// after the token was issued loses it, a later login is not affected), and
// it is not written to Redis (a local verification costs less than a
// Redis round trip; every node verifies for itself).

// Source names where an identity came from.
type Source uint8

// The sources.
const (
	SourceLegacy   Source = iota // Rails' verify endpoint
	SourceProvider               // a JWT of a configured issuer
)

func (s Source) String() string {
	if s == SourceProvider {
		return "provider"
	}
	return "legacy"
}

// Issuer is one trusted identity provider (a jwt_issuers entry), validated.
type Issuer struct {
	Issuer     string // the exact iss
	JWKSURI    string
	Audiences  []string // aud must contain one of them
	Algorithms []string // asymmetric only
	// UserIDClaim and RolesClaim are claim paths: a top-level claim name
	// (dots included, as Auth0's namespaced claims have them), or else a
	// dotted path into nested objects (realm_access.roles).
	UserIDClaim  string
	RolesClaim   string
	ClaimHeaders []ClaimHeader // sorted by claim
	ClockSkew    time.Duration
}

// ClaimHeader maps a claim path to an upstream header.
type ClaimHeader struct {
	Claim  string
	Header string
}

// Algorithms are the signature algorithms an issuer may use: asymmetric
// only, so that no public key can be mistaken for an HMAC secret.
var Algorithms = []string{"RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"}

// maxProviderTokenLifetime bounds how far ahead a provider token's exp may
// be: a revocation is remembered this long (revocationKeep), so a token
// that lived longer could outlive the memory of its revocation.
const maxProviderTokenLifetime = 24 * time.Hour

// providerSet is an engine's issuers, by iss.
type providerSet map[string]*issuerVerifier

func newProviders(s Settings, slots []string, now func() time.Time) providerSet {
	if len(s.Issuers) == 0 {
		return nil
	}
	ps := make(providerSet, len(s.Issuers))
	for _, is := range s.Issuers {
		v := &issuerVerifier{Issuer: is, keys: jwksFor(is.JWKSURI), slots: len(slots), now: now}
		for _, c := range is.ClaimHeaders {
			for i, h := range slots {
				if HeaderNameEqual(h, c.Header) {
					v.claimSlots = append(v.claimSlots, i)
					break
				}
			}
		}
		v.parser = jwt.NewParser(
			jwt.WithValidMethods(is.Algorithms),
			jwt.WithIssuer(is.Issuer),
			jwt.WithAudience(is.Audiences...),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(is.ClockSkew),
			jwt.WithJSONNumber(),
			jwt.WithTimeFunc(now),
		)
		ps[is.Issuer] = v
	}
	return ps
}

// route returns the verifier of the issuer a credential's token names, or
// nil: not a Bearer JWT, or not one of a configured issuer. It reads the
// unverified payload's iss only; the verifier checks everything.
func (ps providerSet) route(cred credential) *issuerVerifier {
	if len(ps) == 0 {
		return nil
	}
	tok, ok := strings.CutPrefix(cred.authorization, canonicalScheme)
	if !ok || strings.Count(tok, ".") != 2 {
		return nil
	}
	payload := tok[strings.IndexByte(tok, '.')+1 : strings.LastIndexByte(tok, '.')]
	raw, err := base64.RawURLEncoding.DecodeString(payload)
	if err != nil {
		return nil
	}
	var claims struct {
		Iss any `json:"iss"`
	}
	if json.Unmarshal(raw, &claims) != nil {
		return nil
	}
	iss, _ := claims.Iss.(string)
	return ps[iss]
}

// issuerVerifier verifies the tokens of one issuer.
type issuerVerifier struct {
	Issuer
	keys   *jwksKeys
	parser *jwt.Parser
	// slots is how many extra-header values an identity carries
	// (headerSlots); claimSlots[i] is the slot of ClaimHeaders[i].
	slots      int
	claimSlots []int
	now        func() time.Time
}

// refused is a provider token refused: 401, the reason logged at debug
// (a flood of forged tokens must not flood the logs).
func refused(iss, reason string) error {
	logger.Debug("provider token refused", "issuer", iss, "reason", reason)
	providerRefused.Inc()
	return &RejectedError{Status: http.StatusUnauthorized}
}

// verify checks a token of this issuer and returns its identity and its
// issue time (zero without iat: then any remembered revocation of the user
// beats it).
func (v *issuerVerifier) verify(ctx context.Context, cred credential) (*Identity, time.Time, error) {
	kf, err := v.keys.keyfunc(ctx)
	if err != nil {
		providerUnavailable.Inc()
		return nil, time.Time{}, err
	}
	token, _ := strings.CutPrefix(cred.authorization, canonicalScheme)
	claims := jwt.MapClaims{}
	if _, err := v.parser.ParseWithClaims(token, claims, kf.KeyfuncCtx(ctx)); err != nil {
		if v.keys.empty(ctx) {
			// No key was ever loaded: the provider is unreachable, the
			// token not known to be bad.
			providerUnavailable.Inc()
			return nil, time.Time{}, fmt.Errorf("%w: no keys from %s", ErrUnavailable, v.JWKSURI)
		}
		return nil, time.Time{}, refused(v.Issuer.Issuer, err.Error())
	}
	now := v.now()
	exp, _ := claims.GetExpirationTime() // required by the parser
	if exp.Sub(now) > maxProviderTokenLifetime {
		return nil, time.Time{}, refused(v.Issuer.Issuer, "exp more than 24h ahead")
	}
	id, err := v.identity(claims, now)
	if err != nil {
		logger.Warn("provider token refused: its claims do not make an identity", "issuer", v.Issuer.Issuer, "error", err.Error())
		providerRefused.Inc()
		return nil, time.Time{}, &RejectedError{Status: http.StatusUnauthorized}
	}
	var issued time.Time
	if iat, _ := claims.GetIssuedAt(); iat != nil {
		issued = iat.Time
	}
	id.token = &tokenTimes{expires: exp.Time, authTime: issued}
	if at, ok := numericClaim(claims, "auth_time"); ok {
		id.token.authTime = at
	}
	providerVerified.Inc()
	return id, issued, nil
}

// identity reads the identity out of verified claims with the rules of a
// Rails answer (verify.go): the same checks on every value that reaches a
// header.
func (v *issuerVerifier) identity(claims jwt.MapClaims, now time.Time) (*Identity, error) {
	raw := func(path string) json.RawMessage {
		val, ok := claimAt(claims, path)
		if !ok {
			return nil
		}
		b, err := json.Marshal(val) // json.Number keeps an id's digits
		if err != nil {
			return nil
		}
		return b
	}
	userID, err := parseUserID(raw(v.UserIDClaim))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", v.UserIDClaim, err)
	}
	var roles []string
	switch r := mustClaim(claims, v.RolesClaim).(type) {
	case nil:
	case string: // a string is kept: "admin,editor"
		for _, x := range strings.Split(r, ",") {
			if x = strings.TrimSpace(x); x != "" {
				roles = append(roles, x)
			}
		}
		if err := checkRoles(roles); err != nil {
			return nil, fmt.Errorf("%s: %w", v.RolesClaim, err)
		}
	default:
		if roles, err = parseRoles(raw(v.RolesClaim)); err != nil {
			return nil, fmt.Errorf("%s: %w", v.RolesClaim, err)
		}
	}
	var extra []string
	if len(v.ClaimHeaders) > 0 {
		extra = make([]string, v.slots)
		for i, c := range v.ClaimHeaders {
			val, err := parseExtra(c.Claim, raw(c.Claim))
			if err != nil {
				return nil, err
			}
			if val != "" {
				extra[v.claimSlots[i]] = val
			}
		}
	}
	id := newIdentity(userID, roles, extra, now)
	id.source = SourceProvider
	return id, nil
}

// claimAt finds a claim by path: the top-level name as written (Auth0's
// "https://example.com/roles"), else a dotted path into nested objects.
func claimAt(claims map[string]any, path string) (any, bool) {
	if v, ok := claims[path]; ok {
		return v, v != nil
	}
	var cur any = claims
	for _, part := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, cur != nil
}

func mustClaim(claims map[string]any, path string) any {
	v, _ := claimAt(claims, path)
	return v
}

// numericClaim reads a NumericDate claim other than the registered ones.
func numericClaim(claims jwt.MapClaims, name string) (time.Time, bool) {
	n, ok := claims[name].(json.Number)
	if !ok {
		return time.Time{}, false
	}
	f, err := n.Float64()
	if err != nil || f <= 0 {
		return time.Time{}, false
	}
	return time.Unix(int64(f), 0), true
}

// resolveProvider is resolve's provider branch: verified here (no shared
// cache, no admission, no breaker: nothing of Rails is touched), checked
// against revocations by the token's issue time, and stored in this
// process only.
func (e *Engine) resolveProvider(ctx context.Context, v *issuerVerifier, key string, cred credential, parts [][32]byte) callResult {
	id, issued, err := v.verify(ctx, cred)
	if err != nil {
		return callResult{err: err}
	}
	if revokedSince(parts, id.UserID, issued) || e.sharedRevokedSince(ctx, id.UserID, parts, issued) {
		providerRevoked.Inc()
		return callResult{err: &RejectedError{Status: http.StatusUnauthorized}}
	}
	ent := &cacheEntry{id: id, fetched: id.fetched, started: issued, parts: parts, jitter: newJitter()}
	return callResult{entry: ent, cacheable: e.store(key, ent)}
}

// sharedRevokedSince reports whether Redis records a revocation of userID
// or of the credential after t (less the skew allowance). Redis trouble
// is not a refusal: the revocations this node received still hold.
func (e *Engine) sharedRevokedSince(ctx context.Context, userID string, parts [][32]byte, t time.Time) bool {
	if e.shared == nil {
		return false
	}
	cache := e.shared.get(e.now())
	if cache == nil || !cache.Healthy() {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, e.redisWait())
	defer cancel()
	at, err := cache.RevokedAt(ctx, userID, hexParts(parts)...)
	if err != nil {
		redisGetError.Inc()
		return false
	}
	return !at.IsZero() && t.Before(at.Add(revocationSkew))
}
