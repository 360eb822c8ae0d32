//! The signed identity token legacy-auth adds when `jwt_header` is set, as
//! an Axum extractor: [`VerifiedUser`].
//!
//! `X-User-ID` / `X-User-Roles` ([`crate::AuthenticatedUser`]) can be trusted
//! only if nobody can reach the service except through Kong. When that is not
//! guaranteed (someone inside the network could call the service directly
//! with forged headers), configure legacy-auth with `jwt_header` and
//! `jwt_key_file`, give the service the matching **public** key, and take the
//! identity from a token only the gateway can sign.
//!
//! The token (legacy-auth `plugin/jwt.go`):
//!
//! * header: `alg` `EdDSA` (Ed25519 key), `ES256` (P-256) or `RS256` (RSA
//!   ≥ 2048 bits); `kid` = first 16 hex chars of SHA-256 over the DER
//!   SubjectPublicKeyInfo of the public key ([`key_id`]).
//! * claims: `iss` (`jwt_issuer`, default `kong-legacy-auth`), `sub` (the
//!   user id, a string), `aud` (`[jwt_audience]`, only when configured),
//!   `iat`, `nbf` (= `iat` − 5 s), `exp` (`iat` + `jwt_ttl`, default 300 s,
//!   but never later than `auth_time` + `cache_ttl`), `auth_time` (when
//!   Rails vouched for the credential; a token for an identity served stale
//!   during a Rails outage lives at most 10 s), `roles` (array of strings,
//!   omitted when none), `ext` (object of the `extra_headers` answer
//!   fields, omitted when none).
//!
//! The verifier checks the signature (the `kid` picks the key, whose type
//! fixes the algorithm), `iss`, `aud` (required: see [`TokenVerifier::new`]),
//! `exp`, `nbf`, and bounds the token's age: `iat` neither in the future
//! nor older than the maximum token age (default [`DEFAULT_MAX_TOKEN_AGE`],
//! legacy-auth's default `jwt_ttl`; set it to yours with
//! [`TokenVerifier::with_max_token_age`]), and no lifetime beyond it.
//!
//! Kong mints one token per cached identity and reuses it until a fifth of
//! its lifetime is left.
//!
//! # Loading the gateway's public key
//!
//! Derive it from the private key Kong signs with (`jwt_key_file`) and ship
//! only the public half to the service:
//!
//! ```text
//! openssl pkey -in identity.pem -pubout -out identity.pub.pem
//! ```
//!
//! Then either let [`TokenVerifier::from_env`] read it:
//!
//! ```text
//! IDENTITY_PUBLIC_KEY_FILE=/etc/axum-push/identity.pub.pem   # or
//! IDENTITY_PUBLIC_KEY="$(cat identity.pub.pem)"              # the PEM itself
//! IDENTITY_AUDIENCE=axum-push        # legacy-auth jwt_audience of this service's routes (required)
//! IDENTITY_ANY_AUDIENCE=1            # instead of IDENTITY_AUDIENCE: accept any aud (warned at startup)
//! IDENTITY_MAX_TOKEN_AGE=300         # legacy-auth jwt_ttl, seconds (default 300)
//! IDENTITY_ISSUER=kong-legacy-auth   # legacy-auth jwt_issuer (default)
//! IDENTITY_TOKEN_HEADER=X-Identity-Token  # legacy-auth jwt_header (default)
//! ```
//!
//! or build it yourself:
//!
//! ```ignore
//! let pem = std::fs::read("/etc/axum-push/identity.pub.pem")?;
//! let verifier = TokenVerifier::new(&pem, DEFAULT_ISSUER, "axum-push")?;
//! let app = Router::new().route("/me", get(me)).with_state(verifier);
//! async fn me(user: VerifiedUser) -> String { user.id }
//! ```
//!
//! During a key rotation put both public keys (two PEM blocks) in the file:
//! the token's `kid` picks the key.
//!
//! [`VerifiedUser`] needs the [`TokenVerifier`] from the router state
//! (`TokenVerifier: FromRef<S>`: the state itself, or a field of it with
//! `#[derive(FromRef)]`).

use std::{collections::BTreeMap, fmt, sync::Arc};

use axum::{
    extract::{FromRef, FromRequestParts},
    http::{request::Parts, HeaderMap, HeaderName, StatusCode},
    response::{IntoResponse, Response},
};
use jsonwebtoken::{
    decode, decode_header,
    errors::{Error as JwtError, ErrorKind},
    get_current_timestamp, Algorithm, DecodingKey, Validation,
};
use serde::Deserialize;

use crate::identity::USER_ID_HEADER;

/// Default token header (legacy-auth `jwt_header` in the examples).
pub const IDENTITY_TOKEN_HEADER: &str = "x-identity-token";
/// legacy-auth's default `jwt_issuer`.
pub const DEFAULT_ISSUER: &str = "kong-legacy-auth";
/// Clock skew allowed on `exp`, `nbf` and `iat`, in seconds (jsonwebtoken's
/// own default is 60; the gateway already back-dates `nbf` by 5 s).
pub const LEEWAY_SECONDS: u64 = 5;
/// Default maximum token age in seconds: legacy-auth's default `jwt_ttl`.
pub const DEFAULT_MAX_TOKEN_AGE: u64 = 300;
/// Smallest RSA modulus accepted, in bits (legacy-auth refuses smaller
/// signing keys too).
const MIN_RSA_BITS: usize = 2048;

