//! The control API on `127.0.0.1:8200`: health, metrics, policy status, the
//! tool-call gate and approvals, and the vault. Documented in
//! `runtime/warden/api/control.openapi.json` (a test keeps it in step with
//! the router). Who may call what is in [`auth`].

mod auth;
mod gate;
pub(crate) mod health;
mod secrets;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::json;
use tokio::sync::watch;
use warden_gate::Gate;

use crate::metrics::Metrics;
use crate::policy::Activator;

/// What the control API's handlers share.
#[derive(Clone)]
pub(crate) struct App {
    pub(crate) activator: Arc<Activator>,
    pub(crate) vault: Arc<warden_vault::Vault>,
    pub(crate) gate: Arc<Gate>,
    pub(crate) metrics: Arc<Metrics>,
    /// The watchman's checks, measured when `/metrics` is scraped.
    pub(crate) checks: Arc<crate::checks::Checks>,
    /// The operator's bearer token (everything).
    pub(crate) admin_token: Arc<zeroize::Zeroizing<String>>,
    /// The agent side's bearer token (tool calls, reading approvals).
    pub(crate) agent_token: Arc<zeroize::Zeroizing<String>>,
    /// Becomes `true` when the server starts to stop: long polls answer at once.
    pub(crate) stopping: watch::Receiver<bool>,
    /// Whether `agent.token` may answer approvals (`[gate] agent_can_decide`).
    pub(crate) agent_can_decide: bool,
}

/// A JSON error body.
pub(crate) fn fail(status: StatusCode, msg: impl std::fmt::Display) -> Response {
    (status, Json(json!({"error": msg.to_string()}))).into_response()
}

/// The router.
pub(crate) fn router(app: App) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/api/v1/policy", get(health::policy_status))
        .route("/api/v1/tools/execute", post(gate::execute))
        .route("/api/v1/approvals", get(gate::list))
        .route("/api/v1/approvals/{id}", get(gate::get_one).post(gate::decide))
        .route("/api/v1/secrets", get(secrets::list_secrets))
        .route("/api/v1/secrets/rotate-identity", post(secrets::rotate_identity))
        .route("/api/v1/secrets/{name}", put(secrets::put_secret).delete(secrets::delete_secret))
        .layer(axum::middleware::from_fn_with_state(app.clone(), observe))
        .with_state(app)
}

/// Count every control request by route template and status.
async fn observe(State(app): State<App>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let route =
        req.extensions().get::<MatchedPath>().map(|p| p.as_str().to_string()).unwrap_or_else(|| "unmatched".into());
    let resp = next.run(req).await;
    app.metrics.request("control", &route, resp.status().as_u16(), started.elapsed());
    resp
}
