//! cargo run  (PORT, default 8000: the port kong/kong.yml points at)
//!
//! With `IDENTITY_PUBLIC_KEY_FILE` (or `IDENTITY_PUBLIC_KEY`) set, the
//! identity comes from the signed token legacy-auth adds (`jwt_header`);
//! see `identity_token` for the other variables.

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(8000);
    let app = match axum_push_service::TokenVerifier::from_env().map_err(std::io::Error::other)? {
        Some(verifier) => {
            println!("identity from the signed token, keys {verifier:?}");
            axum_push_service::verified_app(verifier)
        }
        None => axum_push_service::app(),
    };
    let listener = tokio::net::TcpListener::bind(("0.0.0.0", port)).await?;
    println!("axum-push-service listening on :{port}");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut sig) => {
                sig.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
