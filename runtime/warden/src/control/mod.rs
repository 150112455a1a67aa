//! The control API on `127.0.0.1:8200`: health, metrics, policy status, the
//! tool-call gate and approvals, and the vault. Documented in
//! `runtime/warden/api/control.openapi.json` (a test keeps it in step with the router).
//!
//! Two bearer tokens, both created on first start (mode 0600) in the state
//! directory: `agent.token` for the agent side (deciding calls, reading,
//! waiting on and, unless `[gate] agent_can_decide = false`, answering
//! approvals) and `admin.token` for the operator (everything).

pub mod gate;
pub mod secrets;

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::json;

use crate::serve::App;

/// Who a request may come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// The agent's token or the operator's.
    Agent,
    /// The operator's token only.
    Admin,
}

/// A JSON error body.
pub(crate) fn fail(status: StatusCode, msg: impl std::fmt::Display) -> Response {
    (status, Json(json!({"error": msg.to_string()}))).into_response()
}

/// Constant-time comparison of a presented token with the expected one.
fn same(given: &str, want: &str) -> bool {
    given.len() == want.len() && given.bytes().zip(want.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// Check `Authorization: Bearer <token>` for `role`; on success, the
/// principal (`agent` or `admin`), which scopes idempotency keys.
pub(crate) fn authorized(app: &App, headers: &HeaderMap, role: Role) -> Result<&'static str, Box<Response>> {
    let given = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if same(given, &app.admin_token) {
        return Ok("admin");
    }
    if role == Role::Agent && same(given, &app.agent_token) {
        return Ok("agent");
    }
    let need = match role {
        Role::Agent => "Authorization: Bearer <agent.token or admin.token from the state directory>",
        Role::Admin => "Authorization: Bearer <admin.token from the state directory>",
    };
    Err(Box::new(fail(StatusCode::UNAUTHORIZED, format!("this endpoint needs {need}"))))
}

/// The router.
pub(crate) fn router(app: App) -> Router {
    Router::new()
        .route("/healthz", get(crate::serve::healthz))
        .route("/readyz", get(crate::serve::readyz))
        .route("/metrics", get(crate::serve::metrics))
        .route("/api/v1/policy", get(crate::serve::policy_status))
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
