//! The identity Kong's legacy-auth plugin injects, as an Axum extractor.
//!
//! * `X-User-ID`: the user id exactly as Rails returned it. It stays a
//!   `String`: ids may be non-numeric (`u-1001`) or larger than `i64`, and the
//!   service has no reason to do arithmetic on them.
//! * `X-User-Roles`: the roles, comma-joined (`admin,editor`). Kong removes
//!   the header when the user has no roles; missing or empty both mean none.
//!
//! Kong removes any client-sent copy of both headers before setting them, so
//! they can be trusted only when every request reaches this service through
//! Kong (the service is not reachable from outside Kong's network).

use axum::{
    extract::FromRequestParts,
    http::{request::Parts, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};

/// Header carrying the user id (legacy-auth `user_id_header`).
pub const USER_ID_HEADER: &str = "x-user-id";
/// Header carrying the comma-joined roles (legacy-auth `user_roles_header`).
pub const USER_ROLES_HEADER: &str = "x-user-roles";

/// The caller, as authenticated by Kong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatedUser {
    /// The user id, verbatim.
    pub id: String,
    /// The user's roles; empty when the user has none.
    pub roles: Vec<String>,
}

impl AuthenticatedUser {
    /// Whether the user has `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// Why a request carries no usable identity. Both answer 401: behind Kong
/// they mean the route lacks legacy-auth or the request bypassed Kong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityRejection {
    /// No (or an empty) `X-User-ID` header.
    Missing,
    /// A repeated identity header, or one that is not UTF-8.
    Invalid,
}

impl IntoResponse for IdentityRejection {
    fn into_response(self) -> Response {
        let message = match self {
            IdentityRejection::Missing => "Missing X-User-ID header",
            IdentityRejection::Invalid => "Invalid identity headers",
        };
        (StatusCode::UNAUTHORIZED, message).into_response()
    }
}

/// Reads the identity from request headers.
pub fn parse_identity(headers: &HeaderMap) -> Result<AuthenticatedUser, IdentityRejection> {
    let id = single(headers, USER_ID_HEADER)?.ok_or(IdentityRejection::Missing)?;
    let roles = match single(headers, USER_ROLES_HEADER)? {
        None => Vec::new(),
        Some(value) => value
            .split(',')
            .map(str::trim)
            .filter(|role| !role.is_empty())
            .map(String::from)
            .collect(),
    };
    Ok(AuthenticatedUser { id, roles })
}

/// The header's trimmed value; `None` when absent or empty. Kong sends each
/// identity header exactly once, so a repeated one is refused.
fn single(headers: &HeaderMap, name: &str) -> Result<Option<String>, IdentityRejection> {
    let mut values = headers.get_all(name).into_iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(IdentityRejection::Invalid);
    }
    // HeaderValue::to_str accepts visible ASCII only; Rails ids may be UTF-8.
    let text = std::str::from_utf8(value.as_bytes())
        .map_err(|_| IdentityRejection::Invalid)?
        .trim();
    Ok((!text.is_empty()).then(|| text.to_owned()))
}

impl<S> FromRequestParts<S> for AuthenticatedUser
where
    S: Send + Sync,
{
    type Rejection = IdentityRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parse_identity(&parts.headers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(value.as_bytes()).unwrap(),
            );
        }
        map
    }

    fn user(id: &str, roles: &[&str]) -> AuthenticatedUser {
        AuthenticatedUser {
            id: id.to_owned(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
        }
    }

    #[test]
    fn parses_the_headers_kong_sets() {
        let cases: Vec<(
            &str,
            HeaderMap,
            Result<AuthenticatedUser, IdentityRejection>,
        )> = vec![
            (
                "integer id and two roles",
                headers(&[("x-user-id", "42"), ("x-user-roles", "admin,editor")]),
                Ok(user("42", &["admin", "editor"])),
            ),
            (
                "string id, roles header removed by Kong",
                headers(&[("x-user-id", "u-1001")]),
                Ok(user("u-1001", &[])),
            ),
            (
                "empty roles header means no roles",
                headers(&[("x-user-id", "u-1001"), ("x-user-roles", "")]),
                Ok(user("u-1001", &[])),
            ),
            (
                "id larger than i64 is kept verbatim",
                headers(&[("x-user-id", "123456789012345678901234567890")]),
                Ok(user("123456789012345678901234567890", &[])),
            ),
            (
                "UTF-8 id",
                headers(&[("x-user-id", "ユーザー")]),
                Ok(user("ユーザー", &[])),
            ),
            (
                "blanks and empty roles dropped",
                headers(&[("x-user-id", "7"), ("x-user-roles", " admin , ,editor,")]),
                Ok(user("7", &["admin", "editor"])),
            ),
            (
                "no id",
                headers(&[("x-user-roles", "admin")]),
                Err(IdentityRejection::Missing),
            ),
            (
                "empty id",
                headers(&[("x-user-id", "  ")]),
                Err(IdentityRejection::Missing),
            ),
            (
                "repeated id",
                headers(&[("x-user-id", "1"), ("x-user-id", "2")]),
                Err(IdentityRejection::Invalid),
            ),
        ];
        for (name, map, want) in cases {
            assert_eq!(parse_identity(&map), want, "{name}");
        }
    }

    #[test]
    fn refuses_an_id_that_is_not_utf8() {
        let mut map = HeaderMap::new();
        map.insert("x-user-id", HeaderValue::from_bytes(b"\xff").unwrap());
        assert_eq!(parse_identity(&map), Err(IdentityRejection::Invalid));
    }

    #[test]
    fn header_names_are_case_insensitive() {
        // HeaderName lower-cases: X-User-ID and x-user-id are one header.
        let map = headers(&[("X-User-ID", "42"), ("X-USER-ROLES", "admin")]);
        assert_eq!(parse_identity(&map), Ok(user("42", &["admin"])));
    }
}
