//! Health, readiness, metrics and policy status: the unauthenticated,
//! read-only endpoints (nothing secret in them; the port is loopback).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;

use super::App;
use crate::metrics::Scraped;
use crate::policy::Activator;

/// Why the node cannot serve, or `None` when it can: the policy is usable
/// (not stale), the store passes `quick_check`, the vault decrypts.
pub(crate) fn not_ready(activator: &Activator, vault: &warden_vault::Vault) -> Option<String> {
    if let Err(e) = activator.egress_allowed() {
        return Some(e);
    }
    match activator.store().quick_check() {
        Ok(ok) if ok == "ok" => {}
        Ok(bad) => return Some(format!("state database: {bad}")),
        Err(e) => return Some(e.to_string()),
    }
    if let Err(e) = vault.all() {
        return Some(format!("vault: {e}"));
    }
    None
}

pub(crate) async fn healthz() -> impl IntoResponse {
    Json(serde_json::json!({"status": "ok"}))
}

pub(crate) async fn readyz(State(app): State<App>) -> impl IntoResponse {
    let (a, v) = (app.activator.clone(), app.vault.clone());
    let problem = tokio::task::spawn_blocking(move || not_ready(&a, &v)).await.unwrap_or_else(|e| Some(e.to_string()));
    let revision = app.activator.current().meta.revision;
    match problem {
        None => (StatusCode::OK, Json(serde_json::json!({"status": "ready", "policy_revision": revision}))),
        Some(why) => (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({"status": "not ready", "error": why}))),
    }
}

pub(crate) async fn metrics(State(app): State<App>) -> impl IntoResponse {
    let (a, checks) = (app.activator.clone(), app.checks.clone());
    let scraped = tokio::task::spawn_blocking(move || Scraped {
        checks: checks.report(),
        approvals_pending: a.store().approvals_pending().unwrap_or(0),
        revision: a.current().meta.revision,
        plugin_failures: a
            .plugin_stats()
            .failures()
            .into_iter()
            .map(|((plugin, kind), n)| (plugin, kind.as_str().to_string(), n))
            .collect(),
    })
    .await
    .unwrap_or_default();
    ([("content-type", "application/openmetrics-text; version=1.0.0; charset=utf-8")], app.metrics.render(&scraped))
}

pub(crate) async fn policy_status(State(app): State<App>) -> impl IntoResponse {
    let a = app.activator.clone();
    match tokio::task::spawn_blocking(move || a.status()).await {
        Ok(s) => (StatusCode::OK, Json(serde_json::to_value(s).unwrap_or_default())).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