/// DER of the named-curve OID of P-256 (1.2.840.10045.3.1.7).
const P256_OID: &[u8] = &[0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

/// The caller, as the gateway signed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedUser {
    /// The user id (`sub`), verbatim.
    pub id: String,
    /// The user's roles; empty when the user has none.
    pub roles: Vec<String>,
    /// The extra answer fields legacy-auth forwards (`extra_headers`), by
    /// answer field name; empty when none.
    pub ext: BTreeMap<String, String>,
}

impl VerifiedUser {
    /// Whether the user has `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// The claims read from the token; the registered ones (`iss`, `aud`,
/// `exp`, `nbf`) are checked by [`Validation`], `iat` by [`check_age`].
/// `iat` and `exp` are optional here so that a missing one is reported as
/// such (jsonwebtoken deserializes these claims before it validates).
#[derive(Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    roles: Vec<String>,
    #[serde(default)]
    ext: BTreeMap<String, String>,
    #[serde(default)]
    iat: Option<u64>,
    #[serde(default)]
    exp: Option<u64>,
}

/// Why a request carries no verified identity. All answer 401; the variant
/// (and the jsonwebtoken error inside `Invalid`) is the reason to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenRejection {
    /// No (or an empty) token header: the route lacks legacy-auth or its
    /// `jwt_header`, or the request bypassed Kong.
    Missing,
    /// No `kid`, or one that is not a configured key's.
    UnknownKey,
    /// Signature, algorithm, `iss`, `aud`, `exp`, `nbf` or claim types wrong.
    Invalid(JwtError),
    /// `iat` missing, in the future, or older than the maximum token age, or
    /// a lifetime (`exp` − `iat`) longer than it: the reason.
    Age(&'static str),
    /// `X-User-ID` is present and differs from the token's `sub`.
    Mismatch,
}

impl IntoResponse for TokenRejection {
    fn into_response(self) -> Response {
        let message = match self {
            TokenRejection::Missing => "Missing identity token",
            TokenRejection::UnknownKey | TokenRejection::Invalid(_) | TokenRejection::Age(_) => {
                "Invalid identity token"
            }
            TokenRejection::Mismatch => "Identity headers and token disagree",
        };
        (StatusCode::UNAUTHORIZED, message).into_response()
    }
}

/// A public key or configuration that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError(String);

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "identity token: {}", self.0)
    }
}

impl std::error::Error for KeyError {}

/// One of the gateway's public keys, with the validation for its algorithm.
#[derive(Clone)]
struct GatewayKey {
    kid: String,
    key: DecodingKey,
    validation: Validation,
}

#[derive(Clone)]
struct Inner {
    header: HeaderName,
    user_id_header: HeaderName,
    keys: Vec<GatewayKey>,
    max_token_age: u64,
}

/// Verifies identity tokens. Cheap to clone (an `Arc`); build it once at
/// startup and put it in the router state.
#[derive(Clone)]
pub struct TokenVerifier(Arc<Inner>);

impl fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kids: Vec<&str> = self.0.keys.iter().map(|k| k.kid.as_str()).collect();
        f.debug_struct("TokenVerifier")
            .field("header", &self.0.header)
            .field("kids", &kids)
            .finish()
    }
}

impl TokenVerifier {
    /// A verifier for the gateway's public key(s): `pem` holds one or more
    /// `-----BEGIN PUBLIC KEY-----` blocks (Ed25519, P-256 or RSA ≥ 2048
    /// bits), as `openssl pkey -in key.pem -pubout` writes them. `issuer`
    /// is legacy-auth's `jwt_issuer` ([`DEFAULT_ISSUER`] unless changed);
    /// `audience` the `jwt_audience` of this service's routes, required:
    /// without it a token minted for another service's route would be
    /// accepted here (replayed until its `exp`).
    pub fn new(pem: &[u8], issuer: &str, audience: &str) -> Result<Self, KeyError> {
        if audience.trim().is_empty() {
            return Err(KeyError(
                "an audience is required (legacy-auth jwt_audience of this service's routes); \
                 use accepting_any_audience only if every service may accept every token"
                    .into(),
            ));
        }
        Self::build(pem, issuer, Some(audience))
    }

    /// A verifier that accepts a token whatever its `aud`, or without one.
    /// Only for a gateway whose every service may accept every token: a
    /// token sent to one service can then be replayed to another until its
    /// `exp`. Prefer [`TokenVerifier::new`] with an audience.
    pub fn accepting_any_audience(pem: &[u8], issuer: &str) -> Result<Self, KeyError> {
        Self::build(pem, issuer, None)
    }

