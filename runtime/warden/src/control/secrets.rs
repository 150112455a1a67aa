//! The control API's secrets endpoints: the same as `warden secrets`, for
//! the operator (bearer `admin.token` from the state directory). Values go
//! in and never come out.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use warden_vault::{HostPattern, Injection, VaultError};
use zeroize::Zeroizing;

use super::auth::Admin;
use super::{fail, App};

fn vault_error(e: VaultError) -> Response {
    match e {
        VaultError::NotFound(_) => fail(StatusCode::NOT_FOUND, e),
        VaultError::Invalid(_) => fail(StatusCode::BAD_REQUEST, e),
        other => fail(StatusCode::INTERNAL_SERVER_ERROR, other),
    }
}

/// `GET /api/v1/secrets`: names, hosts, injection, versions, dates.
pub(crate) async fn list_secrets(_: Admin, State(app): State<App>) -> Response {
    let vault = app.vault.clone();
    match tokio::task::spawn_blocking(move || vault.list()).await {
        Ok(Ok(list)) => Json(list).into_response(),
        Ok(Err(e)) => vault_error(e),
        Err(e) => fail(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

/// `PUT /api/v1/secrets/{name}` body.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PutSecret {
    value: Zeroizing<String>,
    hosts: Vec<String>,
    #[serde(default)]
    header: Option<String>,
}

/// `PUT /api/v1/secrets/{name}`: store (a new version if it exists).
pub(crate) async fn put_secret(
    _: Admin,
    State(app): State<App>,
    Path(name): Path<String>,
    body: Result<Json<PutSecret>, axum::extract::rejection::JsonRejection>,
) -> Response {
    // The rejection text may quote the body: never echo it.
    let Ok(Json(body)) = body else {
        return fail(StatusCode::BAD_REQUEST, "expected JSON {\"value\", \"hosts\": [...], \"header\"?}");
    };
    let vault = app.vault.clone();
    let result = tokio::task::spawn_blocking(move || {
        let hosts = body.hosts.iter().map(|h| HostPattern::parse(h)).collect::<Result<Vec<_>, _>>()?;
        let inject = match &body.header {
            Some(t) => Injection::header(t)?,
            None => Injection::Substitute,
        };
        vault.set(&name, body.value, hosts, inject, "control-api").map(|v| (name, v))
    })
    .await;
    match result {
        Ok(Ok((name, version))) => Json(json!({"name": name, "version": version})).into_response(),
        Ok(Err(e)) => vault_error(e),
        Err(e) => fail(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

/// `DELETE /api/v1/secrets/{name}`.
pub(crate) async fn delete_secret(_: Admin, State(app): State<App>, Path(name): Path<String>) -> Response {
    let vault = app.vault.clone();
    match tokio::task::spawn_blocking(move || vault.remove(&name, "control-api")).await {
        Ok(Ok(())) => StatusCode::NO_CONTENT.into_response(),
        Ok(Err(e)) => vault_error(e),
        Err(e) => fail(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}

/// `POST /api/v1/secrets/rotate-identity`.
pub(crate) async fn rotate_identity(_: Admin, State(app): State<App>) -> Response {
    let vault = app.vault.clone();
    match tokio::task::spawn_blocking(move || vault.rotate_identity("control-api")).await {
        Ok(Ok(n)) => Json(json!({"reencrypted": n})).into_response(),
        Ok(Err(e)) => vault_error(e),
        Err(e) => fail(StatusCode::INTERNAL_SERVER_ERROR, e),
    }
}
