//! `warden serve`: the sidecar process. It serves the egress port (the LLM
//! gateway) and the control API's health and policy endpoints, and keeps the
//! policy current (hub polling, pick-up of local activations).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use tokio::sync::Notify;

use crate::config::Config;
use crate::policy::poller::{FetchNow, PollSettings, Poller};
use crate::policy::Activator;
use crate::state::StateDir;

/// How often a running server looks for an activation made by another
/// process (`warden policy rollback`) on its state directory.
const STORE_SYNC: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub(crate) struct App {
    pub(crate) activator: Arc<Activator>,
    pub(crate) vault: Arc<warden_vault::Vault>,
    /// The operator's bearer token for the secrets endpoints.
    pub(crate) admin_token: Arc<zeroize::Zeroizing<String>>,
}

/// Run until SIGTERM or SIGINT.
pub fn serve(cfg: Config) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let dir = StateDir::open(&cfg.state_dir()?)?;
    let activator = dir.start_policy(&cfg)?;
    let (vault, created) = warden_vault::Vault::open(activator.store().clone(), &dir.identity())?;
    if created {
        tracing::warn!(identity = %dir.identity().display(), "created a new vault identity (mode 0600); back it up");
    }
    let vault = Arc::new(vault);
    let admin_token = crate::state::ensure_token(&dir.admin_token())?;
    let egress_ctx = Arc::new(crate::egress::EgressContext::new(activator.clone(), vault.clone())?);
    let usage = egress_ctx.clone();
    let mut roots = Vec::new();
    if let Some(ca) = &cfg.egress.ca_file {
        roots.push(std::fs::read(ca).map_err(|e| anyhow::anyhow!("egress.ca_file {}: {e}", ca.display()))?);
    }
    let idle = warden_policy::bundle::manifest::parse_duration(&cfg.egress.idle_timeout)
        .map_err(|e| anyhow::anyhow!("egress.idle_timeout: {e}"))?;
    let limits = warden_proxy::gateway::Limits { idle, ..Default::default() };
    let gateway = Arc::new(
        warden_proxy::gateway::Gateway::new(egress_ctx, limits, &roots)
            .map_err(anyhow::Error::msg)?,
    );
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().thread_name("warden").build()?;
    rt.block_on(async move {
        let shutdown = Arc::new(Notify::new());
        let fetch_now = FetchNow::default();
        if let Some(url) = &cfg.policy.bundle_url {
            let settings = PollSettings {
                url: url.clone(),
                min: cfg.policy.duration("poll_min", &cfg.policy.poll_min)?,
                max: cfg.policy.duration("poll_max", &cfg.policy.poll_max)?,
                timeout: cfg.policy.duration("fetch_timeout", &cfg.policy.fetch_timeout)?,
            };
            if cfg.policy.trust.is_empty() {
                tracing::warn!("policy.bundle_url is set but policy.trust is empty: every bundle will be refused");
            }
            let poller = Poller::new(settings, activator.clone())?;
            tokio::spawn(poller.run(fetch_now.clone(), shutdown.clone()));
        }
        {
            let activator = activator.clone();
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep(STORE_SYNC) => {}
                        _ = shutdown.notified() => return,
                    }
                    let a = activator.clone();
                    match tokio::task::spawn_blocking(move || a.sync_with_store()).await {
                        Ok(Err(e)) => tracing::error!(error = %format!("{e:#}"), "policy sync with the state store failed"),
                        Err(e) => tracing::error!(error = %e, "policy sync panicked"),
                        Ok(Ok(_)) => {}
                    }
                }
            });
        }
        let app = App { activator: activator.clone(), vault: vault.clone(), admin_token: Arc::new(admin_token) };
        let router = Router::new()
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            .route("/api/v1/policy", get(policy_status))
            .route("/api/v1/secrets", get(crate::control::list_secrets))
            .route("/api/v1/secrets/rotate-identity", axum::routing::post(crate::control::rotate_identity))
            .route("/api/v1/secrets/{name}", axum::routing::put(crate::control::put_secret).delete(crate::control::delete_secret))
            .with_state(app);
        let listener = tokio::net::TcpListener::bind(cfg.control.listen)
            .await
            .map_err(|e| anyhow::anyhow!("control API: cannot listen on {}: {e}", cfg.control.listen))?;
        let egress = tokio::net::TcpListener::bind(cfg.egress.listen)
            .await
            .map_err(|e| anyhow::anyhow!("egress: cannot listen on {}: {e}", cfg.egress.listen))?;
        let egress_addr = egress.local_addr()?;
        let egress_stop = {
            let s = shutdown.clone();
            async move { s.notified().await }
        };
        let egress_task = tokio::spawn(warden_proxy::gateway::serve(egress, gateway, egress_stop));
        let status = activator.status();
        tracing::info!(
            control = %listener.local_addr()?,
            egress = %egress_addr,
            policy_revision = status.revision,
            policy_digest = %status.digest,
            startup_ms = started.elapsed().as_millis() as u64,
            "warden ready"
        );
        let stop = shutdown.clone();
        axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                terminated().await;
                tracing::info!("shutting down: finishing requests in flight");
                stop.notify_waiters();
            })
            .await?;
        let _ = egress_task.await;
        anyhow::Ok(())
    })?;
    // Nothing counted is lost on a clean stop.
    usage.close();
    tracing::info!("stopped");
    Ok(())
}

async fn terminated() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

async fn healthz() -> impl IntoResponse {
    Json(serde_json::json!({"status": "ok"}))
}

async fn readyz(State(app): State<App>) -> impl IntoResponse {
    let a = app.activator.clone();
    let check = tokio::task::spawn_blocking(move || a.store().quick_check()).await;
    match check {
        Ok(Ok(ok)) if ok == "ok" => (StatusCode::OK, Json(serde_json::json!({"status": "ready"}))),
        Ok(Ok(bad)) => (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({"status": "store", "error": bad}))),
        Ok(Err(e)) => (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({"status": "store", "error": e.to_string()}))),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({"status": "store", "error": e.to_string()}))),
    }
}

async fn policy_status(State(app): State<App>) -> impl IntoResponse {
    let a = app.activator.clone();
    match tokio::task::spawn_blocking(move || a.status()).await {
        Ok(s) => (StatusCode::OK, Json(serde_json::to_value(s).unwrap_or_default())).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
