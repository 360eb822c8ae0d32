//! Example Axum service behind Kong (kong/kong.yml: /axum-push, prefix
//! stripped, so /axum-push/me arrives here as /me).

pub mod identity;
pub mod identity_token;

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use serde::Serialize;
use std::collections::BTreeMap;

pub use identity::AuthenticatedUser;
pub use identity_token::{TokenVerifier, VerifiedUser};

/// The service's routes.
pub fn app() -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/me", get(me))
        .route("/admin", get(admin))
}

/// The same routes with the identity taken from the signed token legacy-auth
/// adds when `jwt_header` is configured (see [`identity_token`]): plain
/// `X-User-ID` / `X-User-Roles` headers alone are refused.
pub fn verified_app(verifier: TokenVerifier) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/me", get(verified_me))
        .route("/admin", get(verified_admin))
        .with_state(verifier)
}

async fn health() -> &'static str {
    "ok"
}

#[derive(Serialize)]
struct Me {
    id: String,
    roles: Vec<String>,
}

async fn me(user: AuthenticatedUser) -> Json<Me> {
    Json(Me {
        id: user.id,
        roles: user.roles,
    })
}

async fn admin(user: AuthenticatedUser) -> Response {
    if !user.has_role("admin") {
        return (StatusCode::FORBIDDEN, "Admin role required").into_response();
    }
    format!("Hello, admin user with ID: {}!", user.id).into_response()
}

#[derive(Serialize)]
struct VerifiedMe {
    id: String,
    roles: Vec<String>,
    ext: BTreeMap<String, String>,
}

async fn verified_me(user: VerifiedUser) -> Json<VerifiedMe> {
    Json(VerifiedMe {
        id: user.id,
        roles: user.roles,
        ext: user.ext,
    })
}

async fn verified_admin(user: VerifiedUser) -> Response {
    if !user.has_role("admin") {
        return (StatusCode::FORBIDDEN, "Admin role required").into_response();
    }
    format!("Hello, admin user with ID: {}!", user.id).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::{body::Body, http::Request};
    use tower::ServiceExt;

    async fn call(uri: &str, headers: &[(&str, &str)]) -> (StatusCode, String) {
        call_app(app(), uri, headers).await
    }

    async fn call_app(app: Router, uri: &str, headers: &[(&str, &str)]) -> (StatusCode, String) {
        let mut req = Request::builder().uri(uri);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let res = app.oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
        let status = res.status();
        let body = axum::body::to_bytes(res.into_body(), usize::MAX)
            .await
            .unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn routes() {
        let alice: &[(&str, &str)] = &[("x-user-id", "42"), ("x-user-roles", "admin,editor")];
        let bob: &[(&str, &str)] = &[("x-user-id", "u-1001")];
        let none: &[(&str, &str)] = &[];
        let cases: Vec<(&str, &str, &[(&str, &str)], StatusCode, &str)> = vec![
            (
                "me, alice",
                "/me",
                alice,
                StatusCode::OK,
                r#"{"id":"42","roles":["admin","editor"]}"#,
            ),
            (
                "me, bob",
                "/me",
                bob,
                StatusCode::OK,
                r#"{"id":"u-1001","roles":[]}"#,
            ),
            (
                "me, no identity",
                "/me",
                none,
                StatusCode::UNAUTHORIZED,
                "Missing X-User-ID header",
            ),
            (
                "admin, alice",
                "/admin",
                alice,
                StatusCode::OK,
                "Hello, admin user with ID: 42!",
            ),
            (
                "admin, bob",
                "/admin",
                bob,
                StatusCode::FORBIDDEN,
                "Admin role required",
            ),
            ("health is public", "/health", none, StatusCode::OK, "ok"),
        ];
        for (name, uri, headers, status, body) in cases {
            assert_eq!(
                call(uri, headers).await,
                (status, body.to_owned()),
                "{name}"
            );
        }
    }

    #[tokio::test]
    async fn verified_routes() {
        use crate::identity_token::{tests as keys, DEFAULT_ISSUER};
        use serde_json::json;

        let verifier =
            TokenVerifier::new(keys::GATEWAY_PUBLIC.as_bytes(), DEFAULT_ISSUER, "axum-push")
                .unwrap();
        let alice = keys::gateway_token(&keys::claims());
        let bob = keys::gateway_token(&keys::with(
            keys::claims(),
            json!({"sub": "u-1001", "roles": null, "ext": null}),
        ));
        let cases: Vec<(&str, &str, Vec<(&str, &str)>, StatusCode, &str)> = vec![
            (
                "me, alice",
                "/me",
                vec![("x-identity-token", alice.as_str()), ("x-user-id", "42")],
                StatusCode::OK,
                r#"{"id":"42","roles":["admin","editor"],"ext":{"email":"alice@example.com"}}"#,
            ),
            (
                "admin, alice",
                "/admin",
                vec![("x-identity-token", alice.as_str())],
                StatusCode::OK,
                "Hello, admin user with ID: 42!",
            ),
            (
                "admin, bob with a forged roles header",
                "/admin",
                vec![
                    ("x-identity-token", bob.as_str()),
                    ("x-user-roles", "admin"),
                ],
                StatusCode::FORBIDDEN,
                "Admin role required",
            ),
            (
                "bob's token, alice's id",
                "/me",
                vec![("x-identity-token", bob.as_str()), ("x-user-id", "42")],
                StatusCode::UNAUTHORIZED,
                "Identity headers and token disagree",
            ),
            (
                "plain headers only",
                "/me",
                vec![("x-user-id", "42"), ("x-user-roles", "admin")],
                StatusCode::UNAUTHORIZED,
                "Missing identity token",
            ),
            (
                "forged token",
                "/me",
                vec![("x-identity-token", "a.b.c")],
                StatusCode::UNAUTHORIZED,
                "Invalid identity token",
            ),
            ("health is public", "/health", vec![], StatusCode::OK, "ok"),
        ];
        for (name, uri, headers, status, body) in cases {
            assert_eq!(
                call_app(verified_app(verifier.clone()), uri, &headers).await,
                (status, body.to_owned()),
                "{name}"
            );
        }
    }
}