    fn build(pem: &[u8], issuer: &str, audience: Option<&str>) -> Result<Self, KeyError> {
        let blocks = pem::parse_many(pem).map_err(|e| KeyError(format!("reading PEM: {e}")))?;
        if blocks.is_empty() {
            return Err(KeyError("no PEM block found".into()));
        }
        let keys = blocks
            .iter()
            .map(|block| GatewayKey::from_pem(block, issuer, audience))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self(Arc::new(Inner {
            header: HeaderName::from_static(IDENTITY_TOKEN_HEADER),
            user_id_header: HeaderName::from_static(USER_ID_HEADER),
            keys,
            max_token_age: DEFAULT_MAX_TOKEN_AGE,
        })))
    }

    /// Refuses tokens whose `iat` is more than `seconds` old (plus the
    /// leeway) or whose lifetime is longer: set it to legacy-auth's
    /// `jwt_ttl` when that is not the default 300.
    pub fn with_max_token_age(mut self, seconds: u64) -> Result<Self, KeyError> {
        if seconds == 0 {
            return Err(KeyError("the maximum token age must be positive".into()));
        }
        Arc::make_mut(&mut self.0).max_token_age = seconds;
        Ok(self)
    }

    /// Reads the token from `name` (legacy-auth `jwt_header`, any case)
    /// instead of `X-Identity-Token`.
    pub fn with_header(mut self, name: &str) -> Result<Self, KeyError> {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| KeyError(format!("invalid header name {name:?}")))?;
        Arc::make_mut(&mut self.0).header = name;
        Ok(self)
    }

    /// Compares the token's `sub` with `name` (legacy-auth
    /// `user_id_header`) instead of `X-User-ID`.
    pub fn with_user_id_header(mut self, name: &str) -> Result<Self, KeyError> {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| KeyError(format!("invalid header name {name:?}")))?;
        Arc::make_mut(&mut self.0).user_id_header = name;
        Ok(self)
    }

    /// The verifier the environment describes, or `None` when neither
    /// `IDENTITY_PUBLIC_KEY_FILE` nor `IDENTITY_PUBLIC_KEY` is set (the
    /// service then relies on the plain headers). See the module docs.
    pub fn from_env() -> Result<Option<Self>, KeyError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let pem = if let Some(path) = var("IDENTITY_PUBLIC_KEY_FILE") {
            std::fs::read(&path)
                .map_err(|e| KeyError(format!("IDENTITY_PUBLIC_KEY_FILE {path}: {e}")))?
        } else if let Some(pem) = var("IDENTITY_PUBLIC_KEY") {
            pem.into_bytes()
        } else {
            return Ok(None);
        };
        let issuer = var("IDENTITY_ISSUER").unwrap_or_else(|| DEFAULT_ISSUER.to_owned());
        let mut verifier = match (var("IDENTITY_AUDIENCE"), var("IDENTITY_ANY_AUDIENCE")) {
            (Some(audience), _) => Self::new(&pem, &issuer, &audience)?,
            (None, Some(any)) if any == "1" => {
                eprintln!(
                    "identity token: IDENTITY_ANY_AUDIENCE=1: aud is not checked, \
                     tokens minted for other services are accepted"
                );
                Self::accepting_any_audience(&pem, &issuer)?
            }
            (None, _) => {
                return Err(KeyError(
                    "IDENTITY_AUDIENCE is required (legacy-auth jwt_audience of this \
                     service's routes), or IDENTITY_ANY_AUDIENCE=1 to accept any"
                        .into(),
                ))
            }
        };
        if let Some(age) = var("IDENTITY_MAX_TOKEN_AGE") {
            let seconds = age.trim().parse().map_err(|_| {
                KeyError(format!(
                    "IDENTITY_MAX_TOKEN_AGE {age:?}: not a number of seconds"
                ))
            })?;
            verifier = verifier.with_max_token_age(seconds)?;
        }
        if let Some(header) = var("IDENTITY_TOKEN_HEADER") {
            verifier = verifier.with_header(&header)?;
        }
        Ok(Some(verifier))
    }

    /// The `kid`s of the configured keys.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.0.keys.iter().map(|k| k.kid.as_str())
    }

    /// Verifies a token and returns the identity it carries.
    pub fn verify(&self, token: &str) -> Result<VerifiedUser, TokenRejection> {
        let header = decode_header(token).map_err(TokenRejection::Invalid)?;
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.0.keys.iter().find(|k| k.kid == kid))
            .ok_or(TokenRejection::UnknownKey)?;
        // `decode` also refuses a token whose `alg` is not this key's one.
        let data =
            decode::<Claims>(token, &key.key, &key.validation).map_err(TokenRejection::Invalid)?;
        let Claims {
            sub,
            roles,
            ext,
            iat,
            exp,
        } = data.claims;
        if sub.is_empty() {
            let empty = ErrorKind::MissingRequiredClaim("sub".to_owned());
            return Err(TokenRejection::Invalid(empty.into()));
        }
        check_age(iat, exp, get_current_timestamp(), self.0.max_token_age)?;
        Ok(VerifiedUser {
            id: sub,
            roles,
            ext,
        })
    }

    /// Verifies the token in the request headers and checks that a plain
    /// `X-User-ID`, when present, names the same user. Roles and extra
    /// fields come from the token only: `X-User-Roles` and the extra
    /// headers are ignored, so handlers must use [`VerifiedUser`] rather
    /// than read identity headers themselves.
    pub fn verify_headers(&self, headers: &HeaderMap) -> Result<VerifiedUser, TokenRejection> {
        let token = match single(headers, &self.0.header) {
            Single::Absent => return Err(TokenRejection::Missing),
            Single::Invalid => return Err(TokenRejection::Invalid(ErrorKind::InvalidToken.into())),
            Single::Value(token) => token,
        };
        let user = self.verify(token)?;
        match single(headers, &self.0.user_id_header) {
            Single::Absent if !headers.contains_key(&self.0.user_id_header) => Ok(user),
            Single::Value(id) if id == user.id => Ok(user),
            _ => Err(TokenRejection::Mismatch),
        }
    }
}

