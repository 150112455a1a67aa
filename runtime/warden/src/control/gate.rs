//! `POST /api/v1/tools/execute` and the approvals endpoints over
//! [`crate::gate::Gate`].

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{authorized, fail, Role};
use crate::gate::{view, ExecuteRequest, GateError, Reply};
use crate::serve::App;

/// Longest long poll (`?wait=`), in seconds.
pub const MAX_WAIT_S: u64 = 120;

/// The `Idempotency-Key` header, checked: 1-255 visible ASCII characters.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, Box<Response>> {
    let Some(v) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    match v.to_str() {
        Ok(k) if !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| b.is_ascii_graphic()) => Ok(Some(k.to_string())),
        _ => Err(Box::new(fail(StatusCode::BAD_REQUEST, "Idempotency-Key must be 1-255 visible ASCII characters"))),
    }
}

fn request_hash(path: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(path.as_bytes());
    h.update([0]);
    h.update(body);
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

fn reply(r: Result<Reply, GateError>) -> Response {
    match r {
        Ok((status, body)) => {
            let mut resp = (StatusCode::from_u16(status).unwrap_or(StatusCode::OK), body).into_response();
            resp.headers_mut().insert("content-type", HeaderValue::from_static("application/json"));
            resp
        }
        Err(e) => gate_error(e),
    }
}

fn gate_error(e: GateError) -> Response {
    match e {
        GateError::KeyReused => fail(StatusCode::UNPROCESSABLE_ENTITY, e),
        GateError::Invalid(m) => fail(StatusCode::BAD_REQUEST, m),
        GateError::NotFound(_) => fail(StatusCode::NOT_FOUND, e),
        GateError::Settled(row) => {
            let msg = format!("approval {} is already {}", row.id, row.status);
            (StatusCode::CONFLICT, Json(serde_json::json!({"error": msg, "approval": view(&row)}))).into_response()
        }
        GateError::Unavailable(m) => fail(StatusCode::SERVICE_UNAVAILABLE, m),
        e @ (GateError::Store(_) | GateError::Commit(_)) => {
            tracing::error!(error = %e, "gate: state database failed");
            fail(StatusCode::INTERNAL_SERVER_ERROR, "the state database failed; the call was not decided")
        }
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, GateError> + Send + 'static,
) -> Result<T, GateError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(GateError::Unavailable(format!("the gate failed: {e}"))))
}

/// `POST /api/v1/tools/execute`.
pub(crate) async fn execute(State(app): State<App>, headers: HeaderMap, body: Bytes) -> Response {
    let principal = match authorized(&app, &headers, Role::Agent) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let key = match idempotency_key(&headers) {
        Ok(k) => k,
        Err(r) => return *r,
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
    let hash = request_hash("/api/v1/tools/execute", &body);
    let gate = app.gate.clone();
    reply(
        blocking(move || {
            let scope = format!("{principal}:tools/execute");
            gate.execute(req, key.as_deref().map(|k| (scope.as_str(), k, hash.as_str())))
        })
        .await,
    )
}

/// `GET /api/v1/approvals?status=pending&limit=100`.
pub(crate) async fn list(
    State(app): State<App>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(r) = authorized(&app, &headers, Role::Agent) {
        return *r;
    }
    let status = q.get("status").cloned();
    if let Some(s) = &status {
        if !matches!(s.as_str(), "pending" | "allowed" | "denied" | "expired") {
            return fail(StatusCode::BAD_REQUEST, "status must be pending, allowed, denied or expired");
        }
    }
    let limit = match q.get("limit").map(|l| l.parse::<usize>()) {
        None => 100,
        Some(Ok(n)) if (1..=1000).contains(&n) => n,
        Some(_) => return fail(StatusCode::BAD_REQUEST, "limit must be 1-1000"),
    };
    let gate = app.gate.clone();
    match blocking(move || {
        gate.expire()?;
        Ok(gate.store().approvals(status.as_deref(), limit)?)
    })
    .await
    {
        Ok(rows) => Json(serde_json::json!({"approvals": rows.iter().map(view).collect::<Vec<_>>()})).into_response(),
        Err(e) => gate_error(e),
    }
}

/// `GET /api/v1/approvals/{id}?wait=30`: the approval; with `wait`, held
/// until it is decided or expires, at most `wait` seconds (long poll).
pub(crate) async fn get_one(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    if let Err(r) = authorized(&app, &headers, Role::Agent) {
        return *r;
    }
    let wait = match q.get("wait").map(|w| w.parse::<u64>()) {
        None => 0,
        Some(Ok(n)) if n <= MAX_WAIT_S => n,
        Some(_) => return fail(StatusCode::BAD_REQUEST, format!("wait must be 0-{MAX_WAIT_S} seconds")),
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
    let mut changed = app.gate.subscribe();
    let mut stopping = app.stopping.clone();
    loop {
        let gate = app.gate.clone();
        let id2 = id.clone();
        let row = match blocking(move || gate.approval(&id2)).await {
            Ok(row) => row,
            Err(e) => return gate_error(e),
        };
        let now = tokio::time::Instant::now();
        if row.status != "pending" || now >= deadline || *stopping.borrow() {
            return Json(view(&row)).into_response();
        }
        // Wake at a change, at the approval's own expiry, at the deadline,
        // or when the server stops (the client asks again elsewhere).
        let to_expiry = Duration::from_millis((row.expires_at - warden_store::now_ms()).max(0) as u64);
        let until = deadline.min(now + to_expiry + Duration::from_millis(5));
        tokio::select! {
            _ = changed.changed() => {}
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
/// token, or the agent's unless `[gate] agent_can_decide = false`.
pub(crate) async fn decide(
    State(app): State<App>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let role = if app.agent_can_decide { Role::Agent } else { Role::Admin };
    let principal = match authorized(&app, &headers, role) {
        Ok(p) => p,
        Err(r) => return *r,
    };
    let key = match idempotency_key(&headers) {
        Ok(k) => k,
        Err(r) => return *r,
    };
    let Ok(b) = serde_json::from_slice::<DecideBody>(&body) else {
        return fail(
            StatusCode::BAD_REQUEST,
            "expected JSON {\"decision\": \"allow-once\" | \"allow-always\" | \"deny\", \"by\": \"<who>\"}",
        );
    };
    if b.by.trim().is_empty() {
        return fail(StatusCode::BAD_REQUEST, "by must name who decided");
    }
    let hash = request_hash(&format!("/api/v1/approvals/{id}"), &body);
    let gate = app.gate.clone();
    reply(
        blocking(move || {
            let by = format!("local:{}", b.by.trim());
            let scope = format!("{principal}:approvals");
            gate.decide(&id, &b.decision, &by, key.as_deref().map(|k| (scope.as_str(), k, hash.as_str())))
        })
        .await,
    )
}
