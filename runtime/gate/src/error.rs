//! The gate's one error type: an opaque struct with a kind callers match on
//! (the control API maps kinds to HTTP statuses) and a message that says
//! what was wrong, never what a secret was.

use std::fmt;

use crate::view::ApprovalView;

/// What went wrong, for callers that map it (to an HTTP status, say).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The request was wrong: the message says how.
    Invalid,
    /// An `Idempotency-Key` already answered a different request.
    KeyReused,
    /// No such approval.
    NotFound,
    /// The approval was already answered otherwise ([`GateError::approval`] has it).
    Settled,
    /// The policy or the vault is not usable: nothing is decided (fail closed).
    Unavailable,
    /// The state database failed.
    Internal,
}

/// An error from the gate.
#[derive(Debug)]
pub struct GateError {
    kind: ErrorKind,
    msg: String,
    approval: Option<Box<ApprovalView>>,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl GateError {
    pub(crate) fn new(kind: ErrorKind, msg: impl Into<String>) -> GateError {
        GateError { kind, msg: msg.into(), approval: None, source: None }
    }

    pub(crate) fn invalid(msg: impl Into<String>) -> GateError {
        GateError::new(ErrorKind::Invalid, msg)
    }

    /// The policy or the vault cannot be used: nothing is decided (fail closed).
    pub fn unavailable(msg: impl Into<String>) -> GateError {
        GateError::new(ErrorKind::Unavailable, msg)
    }

    pub(crate) fn not_found(id: &str) -> GateError {
        GateError::new(ErrorKind::NotFound, format!("no approval {id}"))
    }

    pub(crate) fn key_reused() -> GateError {
        GateError::new(
            ErrorKind::KeyReused,
            "this Idempotency-Key was already used for a different request; use a new key",
        )
    }

    pub(crate) fn settled(view: ApprovalView) -> GateError {
        let msg = format!("approval {} is already {}", view.id, view.status);
        GateError { kind: ErrorKind::Settled, msg, approval: Some(Box::new(view)), source: None }
    }

    pub(crate) fn internal(what: &str, e: impl std::error::Error + Send + Sync + 'static) -> GateError {
        GateError { kind: ErrorKind::Internal, msg: what.to_string(), approval: None, source: Some(Box::new(e)) }
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// For [`ErrorKind::Settled`]: the approval as it stands.
    pub fn approval(&self) -> Option<&ApprovalView> {
        self.approval.as_deref()
    }
}

impl fmt::Display for GateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.msg)
    }
}

impl std::error::Error for GateError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<warden_store::StoreError> for GateError {
    fn from(e: warden_store::StoreError) -> GateError {
        GateError::internal("the state database failed", e)
    }
}