impl GatewayKey {
    fn from_pem(block: &pem::Pem, issuer: &str, audience: Option<&str>) -> Result<Self, KeyError> {
        if block.tag() != "PUBLIC KEY" {
            return Err(KeyError(format!(
                "expected a PUBLIC KEY PEM block, found {:?}; the private key stays \
                 on the gateway (derive the public one: openssl pkey -in key.pem -pubout)",
                block.tag()
            )));
        }
        let text = pem::encode(block);
        let text = text.as_bytes();
        let (key, alg) = if let Ok(key) = DecodingKey::from_ed_pem(text) {
            (key, Algorithm::EdDSA)
        } else if let Ok(key) = DecodingKey::from_ec_pem(text) {
            if !block
                .contents()
                .windows(P256_OID.len())
                .any(|w| w == P256_OID)
            {
                return Err(KeyError("EC keys must use P-256 (ES256)".into()));
            }
            (key, Algorithm::ES256)
        } else if let Ok(key) = DecodingKey::from_rsa_pem(text) {
            // Like legacy-auth and the Fastify example: a short modulus is
            // refused rather than trusted.
            match rsa_modulus_bits(block.contents()) {
                Some(bits) if bits >= MIN_RSA_BITS => {}
                Some(bits) => {
                    return Err(KeyError(format!(
                        "RSA keys must have at least {MIN_RSA_BITS} bits, this one has {bits}"
                    )))
                }
                None => return Err(KeyError("cannot read the RSA modulus".into())),
            }
            (key, Algorithm::RS256)
        } else {
            return Err(KeyError(
                "unsupported public key: Ed25519, P-256 or RSA expected".into(),
            ));
        };

        let mut validation = Validation::new(alg);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.set_issuer(&[issuer]);
        let mut required = vec!["exp", "iss", "sub"];
        match audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                required.push("aud");
            }
            // jsonwebtoken 9 refuses a token with `aud` when no audience is
            // expected; with accepting_any_audience, `aud` is not checked.
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(required.as_slice());

        Ok(GatewayKey {
            kid: key_id(block.contents()),
            key,
            validation,
        })
    }
}

/// The `kid` legacy-auth puts in the token header: the first 16 hex chars
/// of SHA-256 over the public key's DER SubjectPublicKeyInfo (the contents
/// of its `PUBLIC KEY` PEM block).
pub fn key_id(spki_der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, spki_der);
    digest.as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Bounds the token's age. legacy-auth mints with `iat` = now and never for
/// longer than `jwt_ttl`, so an `iat` in the future, an `iat` older than
/// `max_age`, or a lifetime beyond `max_age` is not one of its tokens under
/// this configuration (or a clock is badly wrong). `now`, `iat` and `exp`
/// are seconds since the epoch.
fn check_age(
    iat: Option<u64>,
    exp: Option<u64>,
    now: u64,
    max_age: u64,
) -> Result<(), TokenRejection> {
    let iat = iat.ok_or(TokenRejection::Age("no iat"))?;
    if iat > now.saturating_add(LEEWAY_SECONDS) {
        return Err(TokenRejection::Age("iat in the future"));
    }
    if now.saturating_sub(iat) > max_age.saturating_add(LEEWAY_SECONDS) {
        return Err(TokenRejection::Age("iat older than the maximum token age"));
    }
    if exp.map_or(false, |exp| exp.saturating_sub(iat) > max_age) {
        return Err(TokenRejection::Age(
            "lifetime longer than the maximum token age",
        ));
    }
    Ok(())
}

/// One DER element at the start of `der`: (tag, contents, what follows).
fn der_element(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (bytes, tail) = rest.split_at(n);
        rest = tail;
        bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
    };
    if rest.len() < len {
        return None;
    }
    let (contents, tail) = rest.split_at(len);
    Some((tag, contents, tail))
}

