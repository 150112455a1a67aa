//! The LLM gateway on the egress port: `POST /llm/<upstream>/<path>`.
//!
//! ```text
//! agent --plain HTTP--> route -> read (capped) -> parse JSON (else 400, not forwarded)
//!       -> redact every string the model reads -> drop the agent's key headers
//!       -> inject the provider key from the vault (only toward its bound host)
//!       -> upstream over rustls
//!       <- answer: JSON rehydrated whole, or SSE rehydrated event by event
//!       <- tool calls the model wrote judged; refused ones become text
//!       <- usage recorded per agent and model
//! ```
//!
//! The server supplies what changes at run time through [`Context`]: the
//! policy in force (its engine, with the vault's exact layer), the upstreams,
//! the credentials and where usage goes.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::json;
use warden_redact::{Engine, Session};
use zeroize::Zeroizing;

use crate::calls::stream::CallStream;
use crate::calls::{whole, CallVerdict, ModelCall, Scope, Taint};
use crate::json::{self, Usage};
use crate::sse::SseRehydrator;

/// A response body: whole or streamed.
pub type Body = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

/// One provider behind the gateway, as the policy declares it.
#[derive(Clone, Debug)]
pub struct Upstream {
    /// Path segment.
    pub name: String,
    /// Base URL; the rest of the path is appended.
    pub base_url: reqwest::Url,
    /// Vault secret with the provider key.
    pub secret: Option<String>,
}

/// Where a request goes, as secrets are bound: scheme, host, port.
#[derive(Clone, Copy, Debug)]
pub struct Destination<'a> {
    /// `http` or `https`.
    pub scheme: &'a str,
    /// Lowercase host name or IP literal.
    pub host: &'a str,
    /// Port (the scheme's default filled in).
    pub port: u16,
}

impl std::fmt::Display for Destination<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
    }
}

/// Why the server refused what the gateway asked of it. Never carries a
/// secret value.
#[derive(Debug, thiserror::Error)]
#[error("{msg}")]
pub struct ContextError {
    kind: ContextErrorKind,
    msg: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ContextErrorKind {
    /// The server cannot serve egress now (stale policy, locked vault).
    Unavailable,
    /// The request asked for something the policy does not allow.
    Refused,
}

impl ContextError {
    /// Egress cannot proceed now: the request fails closed with 503.
    pub fn unavailable(msg: impl Into<String>) -> ContextError {
        ContextError { kind: ContextErrorKind::Unavailable, msg: msg.into() }
    }

    /// Not allowed by the policy or the vault's bindings.
    pub fn refused(msg: impl Into<String>) -> ContextError {
        ContextError { kind: ContextErrorKind::Refused, msg: msg.into() }
    }

