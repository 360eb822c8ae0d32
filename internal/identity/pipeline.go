package identity

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Decision is what the Kong adapter applies: the set_headers argument, the
// groups for Kong's ACL plugin (nil: no kong.ctx.shared call) and the
// outcome to count.
type Decision struct {
	Set     map[string][]string
	Groups  []any
	Outcome Outcome
	// Credential is the id of the credential to present to Kong
	// (kong.client.authenticate): "<source>:<user id>"; "" when
	// kong_credential is off.
	Credential string
}

// Outcome names how a request was answered, for the adapter's metrics.
// Failures other than a cached rejection carry none: the adapter names
// them from the error.
type Outcome string

// The outcomes the core decides.
const (
	OutcomeHit         Outcome = "hit"             // fresh from a cache
	OutcomeMiss        Outcome = "miss"            // answered by a shared call
	OutcomeStale       Outcome = "stale"           // stale_if_error while the verifier fails
	OutcomeRejectedHit Outcome = "rejected_cached" // a cached 401/403
	OutcomeAnonymous   Outcome = "anonymous"       // allow_anonymous, no credential
)

// Authenticate is the request path; read it first. It turns the client's
// request headers into the decision for the upstream request, or an error
// the adapter maps to the client's answer, in this order, each step a call
// into the stage (file) that owns it:
//
//  1. credential      credential.go  the canonical credential and the client's spoofed spellings
//  2. route cache     cache.go       this route's partition: fresh, a cached rejection, or stale kept
//     a. refresh      refresh.go     a fresh hit late in cache_ttl refreshed in the background, once
//  3. scope cache     cache.go       the other routes of the same auth scope
//  4. shared call     call.go        one call for all concurrent misses, running resolve:
//     -  routing      provider.go    a configured issuer's JWT: verified, revocation-checked, stored there
//     a. shared cache shared.go      Redis, every entry checked against
//     b. revocation   revocation.go  the revocations recorded there and received here
//     c. admission    admission.go   a permit of the scope's adaptive limit, or a shed
//     d. verifier     verify.go      a Verifier (rails.go, behind breaker.go)
//     e. store        cache.go, shared.go
//  5. settle          cache.go       this route's policy on the call's answer: store, reject, or stale
//  6. headers         headers.go, token.go  the identity headers and the signed identity token
//
// No stage calls back into the one that called it. Every judgement of age
// uses this route's own policy.
func (e *Engine) Authenticate(ctx context.Context, headers map[string][]string) (Decision, error) {
	in, err := e.headers.inspect(headers) // 1
	if err != nil {
		if errors.Is(err, ErrMissingCredential) && e.AllowAnonymous {
			return Decision{Set: e.headers.anonymous(in.spoofed), Outcome: OutcomeAnonymous}, nil
		}
		return Decision{}, err
	}
	now := e.now()
	key := credentialKey(e.scope, in.cred)
	p := e.partition(now)

	look := e.fromRoute(p, key, now) // 2
	if look.answered() {
		if look.ent != nil {
			e.refreshAhead(key, in.cred, look.ent, now) // 2a refresh.go, in the background
		}
		return e.decide(look, in.spoofed, now)
	}
	scoped := e.fromScope(p, key, now) // 3
	if scoped.answered() {
		return e.decide(scoped, in.spoofed, now)
	}
	stale := newer(look.stale, scoped.stale)

	res := e.share(key, func() callResult { return e.resolve(key, in.cred, time.Time{}) }) // 4

	return e.decide(e.settle(p, key, in.cred, res, stale), in.spoofed, now) // 5, 6
}

// resolve is one shared call (step 4), in order, inside one deadline of
// timeout: a sibling that stored the answer meanwhile, the shared cache
// (each entry checked against revocations), admission, the verifier, and
// the store.
//
// A background refresh (refresh.go) of an entry fetched at refreshing runs
// it with the lowest admission priority and takes no cached answer that
// is not newer than that entry; a request's call passes the zero time.
func (e *Engine) resolve(key string, cred credential, refreshing time.Time) callResult {
	ctx, cancel := context.WithTimeout(context.Background(), e.Timeout)
	defer cancel()
	parts := credentialParts(cred)
	background := !refreshing.IsZero()

	// A request that missed just before another one's call stored its
	// answer would otherwise start a second call: look again first.
	if ent := e.fromSiblings(key); ent != nil && ent.fetched.After(refreshing) {
		return callResult{entry: ent, cacheable: true}
	}
	// Routing by the token, never by trial: a JWT of a configured issuer
	// goes to that issuer only (provider.go); the rest to Rails, unless
	// legacy_fallback is off.
	if v := e.providers.route(cred); v != nil {
		return e.resolveProvider(ctx, v, key, cred, parts)
	}
	if e.ProviderOnly {
		return callResult{err: &RejectedError{Status: http.StatusUnauthorized}}
	}
	var stale *cacheEntry
	if ent := e.fromShared(ctx, key, parts); ent != nil { // 4a, 4b inside
		if e.fresh(ent, e.now()) && ent.fetched.After(refreshing) {
			redisGetHit.Inc()
			return callResult{entry: ent, cacheable: true}
		}
		stale = ent
	}

	done, err := e.admit(ctx, background) // 4c
	if err != nil {
		return callResult{err: err, stale: stale} // shed: Rails not called, not a failure of Rails
	}
	start := e.now()
	id, err := e.verifier.Verify(ctx, cred) // 4d
	done(err)
	observeCall(start, err)
	if err != nil {
		e.afterFailure(key, err)
		return callResult{err: err, stale: stale}
	}
	ent := &cacheEntry{id: id, fetched: e.now(), started: start, parts: parts, jitter: newJitter()}
	return callResult{entry: ent, cacheable: e.store(key, ent)} // 4e
}

// decide is step 6: the identity headers of an answered request, or its
// error.
func (e *Engine) decide(a answer, spoofed []string, now time.Time) (Decision, error) {
	if a.err != nil {
		return Decision{Outcome: a.outcome}, a.err
	}
	set, err := e.headers.plan(a.id, spoofed, now)
	if err != nil {
		logger.Error("building identity headers", "error", err.Error())
		return Decision{}, fmt.Errorf("%w: %v", ErrInternal, err)
	}
	d := Decision{Set: set, Outcome: a.outcome}
	if e.ACLGroups {
		d.Groups = a.id.groups
	}
	if e.KongCredential {
		d.Credential = a.id.kongCredential()
	}
	identitiesBySource[a.id.source].Inc()
	return d, nil
}

// answer is what a step concluded: an identity or an error with its
// outcome, or nothing yet (and perhaps a stale entry for later).
type answer struct {
	id      *Identity
	outcome Outcome
	err     error
	stale   *cacheEntry
	ent     *cacheEntry // the fresh entry a route hit served
}

func (a answer) answered() bool { return a.id != nil || a.err != nil }
