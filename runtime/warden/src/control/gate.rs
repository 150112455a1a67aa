//! `POST /api/v1/tools/execute` and the approvals endpoints: the HTTP
//! mapping of [`warden_gate::Gate`]. Status codes live here, not in the gate.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use warden_domain::{Answer, ApprovalStatus};
use warden_gate::{ErrorKind, ExecuteRequest, GateError, Reader};

use super::auth::{AgentOrAdmin, Decider, Principal};
use super::{fail, App};

/// Longest long poll (`?wait=`), in seconds.
pub const MAX_WAIT_S: u64 = 120;

/// The `Idempotency-Key` header, checked: 1-255 visible ASCII characters.
// An axum rejection is a Response; the error path is cold.
#[allow(clippy::result_large_err)]
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, Response> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    match v.to_str() {
        Ok(k) if !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()) => Ok(Some(k.to_string())),
        _ => Err(fail(StatusCode::BAD_REQUEST, "Idempotency-Key must be 1-255 visible ASCII characters")),
    }
}

/// The one place gate errors become HTTP statuses.
fn gate_error(e: GateError) -> Response {
    let status = match e.kind() {
        ErrorKind::Invalid => StatusCode::BAD_REQUEST,
        ErrorKind::KeyReused => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Settled => {
            let body = serde_json::json!({"error": e.to_string(), "approval": e.approval()});
            return (StatusCode::CONFLICT, Json(body)).into_response();
        }
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => {
            tracing::error!(error = %e, cause = ?std::error::Error::source(&e).map(|c| c.to_string()), "gate: state database failed");
            return fail(StatusCode::INTERNAL_SERVER_ERROR, "the state database failed; the call was not decided");
        }
    };
    fail(status, e)
}

/// Run a gate call on the blocking pool (it waits on SQLite).
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, GateError> + Send + 'static) -> Result<T, Response> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(gate_error),
        Err(e) => Err(gate_error(GateError::unavailable(format!("the gate failed: {e}")))),
    }
}

/// `POST /api/v1/tools/execute`.
pub(crate) async fn execute(
    AgentOrAdmin(who): AgentOrAdmin,
    State(app): State<App>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let key = match idempotency_key(&headers) {
        Ok(k) => k,
        Err(r) => return r,
    };
    // The parser's message may quote the body (arguments can hold secrets):
    // say where it failed, not what was there.
    let req: ExecuteRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return fail(
                StatusCode::BAD_REQUEST,
                format!(
                    "expected JSON {{session_id, agent_id, tool_name, tool_args, context}} ({:?} at line {} column {})",
                    e.classify(),
                    e.line(),
                    e.column()
                ),
            )
        }
    };
    let gate = app.gate.clone();
    let scope = format!("{}:tools/execute", who.as_str());
    match blocking(move || gate.execute(req, key.as_deref().map(|k| (scope.as_str(), k)))).await {
        Ok(reply) => Json(reply).into_response(),
        Err(r) => r,
    }
}

/// `GET /api/v1/approvals?status=pending&limit=100`.
pub(crate) async fn list(
    _: AgentOrAdmin,
    State(app): State<App>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let status = match q.get("status").map(|s| s.parse::<ApprovalStatus>()) {
        None => None,
        Some(Ok(s)) => Some(s),
        Some(Err(e)) => return fail(StatusCode::BAD_REQUEST, format!("status: {e}")),
    };
    let limit = match q.get("limit").map(|l| l.parse::<usize>()) {
        None => 100,
        Some(Ok(n)) if (1..=1000).contains(&n) => n,
        Some(_) => return fail(StatusCode::BAD_REQUEST, "limit must be 1-1000"),
    };
    let gate = app.gate.clone();
    match blocking(move || gate.approvals(status, limit)).await {
        Ok(rows) => Json(serde_json::json!({"approvals": rows})).into_response(),
        Err(r) => r,
    }
}

/// `GET /api/v1/approvals/{id}?wait=30`: the approval; with `wait`, held
/// until it is decided or expires, at most `wait` seconds (long poll). The
/// agent reading an allowed `allow-once` approval takes its one run.
pub(crate) async fn get_one(
    AgentOrAdmin(who): AgentOrAdmin,
    State(app): State<App>,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let wait = match q.get("wait").map(|w| w.parse::<u64>()) {
        None => 0,
        Some(Ok(n)) if n <= MAX_WAIT_S => n,
        Some(_) => return fail(StatusCode::BAD_REQUEST, format!("wait must be 0-{MAX_WAIT_S} seconds")),
    };
    let reader = if who == Principal::Agent { Reader::Agent } else { Reader::Operator };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
    let wake = app.gate.watch(&id);
    let mut stopping = app.stopping.clone();
    loop {
        // Armed before the read, so an answer between the read and the wait
        // is not missed.
        let answered = wake.notified();
        tokio::pin!(answered);
        answered.as_mut().enable();
        let gate = app.gate.clone();
        let id2 = id.clone();
        let view = match blocking(move || gate.approval(&id2, reader)).await {
            Ok(v) => v,
            Err(r) => return r,
        };
        let now = tokio::time::Instant::now();
        if !view.status.is_pending() || now >= deadline || *stopping.borrow() {
            return Json(view).into_response();
        }
        // Wake at an answer, at the approval's own expiry, at the deadline,
        // or when the server stops (the client asks again elsewhere).
        let to_expiry = Duration::from_millis((view.expires_ms - warden_store::now_ms()).max(0) as u64);
        let until = deadline.min(now + to_expiry + Duration::from_millis(5));
        tokio::select! {
            _ = answered => {}
            _ = tokio::time::sleep_until(until) => {}
            _ = stopping.changed() => {}
        }
    }
}

/// `POST /api/v1/approvals/{id}` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DecideBody {
    decision: String,
    by: String,
}

/// `POST /api/v1/approvals/{id}` with `{decision, by}`: the operator's
/// token, or the agent's only with `[gate] agent_can_decide = true`.
pub(crate) async fn decide(
    Decider(who): Decider,
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let key = match idempotency_key(&headers) {
        Ok(k) => k,
        Err(r) => return r,
    };
    const EXPECTED: &str =
        "expected JSON {\"decision\": \"allow-once\" | \"allow-always\" | \"deny\", \"by\": \"<who>\"}";
    let Ok(b) = serde_json::from_slice::<DecideBody>(&body) else {
        return fail(StatusCode::BAD_REQUEST, EXPECTED);
    };
    let Ok(answer) = b.decision.parse::<Answer>() else {
        return fail(
            StatusCode::BAD_REQUEST,
            format!("decision must be \"allow-once\", \"allow-always\" or \"deny\", not {:?}", b.decision),
        );
    };
    if b.by.trim().is_empty() {
        return fail(StatusCode::BAD_REQUEST, "by must name who decided");
    }
    let gate = app.gate.clone();
    let scope = format!("{}:approvals", who.as_str());
    let by = format!("local:{}", b.by.trim());
    match blocking(move || gate.answer(&id, answer, &by, key.as_deref().map(|k| (scope.as_str(), k)))).await {
        Ok(view) => Json(view).into_response(),
        Err(r) => r,
    }
}