    /// Whether this is a refusal (as opposed to the server being unable).
    pub fn is_refusal(&self) -> bool {
        self.kind == ContextErrorKind::Refused
    }
}

/// What the gateway needs from the running server.
pub trait Context: Send + Sync + 'static {
    /// The engine of the policy in force, with the vault's exact layer.
    /// `Err` fails the request closed (a stale policy, a locked vault).
    fn engine(&self) -> Result<Engine, ContextError>;
    /// The upstream called `name`.
    fn upstream(&self, name: &str) -> Option<Upstream>;
    /// The header carrying secret `secret`, if it may go to `to`.
    fn credential(&self, secret: &str, to: &Destination<'_>) -> Result<(String, Zeroizing<String>), ContextError>;
    /// Count tokens for an agent and model.
    fn record_usage(&self, agent: &str, model: &str, usage: Usage);
    /// Whether a CONNECT tunnel may go to `host:port` (the egress allowlist).
    fn destination_allowed(&self, host: &str, port: u16) -> Result<(), ContextError>;
    /// IP ranges the SSRF guard lets through.
    fn allow_ranges(&self) -> Vec<crate::ssrf::IpRange>;
    /// The value for `SECRET_REF(name)` in a request to `to`; `Err` when
    /// the secret does not exist, is not bound to `to`, or is one the
    /// policy injects itself (a gateway provider key).
    fn secret_ref(&self, name: &str, to: &Destination<'_>) -> Result<Zeroizing<String>, ContextError>;
    /// Count and audit a refused egress attempt (`ssrf`, `connect`, `secret_ref`).
    fn refused(&self, kind: &str, detail: &str);
    /// What to do with binary parts embedded in a model request. Default: pass.
    fn binary_parts(&self) -> crate::json::BinaryParts {
        crate::json::BinaryParts::Pass
    }
    /// Count binary parts forwarded unread. Default: nothing.
    fn record_binary_parts(&self, _n: usize) {}
    /// Count what redacting one request found (metrics). Default: nothing.
    fn record_findings(&self, _findings: &[warden_redact::Finding]) {}
    /// One request served (`llm`, `forward`, `connect`), its status and the
    /// time to its response head. Default: nothing.
    fn record_request(&self, _route: &'static str, _status: u16, _elapsed: Duration) {}
    /// Whether tool calls in model answers are judged (and tool results in
    /// requests screened). Default: no, answers pass unread.
    fn judges_calls(&self) -> bool {
        false
    }
    /// Judge one tool call the model wrote. Blocking (it records the
    /// decision durably): the gateway runs it on the blocking pool. Default:
    /// pass.
    fn judge_call(&self, _scope: &Scope, _call: &ModelCall) -> CallVerdict {
        CallVerdict::Pass
    }
    /// The hosts links in answer text may carry data to (`[output]
    /// allow_hosts`); `None` leaves links alone. Default: `None`.
    fn output_hosts(&self) -> Option<Arc<Vec<String>>> {
        None
    }
    /// Links neutralised in one answer (metrics). Default: nothing.
    fn record_neutralised(&self, _n: usize) {}
    /// A request's conversation carries flagged untrusted content. Default:
    /// nothing.
    fn record_taint(&self, _taint: &Taint) {}
}

/// Limits of the gateway.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Largest request body (default 32 MiB).
    pub max_request: usize,
    /// Largest non-streamed answer (default 64 MiB).
    pub max_response: usize,
    /// Connect timeout (default 10 s).
    pub connect: Duration,
    /// Longest silence while reading an answer (default 300 s).
    pub idle: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_request: 32 << 20,
            max_response: 64 << 20,
            connect: Duration::from_secs(10),
            idle: Duration::from_secs(300),
        }
    }
}

/// The gateway.
pub struct Gateway<C> {
    ctx: Arc<C>,
    client: reqwest::Client,
    limits: Limits,
    /// `[egress] token_file`: when set, `/llm/` requests must carry it as
    /// their API key (`Authorization: Bearer` or `x-api-key`).
    token: Option<Zeroizing<String>>,
}

/// Headers of the agent's request that go on to the provider (their values
/// redacted like the body); everything else (its own key, cookies,
/// hop-by-hop headers) stays behind.
const FORWARDED: &[&str] = &[
    "content-type",
    "accept",
    "anthropic-version",
    "anthropic-beta",
    "openai-beta",
    "openai-organization",
    "openai-project",
    "user-agent",
    "x-stainless-lang",
    "x-stainless-package-version",
    "x-stainless-retry-count",
];

/// Headers of the provider's answer that go back to the agent.
const RETURNED: &[&str] =
    &["content-type", "cache-control", "retry-after", "x-request-id", "request-id", "openai-processing-ms"];