/// The bit length of the modulus of an RSA SubjectPublicKeyInfo (DER):
/// SEQUENCE { SEQUENCE { algorithm }, BIT STRING { SEQUENCE { INTEGER n,
/// INTEGER e } } }.
fn rsa_modulus_bits(spki: &[u8]) -> Option<usize> {
    let (0x30, spki, _) = der_element(spki)? else {
        return None;
    };
    let (0x30, _algorithm, rest) = der_element(spki)? else {
        return None;
    };
    let (0x03, bit_string, _) = der_element(rest)? else {
        return None;
    };
    let (&0, rsa_key) = bit_string.split_first()? else {
        return None;
    };
    let (0x30, rsa_key, _) = der_element(rsa_key)? else {
        return None;
    };
    let (0x02, modulus, _) = der_element(rsa_key)? else {
        return None;
    };
    let start = modulus.iter().position(|&b| b != 0)?;
    let modulus = &modulus[start..];
    Some(modulus.len() * 8 - modulus[0].leading_zeros() as usize)
}

enum Single<'h> {
    Absent,
    Invalid,
    Value(&'h str),
}

/// The header's trimmed value. Kong sends each header exactly once; a
/// repeated one, or one that is not UTF-8, is `Invalid`; an empty one
/// counts as absent.
fn single<'h>(headers: &'h HeaderMap, name: &HeaderName) -> Single<'h> {
    let mut values = headers.get_all(name).into_iter();
    let Some(value) = values.next() else {
        return Single::Absent;
    };
    if values.next().is_some() {
        return Single::Invalid;
    }
    match std::str::from_utf8(value.as_bytes()) {
        Err(_) => Single::Invalid,
        Ok(text) if text.trim().is_empty() => Single::Absent,
        Ok(text) => Single::Value(text.trim()),
    }
}

impl<S> FromRequestParts<S> for VerifiedUser
where
    TokenVerifier: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = TokenRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        TokenVerifier::from_ref(state).verify_headers(&parts.headers)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    //! Test-only keys (generated with openssl for these tests, used nowhere
    //! else) sign tokens in the layout of legacy-auth's plugin/jwt.go.

    use super::*;
    use axum::http::HeaderValue;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::{json, Value};

    const GATEWAY_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIC2Jj2qqtTtnNw3WlvBUUwF3XuePUv0Pv1wchP4KWUiv
-----END PRIVATE KEY-----
";
    pub(crate) const GATEWAY_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEAswPt7io3w7K9K4qzcszUQAEt9k3tLSmp733WIq/55rU=
-----END PUBLIC KEY-----
";
    /// `openssl pkey -pubin -in gateway.pub -outform DER | sha256sum | cut -c1-16`
    const GATEWAY_KID: &str = "635ce237e29cad19";

    const OTHER_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEINKv9m80ek3X3hS0ilSALrRftsA2l66KPO7bb0xa8SY/
-----END PRIVATE KEY-----
";
    const OTHER_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEARoJnytIKuSbn7/OSX3eZGQgPb81LL6g7DLndNip3dYA=
-----END PUBLIC KEY-----
";
    const OTHER_KID: &str = "197c628972ef8a98";

    const EC_PRIVATE: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg4vR6BgWHnrtmyJlg
6/mUpEaywAwSk2bmHsRryR+3YwGhRANCAATCwL8qI+qADNN9+A2Up0lGKpn4ycNA
bM8D6LlqRo91/NHwBYiv0HwzIF4agMCZ7jzUATP0WKiXGpGunsFLHHoP
-----END PRIVATE KEY-----
";
    const EC_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEwsC/KiPqgAzTffgNlKdJRiqZ+MnD
QGzPA+i5akaPdfzR8AWIr9B8MyBeGoDAme481AEz9FiolxqRrp7BSxx6Dw==
-----END PUBLIC KEY-----
";
    const EC_KID: &str = "abbfb808799f93f0";

    /// `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 | openssl pkey -pubout`
    const RSA_1024_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC+hWsLqIeXwCW9Sr7f7r8ScPIy
4gQeSSfnZ8KZNH7l/s1B9NG65R5CJNBYSN2dDf7ggxGGJUAR7yuetKtIOO1ilNMM
rBaeRsQdrfp0LcezF6h/ewy10W25hRC48G5lDehtNfmjT7/hb5Nf6l75XH15n5J2
LEz+UCiyxm2fWvAX0wIDAQAB
-----END PUBLIC KEY-----
";
    /// The same with rsa_keygen_bits:2048.
    const RSA_2048_PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAqmdj5bLxJltYfuNAy5Gz
