//! Who may call what: one extractor per role, so a handler states its role
//! in its signature and no handler checks a token by hand.
//!
//! Two bearer tokens, both created on first start (mode 0600) in the state
//! directory: `agent.token` for the agent side (deciding calls, reading and
//! waiting on approvals; answering them only with `[gate] agent_can_decide
//! = true`) and `admin.token` for the operator (everything).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::Response;

use super::{fail, App};

/// Whose token a request carried; scopes idempotency keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Principal {
    /// `agent.token`.
    Agent,
    /// `admin.token`.
    Admin,
}

impl Principal {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Principal::Agent => "agent",
            Principal::Admin => "admin",
        }
    }
}

/// The agent's token or the operator's.
pub(crate) struct AgentOrAdmin(pub Principal);

/// The operator's token only.
pub(crate) struct Admin;

/// Whoever may answer approvals: the operator, and the agent only with
/// `[gate] agent_can_decide = true`.
pub(crate) struct Decider(pub Principal);

impl FromRequestParts<App> for AgentOrAdmin {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Response> {
        principal(parts, app, true).map(AgentOrAdmin)
    }
}

impl FromRequestParts<App> for Admin {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Response> {
        principal(parts, app, false).map(|_| Admin)
    }
}

impl FromRequestParts<App> for Decider {
    type Rejection = Response;
    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Response> {
        principal(parts, app, app.agent_can_decide).map(Decider)
    }
}

/// Check `Authorization: Bearer <token>`: the admin token always passes,
/// the agent token when `agent_ok`.
// An axum rejection is a Response; the error path is cold.
#[allow(clippy::result_large_err)]
fn principal(parts: &Parts, app: &App, agent_ok: bool) -> Result<Principal, Response> {
    let given = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if same(given, &app.admin_token) {
        return Ok(Principal::Admin);
    }
    if agent_ok && same(given, &app.agent_token) {
        return Ok(Principal::Agent);
    }
    let need = if agent_ok {
        "Authorization: Bearer <agent.token or admin.token from the state directory>"
    } else {
        "Authorization: Bearer <admin.token from the state directory>"
    };
    Err(fail(StatusCode::UNAUTHORIZED, format!("this endpoint needs {need}")))
}

/// Constant-time comparison of a presented token with the expected one.
fn same(given: &str, want: &str) -> bool {
    given.len() == want.len() && given.bytes().zip(want.bytes()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}