type Refusal = (StatusCode, &'static str, String);

impl<C: Context> Gateway<C> {
    /// A gateway; `extra_roots` are PEM CA certificates trusted besides the
    /// system's (for a provider behind a private CA, and for tests).
    pub fn new(ctx: Arc<C>, limits: Limits, extra_roots: &[Vec<u8>]) -> Result<Gateway<C>, String> {
        let mut builder = reqwest::Client::builder()
            // Never through a proxy: Warden *is* the agent's proxy, and
            // HTTP_PROXY in its environment would loop back here.
            .no_proxy()
            .connect_timeout(limits.connect)
            .tcp_nodelay(true)
            .read_timeout(limits.idle)
            .redirect(reqwest::redirect::Policy::none())
            .https_only(false);
        for pem in extra_roots {
            for cert in reqwest::Certificate::from_pem_bundle(pem).map_err(|e| format!("CA file: {e}"))? {
                builder = builder.add_root_certificate(cert);
            }
        }
        let client = builder.build().map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Gateway { ctx, client, limits, token: None })
    }

    /// Require `token` as the API key of every `/llm/` request.
    pub fn with_egress_token(mut self, token: Zeroizing<String>) -> Gateway<C> {
        self.token = Some(token);
        self
    }

    /// Serve one request on the egress port: CONNECT tunnels, absolute-form
    /// proxy requests, and the gateway's `/llm/...` paths.
    pub async fn handle(&self, req: Request<Incoming>) -> Response<Body> {
        let started = std::time::Instant::now();
        let (route, resp) = if req.method() == Method::CONNECT {
            ("connect", crate::forward::connect(&*self.ctx, &self.limits, req).await)
        } else if req.uri().scheme().is_some() {
            ("forward", crate::forward::forward(&*self.ctx, &self.limits, req).await)
        } else {
            let resp = match self.route(req).await {
                Ok(resp) => resp,
                Err((status, kind, msg)) => error(status, kind, &msg),
            };
            ("llm", resp)
        };
        self.ctx.record_request(route, resp.status().as_u16(), started.elapsed());
        resp
    }

    /// Only the agent's own provider client may use the gateway: no
    /// browser (`Origin`), a JSON content type (a cross-site "simple"
    /// request cannot send one), and the egress token when configured.
    fn admit<B>(&self, req: &Request<B>) -> Result<(), Refusal> {
        if req.headers().contains_key(hyper::header::ORIGIN) {
            return Err((
                StatusCode::FORBIDDEN,
                "origin",
                "requests from a browser (with an Origin header) are refused: the gateway serves the agent's own client".into(),
            ));
        }
        let ct = req.headers().get(hyper::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
        let media = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        if media != "application/json" {
            return Err((
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "content_type",
                "the gateway takes Content-Type: application/json only".into(),
            ));
        }
        if let Some(want) = &self.token {
            let got = req
                .headers()
                .get(hyper::header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
                .or_else(|| req.headers().get("x-api-key").and_then(|v| v.to_str().ok()))
                .or_else(|| req.headers().get("api-key").and_then(|v| v.to_str().ok()))
                .unwrap_or("");
            if !constant_time_eq(got.trim().as_bytes(), want.as_bytes()) {
                return Err((
                    StatusCode::UNAUTHORIZED,
                    "egress_token",
                    "the egress token is required as the API key ([egress] token_file): set it as the provider API key in the agent's config".into(),
                ));
            }
        }
        Ok(())
    }

    async fn route(&self, req: Request<Incoming>) -> Result<Response<Body>, Refusal> {
        let path = req.uri().path().to_string();
        let Some(rest) = path.strip_prefix("/llm/") else {
            return Err((
                StatusCode::NOT_FOUND,
                "not_found",
                "no such route: the gateway serves /llm/<upstream>/...".to_string(),
            ));
        };
        let (name, tail) = rest.split_once('/').unwrap_or((rest, ""));
        let upstream = self.ctx.upstream(name).ok_or_else(|| {
            (
                StatusCode::NOT_FOUND,
                "unknown_upstream",
                "no such upstream in the policy ([[gateway.upstreams]])".to_string(),
            )
        })?;
        if req.method() != Method::POST {
            return Err((
                StatusCode::METHOD_NOT_ALLOWED,
                "method",
                "the gateway forwards POST requests with a JSON body".into(),
            ));
        }
        self.admit(&req)?;
        let engine = self.ctx.engine().map_err(|e| (StatusCode::SERVICE_UNAVAILABLE, "policy", e.to_string()))?;
        let named_agent = header(&req, "x-warden-agent").unwrap_or_default();
        let agent = if named_agent.is_empty() { "default".to_string() } else { named_agent.clone() };
        // The path and query reach the provider too: scanned like the body,
        // refused (not rewritten: the path names the API) when they carry
        // anything sensitive.
        for part in [Some(tail), req.uri().query()].into_iter().flatten() {
            let find =
                |t: &str| engine.find(t).map_err(|e| (StatusCode::UNPROCESSABLE_ENTITY, "redaction", e.to_string()));
            let mut found = find(part)?;
            if let Some(decoded) = crate::json::percent_decoded(part) {
                found.extend(find(&decoded)?);
            }
            if !found.is_empty() {
                self.ctx.record_findings(&found);
                return Err((
                    StatusCode::BAD_REQUEST,
                    "sensitive_url",
                    "the URL path or query carries a secret or personal data; it was not forwarded".into(),
                ));
            }
        }
        let mut url = upstream.base_url.clone();
        {
            let base = url.path().trim_end_matches('/').to_string();
            url.set_path(&format!("{base}/{tail}"));
            url.set_query(req.uri().query());
        }
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let dest = Destination { scheme: url.scheme(), host: &host, port: url.port_or_known_default().unwrap_or(443) };
        let mut headers = reqwest::header::HeaderMap::new();
        let mut session = Session::new();
        for (k, v) in req.headers() {
            if FORWARDED.contains(&k.as_str()) {
                headers.append(k.clone(), self.redact_header(&engine, &mut session, v)?);
            }
        }
        headers.insert("accept-encoding", HeaderValue::from_static("identity"));
        if let Some(secret) = &upstream.secret {
            let (name, value) = self
                .ctx
                .credential(secret, &dest)
                .map_err(|e| (StatusCode::BAD_GATEWAY, "credential", e.to_string()))?;
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| (StatusCode::BAD_GATEWAY, "credential", format!("secret {secret}: bad header name")))?;
            let mut value = HeaderValue::from_str(&value).map_err(|_| {
                (StatusCode::BAD_GATEWAY, "credential", format!("secret {secret}: not a valid header value"))
            })?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }

        let session_id = header(&req, "x-warden-session").unwrap_or_default();
        // The body, capped, parsed and redacted. Anything unparseable is refused.
        let body = Limited::new(req.into_body(), self.limits.max_request)
            .collect()
            .await
            .map_err(|e| (StatusCode::PAYLOAD_TOO_LARGE, "body", format!("request body: {e}")))?
            .to_bytes();
        let mut doc = json::parse(&body).map_err(|e| (StatusCode::BAD_REQUEST, "invalid_json", e.to_string()))?;
        let scope = if self.ctx.judges_calls() {
            let taint = crate::screen::taint_of(&doc).map(|mut t| {
                // The excerpt goes to the audit log and an approver: redacted.
                t.excerpt = engine.redact(&t.excerpt, &mut Session::new()).map(|r| r.text).unwrap_or_default();
                self.ctx.record_taint(&t);
                t
            });
            Some(Arc::new(Scope { agent: named_agent, session: session_id, taint }))
        } else {
            None
        };
        let report =
            json::redact_request_with(&mut doc, &engine, &mut session, self.ctx.binary_parts()).map_err(|e| {
                let kind = match e {
                    json::RequestError::BinaryRefused(_) | json::RequestError::SecretInBinary(_) => "binary_part",
                    json::RequestError::TooDeep => "too_deep",
                    _ => "redaction",
                };
                (StatusCode::UNPROCESSABLE_ENTITY, kind, e.to_string())
            })?;
        self.ctx.record_findings(&report.findings);
        if report.binary_parts > 0 {
            self.ctx.record_binary_parts(report.binary_parts);
        }
        // Read after redaction: a model name is stored with usage and sent
        // to the hub, so it must be the redacted one.
        let model = json::model(&doc).unwrap_or("unknown").to_string();
        tracing::debug!(upstream = %upstream.name, redactions = report.findings.len(), strings = report.strings, binary_parts = report.binary_parts, "request redacted");
        let out = serde_json::to_vec(&doc).expect("a parsed document serialises");

        let resp = self.client.post(url).headers(headers).body(out).send().await.map_err(|e| {
            (StatusCode::BAD_GATEWAY, "upstream", format!("upstream {}: {}", upstream.name, describe(&e)))
        })?;
        let status = resp.status();
        let exact = engine.exact().clone();
        let mut builder = Response::builder().status(status.as_u16());
        for (k, v) in resp.headers() {
            if RETURNED.contains(&k.as_str()) {
                match crate::exact::redact_bytes(&exact, v.as_bytes()) {
                    std::borrow::Cow::Borrowed(_) => builder = builder.header(k, v),
                    std::borrow::Cow::Owned(b) => builder = builder.header(k, b),
                }
            }
        }
        let streaming = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("text/event-stream"));
        let guard =
            self.ctx.output_hosts().map(|h| crate::exfil::OutputGuard::new(h).with_originals(session.originals()));
        let session = Arc::new(session);
        if streaming {
            let body = self.stream(resp, session, agent, model, exact, (scope, guard));
            return Ok(builder.body(body).expect("valid response"));
        }
        let bytes = read_capped(resp, self.limits.max_response)
            .await
            .map_err(|e| (StatusCode::BAD_GATEWAY, "upstream", format!("upstream {}: {e}", upstream.name)))?;
        // A provider can quote what it was sent (an error naming the key):
        // no vault value goes back to the agent.
        let bytes = match crate::exact::redact_bytes(&exact, &bytes) {
            std::borrow::Cow::Borrowed(_) => bytes,
            std::borrow::Cow::Owned(b) => Bytes::from(b),
        };
        let body = match serde_json::from_slice::<serde_json::Value>(&bytes) {
            Ok(mut v) => {
                if let Some(u) = json::usage(&v) {
                    self.ctx.record_usage(&agent, json::model(&v).unwrap_or(&model), u);
                }
                json::rehydrate(&mut v, &session);
                if let Some(g) = &guard {
                    let n = crate::exfil::neutralise_doc(&mut v, g);
                    if n > 0 {
                        self.ctx.record_neutralised(n);
                    }
                }
                if let Some(scope) = scope {
                    let calls = whole::calls(&v);
                    if !calls.is_empty() {
                        let verdicts = judge(self.ctx.clone(), scope, calls).await;
                        whole::apply(&mut v, &verdicts);
                    }
                }
                Bytes::from(serde_json::to_vec(&v).expect("serialises"))
            }
            // Not JSON (an error page): passed on as it came.
            Err(_) => bytes,
        };
        Ok(builder.body(full(body)).expect("valid response"))
    }

    /// A forwarded header's value, redacted like the body.
    fn redact_header(&self, engine: &Engine, session: &mut Session, v: &HeaderValue) -> Result<HeaderValue, Refusal> {
        let Ok(text) = v.to_str() else {
            // Not visible ASCII: only the exact layer can read it.
            return match crate::exact::redact_bytes(engine.exact(), v.as_bytes()) {
                std::borrow::Cow::Borrowed(_) => Ok(v.clone()),
                std::borrow::Cow::Owned(b) => HeaderValue::from_bytes(&b)
                    .map_err(|_| (StatusCode::BAD_REQUEST, "header", "a header value could not be redacted".into())),
            };
        };
        let decoded = crate::json::percent_decoded(text);
        let source = match &decoded {
            Some(d) if !engine.find(d).map(|f| f.is_empty()).unwrap_or(true) => d.as_str(),
            _ => text,
        };
        let out = engine.redact(source, session).map_err(|e| {
            (StatusCode::UNPROCESSABLE_ENTITY, "redaction", format!("redaction failed ({e}); not forwarded"))
        })?;
        if out.findings.is_empty() {
            return Ok(v.clone());
        }
        self.ctx.record_findings(&out.findings);
        HeaderValue::from_str(&out.text)
            .map_err(|_| (StatusCode::BAD_REQUEST, "header", "a header value could not be redacted".into()))
    }

    /// An SSE answer, rehydrated event by event as it arrives.
    fn stream(
        &self,
        mut resp: reqwest::Response,
        session: Arc<Session>,
        agent: String,
        model: String,
        exact: warden_redact::ExactSet,
        // What the answer is checked for: tool calls (with whose scope) and
        // links (with which guard).
        (scope, guard): (Option<Arc<Scope>>, Option<crate::exfil::OutputGuard>),
    ) -> Body {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(16);
        let ctx = self.ctx.clone();
        tokio::spawn(async move {
            let mut sse = SseRehydrator::new();
            if let Some(g) = guard {
                sse = sse.with_guard(g);
            }
            // Vault values are taken out of the raw bytes before anything
            // else reads them.
            let mut vault = crate::exact::ExactStream::new(exact);
            // Tool calls are judged on the rehydrated events: what the agent
            // would run.
            let mut calls = scope.map(|s| (CallStream::new(), s));
            loop {
                match resp.chunk().await {
                    Ok(Some(chunk)) => {
                        let clean = vault.push(&chunk);
                        let mut out = sse.push(&session, &clean);
                        if let Some((filter, scope)) = &mut calls {
                            out = filter.push(&out);
                            settle(&ctx, scope, filter, &mut out).await;
                        }
                        if !out.is_empty() && tx.send(Ok(Frame::data(Bytes::from(out)))).await.is_err() {
                            return; // the agent went away
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        let rest = vault.finish();
                        let mut tail = sse.push(&session, &rest);
                        tail.extend(sse.finish(&session));
                        if let Some((filter, scope)) = &mut calls {
                            tail = filter.push(&tail);
                            tail.extend(filter.finish());
                            settle(&ctx, scope, filter, &mut tail).await;
                        }
                        let _ = tx.send(Ok(Frame::data(Bytes::from(tail)))).await;
                        let _ = tx.send(Err(std::io::Error::other(format!("upstream: {}", describe(&e))))).await;
                        return;
                    }
                }
            }
            let rest = vault.finish();
            let mut tail = sse.push(&session, &rest);
            tail.extend(sse.finish(&session));
            if let Some((filter, scope)) = &mut calls {
                tail = filter.push(&tail);
                tail.extend(filter.finish());
                settle(&ctx, scope, filter, &mut tail).await;
            }
            if !tail.is_empty() {
                let _ = tx.send(Ok(Frame::data(Bytes::from(tail)))).await;
            }
            if let Some(u) = sse.usage {
                ctx.record_usage(&agent, sse.model.as_deref().unwrap_or(&model), u);
            }
        });
        let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|f| (f, rx)) });
        BodyExt::boxed(StreamBody::new(stream))
    }
}