AP/JOJkT481Ql8rePytYByow7+gLbE2I1PsmnmerUSTo/cCz3lLOf2ze/1cuikkI
Dd0mrN5dHjZBVaW1yLPKD1/7z+P28pKbCIzlipaSiK5UL9uvR0A0GPS6ytOy0qtn
T2j3+RuFrYqVzS1bqKQK3W876ON2F4kPJ2Dp61hsOCZVPs2BFtuKg52qSzv4kfDg
FSZ+L9zTKGuKpCPhMM8T7lMFJaOGDPWo1WxGy6A/Zyvmfb/hYGFAnDB6fdK6B58D
H4Hw01PtNJiaQkZZnc0EBJQLyMoB/bU5JoFn4zbz+FxhVxeRKrusJzu05Ha7pJ5P
wwIDAQAB
-----END PUBLIC KEY-----
";

    fn verifier(audience: Option<&str>) -> TokenVerifier {
        match audience {
            Some(audience) => {
                TokenVerifier::new(GATEWAY_PUBLIC.as_bytes(), DEFAULT_ISSUER, audience)
            }
            None => {
                TokenVerifier::accepting_any_audience(GATEWAY_PUBLIC.as_bytes(), DEFAULT_ISSUER)
            }
        }
        .unwrap()
    }

    /// The claims legacy-auth sets for user 42 with roles and an email.
    pub(crate) fn claims() -> Value {
        let iat = get_current_timestamp();
        json!({
            "roles": ["admin", "editor"],
            "ext": { "email": "alice@example.com" },
            "iss": DEFAULT_ISSUER,
            "sub": "42",
            "aud": ["axum-push"],
            "exp": iat + 300,
            "nbf": iat - 5,
            "iat": iat,
        })
    }

    pub(crate) fn with(mut claims: Value, changes: Value) -> Value {
        for (name, value) in changes.as_object().unwrap() {
            if value.is_null() {
                claims.as_object_mut().unwrap().remove(name);
            } else {
                claims[name] = value.clone();
            }
        }
        claims
    }

    fn sign(alg: Algorithm, private_pem: &str, kid: Option<&str>, claims: &Value) -> String {
        let mut header = Header::new(alg);
        header.kid = kid.map(str::to_owned);
        let key = match alg {
            Algorithm::EdDSA => EncodingKey::from_ed_pem(private_pem.as_bytes()).unwrap(),
            Algorithm::ES256 => EncodingKey::from_ec_pem(private_pem.as_bytes()).unwrap(),
            _ => EncodingKey::from_secret(private_pem.as_bytes()),
        };
        encode(&header, claims, &key).unwrap()
    }

    pub(crate) fn gateway_token(claims: &Value) -> String {
        sign(Algorithm::EdDSA, GATEWAY_PRIVATE, Some(GATEWAY_KID), claims)
    }

    fn jwt_error(kind: ErrorKind) -> TokenRejection {
        TokenRejection::Invalid(kind.into())
    }

    #[test]
    fn key_ids_match_the_gateway() {
        for (pem, kid) in [
            (GATEWAY_PUBLIC, GATEWAY_KID),
            (OTHER_PUBLIC, OTHER_KID),
            (EC_PUBLIC, EC_KID),
        ] {
            let v = TokenVerifier::new(pem.as_bytes(), DEFAULT_ISSUER, "axum-push").unwrap();
            assert_eq!(v.key_ids().collect::<Vec<_>>(), vec![kid]);
        }
    }

    #[test]
    fn accepts_the_gateway_token() {
        let user = verifier(Some("axum-push"))
            .verify(&gateway_token(&claims()))
            .unwrap();
        assert_eq!(user.id, "42");
        assert_eq!(user.roles, vec!["admin", "editor"]);
        assert_eq!(
            user.ext.get("email").map(String::as_str),
            Some("alice@example.com")
        );
        assert!(user.has_role("admin"));
    }

    #[test]
    fn omitted_roles_and_ext_are_empty() {
        let token = gateway_token(&with(
            claims(),
            json!({"roles": null, "ext": null, "sub": "u-1001"}),
        ));
        let user = verifier(Some("axum-push")).verify(&token).unwrap();
        assert_eq!(
            user,
            VerifiedUser {
                id: "u-1001".into(),
                roles: vec![],
                ext: BTreeMap::new()
            }
        );
    }

    #[test]
    fn an_audience_is_required_unless_any_is_asked_for() {
        for audience in ["", "  "] {
            assert!(
                TokenVerifier::new(GATEWAY_PUBLIC.as_bytes(), DEFAULT_ISSUER, audience).is_err(),
                "audience {audience:?}"
            );
        }
        let other = gateway_token(&with(claims(), json!({"aud": ["another-service"]})));
        assert!(verifier(None).verify(&other).is_ok());
        assert_eq!(
            verifier(Some("axum-push")).verify(&other),
            Err(jwt_error(ErrorKind::InvalidAudience))
        );
    }

    #[test]
    fn rsa_keys_need_2048_bits() {
        let small = TokenVerifier::new(RSA_1024_PUBLIC.as_bytes(), DEFAULT_ISSUER, "axum-push");
        assert!(
            matches!(&small, Err(KeyError(msg)) if msg.contains("2048") && msg.contains("1024")),
            "{small:?}"
        );
        assert!(
            TokenVerifier::new(RSA_2048_PUBLIC.as_bytes(), DEFAULT_ISSUER, "axum-push").is_ok()
        );
        assert_eq!(
            rsa_modulus_bits(pem::parse(RSA_2048_PUBLIC).unwrap().contents()),
            Some(2048)
        );
        assert_eq!(
            rsa_modulus_bits(pem::parse(RSA_1024_PUBLIC).unwrap().contents()),
            Some(1024)
        );
        assert_eq!(rsa_modulus_bits(&[0x30, 0x03, 0x02, 0x01]), None);
    }

    #[test]
    fn token_age_is_bounded() {
        let v = verifier(Some("axum-push")).with_max_token_age(600).unwrap();
        let now = get_current_timestamp();
        let old = with(
            claims(),
            json!({"iat": now - 590, "nbf": now - 595, "exp": now + 10}),
        );
        assert!(v.verify(&gateway_token(&old)).is_ok(), "within max age 600");
        assert!(verifier(Some("axum-push")).with_max_token_age(0).is_err());
    }

    #[test]
    fn refuses_bad_tokens() {
        let now = get_current_timestamp();
        let cases: Vec<(&str, String, TokenRejection)> = vec![
            (
                "another key, gateway kid",
                sign(
                    Algorithm::EdDSA,
                    OTHER_PRIVATE,
                    Some(GATEWAY_KID),
                    &claims(),
                ),
                jwt_error(ErrorKind::InvalidSignature),
            ),
            (
                "another key, its own kid",
                sign(Algorithm::EdDSA, OTHER_PRIVATE, Some(OTHER_KID), &claims()),
                TokenRejection::UnknownKey,
            ),
            (
                "no kid",
                sign(Algorithm::EdDSA, GATEWAY_PRIVATE, None, &claims()),
                TokenRejection::UnknownKey,
            ),
            (
                "expired",
                gateway_token(&with(
                    claims(),
                    json!({"iat": now - 400, "nbf": now - 405, "exp": now - 100}),
                )),
                jwt_error(ErrorKind::ExpiredSignature),
            ),
            (
                "expired beyond the leeway",
                gateway_token(&with(claims(), json!({"exp": now - 7}))),
                jwt_error(ErrorKind::ExpiredSignature),
            ),
            (
                "not yet valid",
                gateway_token(&with(claims(), json!({"nbf": now + 60}))),
                jwt_error(ErrorKind::ImmatureSignature),
            ),
            (
                "wrong issuer",
                gateway_token(&with(claims(), json!({"iss": "someone-else"}))),
                jwt_error(ErrorKind::InvalidIssuer),
            ),
            (
                "no issuer",
                gateway_token(&with(claims(), json!({"iss": null}))),
                jwt_error(ErrorKind::MissingRequiredClaim("iss".into())),
            ),
            (
                "wrong audience",
                gateway_token(&with(claims(), json!({"aud": ["another-service"]}))),
                jwt_error(ErrorKind::InvalidAudience),
            ),
            (
                "no audience",
                gateway_token(&with(claims(), json!({"aud": null}))),
                jwt_error(ErrorKind::MissingRequiredClaim("aud".into())),
            ),
            (
                "no exp",
                gateway_token(&with(claims(), json!({"exp": null}))),
                jwt_error(ErrorKind::MissingRequiredClaim("exp".into())),
            ),
            (
                "empty sub",
                gateway_token(&with(claims(), json!({"sub": ""}))),
                jwt_error(ErrorKind::MissingRequiredClaim("sub".into())),
            ),
            (
                "HS256 with the public key as secret",
                sign(
                    Algorithm::HS256,
                    GATEWAY_PUBLIC,
                    Some(GATEWAY_KID),
                    &claims(),
                ),
                jwt_error(ErrorKind::InvalidAlgorithm),
            ),
            (
                "garbage",
                "not-a-jwt".to_owned(),
                jwt_error(ErrorKind::InvalidToken),
            ),
            (
                "iat a year ahead (no nbf)",
                gateway_token(&with(
                    claims(),
                    json!({"iat": now + 365 * 86400, "nbf": null}),
                )),
                TokenRejection::Age("iat in the future"),
            ),
            (
                "iat older than the maximum age, exp still ahead",
                gateway_token(&with(
                    claims(),
                    json!({"iat": now - 400, "nbf": now - 405, "exp": now + 100}),
                )),
                TokenRejection::Age("iat older than the maximum token age"),
            ),
            (
                "lifetime longer than the maximum age",
                gateway_token(&with(claims(), json!({"exp": now + 86400}))),
                TokenRejection::Age("lifetime longer than the maximum token age"),
            ),
            (
                "no iat",
                gateway_token(&with(claims(), json!({"iat": null}))),
                TokenRejection::Age("no iat"),
            ),
        ];
        let v = verifier(Some("axum-push"));
        for (name, token, want) in cases {
            assert_eq!(v.verify(&token), Err(want), "{name}");
        }
    }

    #[test]
    fn refuses_claims_of_the_wrong_type() {
        let v = verifier(Some("axum-push"));
        for changes in [
            json!({"sub": null}),
            json!({"roles": "admin"}),
            json!({"ext": {"level": 3}}),
        ] {
            let token = gateway_token(&with(claims(), changes.clone()));
            assert!(
                matches!(v.verify(&token), Err(TokenRejection::Invalid(_))),
                "{changes}"
            );
        }
    }

    #[test]
    fn rotation_and_key_types() {
        let both = format!("{GATEWAY_PUBLIC}{EC_PUBLIC}");
        let v = TokenVerifier::new(both.as_bytes(), DEFAULT_ISSUER, "axum-push").unwrap();
        assert!(v.verify(&gateway_token(&claims())).is_ok());
        let es256 = sign(Algorithm::ES256, EC_PRIVATE, Some(EC_KID), &claims());
        assert_eq!(v.verify(&es256).map(|u| u.id), Ok("42".to_owned()));
        // An ES256 token naming the Ed25519 key's kid.
        let crossed = sign(Algorithm::ES256, EC_PRIVATE, Some(GATEWAY_KID), &claims());
        assert_eq!(
            v.verify(&crossed),
            Err(jwt_error(ErrorKind::InvalidAlgorithm))
        );
    }

    #[test]
    fn refuses_unusable_keys() {
        for (name, pem) in [
            ("private key", GATEWAY_PRIVATE),
            ("nothing", ""),
            ("not PEM", "hello"),
        ] {
            assert!(
                TokenVerifier::new(pem.as_bytes(), DEFAULT_ISSUER, "axum-push").is_err(),
                "{name}"
            );
        }
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn headers_and_token_must_agree() {
        let v = verifier(Some("axum-push"));
        let token = gateway_token(&claims());
        let other = gateway_token(&with(claims(), json!({"sub": "u-1001", "roles": null})));
        let cases: Vec<(&str, HeaderMap, Result<&str, TokenRejection>)> = vec![
            (
                "token and matching id",
                headers(&[("x-identity-token", token.as_str()), ("x-user-id", "42")]),
                Ok("42"),
            ),
            (
                "token alone",
                headers(&[("X-Identity-Token", token.as_str())]),
                Ok("42"),
            ),
            (
                "forged id next to a valid token",
                headers(&[("x-identity-token", other.as_str()), ("x-user-id", "42")]),
                Err(TokenRejection::Mismatch),
            ),
            (
                "empty id next to a token",
                headers(&[("x-identity-token", token.as_str()), ("x-user-id", "")]),
                Err(TokenRejection::Mismatch),
            ),
            (
                "plain headers without a token",
                headers(&[("x-user-id", "42"), ("x-user-roles", "admin")]),
                Err(TokenRejection::Missing),
            ),
            (
                "repeated token",
                headers(&[
                    ("x-identity-token", token.as_str()),
                    ("x-identity-token", token.as_str()),
                ]),
                Err(jwt_error(ErrorKind::InvalidToken)),
            ),
        ];
        for (name, map, want) in cases {
            let got = v.verify_headers(&map).map(|user| user.id);
            assert_eq!(got, want.map(str::to_owned), "{name}");
        }
        // Roles come from the token: a forged X-User-Roles changes nothing.
        let map = headers(&[
            ("x-identity-token", other.as_str()),
            ("x-user-id", "u-1001"),
            ("x-user-roles", "admin"),
        ]);
        assert!(!v.verify_headers(&map).unwrap().has_role("admin"));
    }

    /// A token minted by legacy-auth's Go code (the EdDSA entry of
    /// examples/downstream/fastify/fixtures/go-minted-tokens.json). It has
    /// expired since, so this test checks signature, kid and claims only.
    #[test]
    fn verifies_a_token_minted_by_the_gateway() {
        const PUBLIC: &str = "-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEA/Vj6a/G2piJJrzTDstYTJo+VvqEDiC4NM5Du0JvweaY=
-----END PUBLIC KEY-----
";
        const TOKEN: &str = "eyJhbGciOiJFZERTQSIsImtpZCI6ImE0MTVmODcyMzQzYTI3MzIiLCJ0eXAiOiJKV1QifQ.eyJyb2xlcyI6WyJhZG1pbiIsImVkaXRvciJdLCJleHQiOnsiZW1haWwiOiJhbGljZUBleGFtcGxlLmNvbSJ9LCJpc3MiOiJrb25nLWxlZ2FjeS1hdXRoIiwic3ViIjoiNDIiLCJhdWQiOlsiZmFzdGlmeS1iZmYiXSwiZXhwIjoxNzk1NDM2MTQzLCJuYmYiOjE3OTU0MzU4MzgsImlhdCI6MTc5NTQzNTg0M30.5J0HXho4hZnpwVxWYrbB9uo48vkn07Vy-VwUaCFc-4q7NZRzFtnBE5-oWPXHTQh-KLQ5D3mYRjtSWy7y_sOtAA";
        let mut v = TokenVerifier::new(PUBLIC.as_bytes(), DEFAULT_ISSUER, "fastify-bff").unwrap();
        assert_eq!(v.key_ids().collect::<Vec<_>>(), vec!["a415f872343a2732"]);
        let inner = Arc::get_mut(&mut v.0).unwrap();
        inner.keys[0].validation.validate_exp = false;
        inner.keys[0].validation.validate_nbf = false;
        inner.max_token_age = u64::MAX; // its iat is long past too
        let user = v.verify(TOKEN).unwrap();
        assert_eq!(user.id, "42");
        assert_eq!(user.roles, vec!["admin", "editor"]);
        assert_eq!(
            user.ext.get("email").map(String::as_str),
            Some("alice@example.com")
        );
    }
}
