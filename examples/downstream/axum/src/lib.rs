//! Example Axum service behind Kong (kong/kong.yml: /axum-push, prefix
//! stripped, so /axum-push/me arrives here as /me).

pub mod identity;

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use serde::Serialize;

pub use identity::AuthenticatedUser;

/// The service's routes.
pub fn app() -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/me", get(me))
        .route("/admin", get(admin))
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

#[cfg(test)]
mod tests {
    use super::*;
    use axum::{body::Body, http::Request};
    use tower::ServiceExt;

    async fn call(uri: &str, headers: &[(&str, &str)]) -> (StatusCode, String) {
        let mut req = Request::builder().uri(uri);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let res = app()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
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
}