/// Judge `calls` on the blocking pool (the server records each decision
/// durably). A judge that fails refuses: a call nobody decided does not run.
async fn judge<C: Context>(ctx: Arc<C>, scope: Arc<Scope>, calls: Vec<ModelCall>) -> Vec<CallVerdict> {
    let n = calls.len();
    tokio::task::spawn_blocking(move || calls.iter().map(|c| ctx.judge_call(&scope, c)).collect()).await.unwrap_or_else(
        |_| {
            vec![
                CallVerdict::Refuse("Warden could not judge this tool call; it was removed and did not run.".into());
                n
            ]
        },
    )
}

/// Judge whatever calls `filter` has complete, appending what may go out.
async fn settle<C: Context>(ctx: &Arc<C>, scope: &Arc<Scope>, filter: &mut CallStream, out: &mut Vec<u8>) {
    while let Some(calls) = filter.take_ready() {
        let verdicts = judge(ctx.clone(), scope.clone(), calls).await;
        out.extend(filter.resolve(&verdicts));
    }
}

/// Compare without leaking where the first difference is.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn header(req: &Request<Incoming>, name: &str) -> Option<String> {
    req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

async fn read_capped(mut resp: reqwest::Response, cap: usize) -> Result<Bytes, String> {
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| describe(&e))? {
        if out.len() + chunk.len() > cap {
            return Err(format!("answer larger than {cap} bytes"));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(out))
}

/// A reqwest error without its URL (which could carry a query token).
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_body() || e.is_decode() {
        "broken answer"
    } else {
        "request failed"
    };
    let mut msg = kind.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        src = s.source();
    }
    msg
}

fn full(b: Bytes) -> Body {
    BodyExt::boxed(Full::new(b).map_err(|e: Infallible| match e {}))
}

/// A JSON error in the shape both SDKs print: `{"error": {"type", "message"}}`.
pub fn error(status: StatusCode, kind: &str, msg: &str) -> Response<Body> {
    let body = json!({"error": {"type": format!("warden_{kind}"), "message": msg}});
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(full(Bytes::from(body.to_string())))
        .expect("valid response")
}

/// Serve `gateway` on `listener` until `shutdown` resolves; connections in
/// flight are allowed to finish (see [`crate::server`]).
pub async fn serve<C: Context>(
    listener: tokio::net::TcpListener,
    gateway: Arc<Gateway<C>>,
    limits: crate::server::ServerLimits,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let handler = move |req| {
        let gw = gateway.clone();
        async move { gw.handle(req).await }
    };
    crate::server::serve(listener, handler, limits, shutdown).await;
}
