//! The LLM gateway on the egress port: `POST /llm/<upstream>/<path>`.
//!
//! ```text
//! agent --plain HTTP--> route -> read (capped) -> parse JSON (else 400, not forwarded)
//!       -> redact every string the model reads -> drop the agent's key headers
//!       -> inject the provider key from the vault (only toward its bound host)
//!       -> upstream over rustls
//!       <- answer: JSON rehydrated whole, or SSE rehydrated event by event
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

/// What the gateway needs from the running server.
pub trait Context: Send + Sync + 'static {
    /// The engine of the policy in force, with the vault's exact layer.
    /// `Err` fails the request closed (a stale policy, a locked vault).
    fn engine(&self) -> Result<Engine, String>;
    /// The upstream called `name`.
    fn upstream(&self, name: &str) -> Option<Upstream>;
    /// The header carrying secret `secret`, if it may go to `host`.
    fn credential(&self, secret: &str, host: &str) -> Result<(String, Zeroizing<String>), String>;
    /// Count tokens for an agent and model.
    fn record_usage(&self, agent: &str, model: &str, usage: Usage);
    /// Whether a CONNECT tunnel may go to `host:port` (the egress allowlist).
    fn destination_allowed(&self, host: &str, port: u16) -> Result<(), String>;
    /// IP ranges the SSRF guard lets through.
    fn allow_ranges(&self) -> Vec<crate::ssrf::IpRange>;
    /// The value for `SECRET_REF(name)` in a request to `host`; `Err` when
    /// the secret does not exist or is not bound to `host`.
    fn secret_ref(&self, name: &str, host: &str) -> Result<Zeroizing<String>, String>;
    /// Count and audit a refused egress attempt (`ssrf`, `connect`, `secret_ref`).
    fn refused(&self, kind: &str, detail: &str);
    /// Count what redacting one request found (metrics). Default: nothing.
    fn record_findings(&self, _findings: &[warden_redact::Finding]) {}
    /// One request served (`llm`, `forward`, `connect`), its status and the
    /// time to its response head. Default: nothing.
    fn record_request(&self, _route: &'static str, _status: u16, _elapsed: Duration) {}
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
}

/// Headers of the agent's request that go on to the provider; everything
/// else (its own key, cookies, hop-by-hop headers) stays behind.
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
        Ok(Gateway { ctx, client, limits })
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

    async fn route(&self, req: Request<Incoming>) -> Result<Response<Body>, (StatusCode, &'static str, String)> {
        let path = req.uri().path().to_string();
        let Some(rest) = path.strip_prefix("/llm/") else {
            return Err((
                StatusCode::NOT_FOUND,
                "not_found",
                format!("no route for {path}: the gateway serves /llm/<upstream>/..."),
            ));
        };
        let (name, tail) = rest.split_once('/').unwrap_or((rest, ""));
        let upstream = self.ctx.upstream(name).ok_or_else(|| {
            (StatusCode::NOT_FOUND, "unknown_upstream", format!("no upstream named {name:?} in the policy"))
        })?;
        if req.method() != Method::POST {
            return Err((
                StatusCode::METHOD_NOT_ALLOWED,
                "method",
                "the gateway forwards POST requests with a JSON body".into(),
            ));
        }
        let engine = self.ctx.engine().map_err(|e| (StatusCode::SERVICE_UNAVAILABLE, "policy", e))?;
        let agent = header(&req, "x-warden-agent").unwrap_or_else(|| "default".into());
        let mut url = upstream.base_url.clone();
        {
            let base = url.path().trim_end_matches('/').to_string();
            url.set_path(&format!("{base}/{tail}"));
            url.set_query(req.uri().query());
        }
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let mut headers = reqwest::header::HeaderMap::new();
        for (k, v) in req.headers() {
            if FORWARDED.contains(&k.as_str()) {
                headers.append(k.clone(), v.clone());
            }
        }
        headers.insert("accept-encoding", HeaderValue::from_static("identity"));
        if let Some(secret) = &upstream.secret {
            let (name, value) =
                self.ctx.credential(secret, &host).map_err(|e| (StatusCode::BAD_GATEWAY, "credential", e))?;
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| (StatusCode::BAD_GATEWAY, "credential", format!("secret {secret}: bad header name")))?;
            let mut value = HeaderValue::from_str(&value).map_err(|_| {
                (StatusCode::BAD_GATEWAY, "credential", format!("secret {secret}: not a valid header value"))
            })?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }

        // The body, capped, parsed and redacted. Anything unparseable is refused.
        let body = Limited::new(req.into_body(), self.limits.max_request)
            .collect()
            .await
            .map_err(|e| (StatusCode::PAYLOAD_TOO_LARGE, "body", format!("request body: {e}")))?
            .to_bytes();
        let mut doc = json::parse(&body).map_err(|e| (StatusCode::BAD_REQUEST, "invalid_json", e.to_string()))?;
        let mut session = Session::new();
        let report = json::redact_request(&mut doc, &engine, &mut session)
            .map_err(|e| (StatusCode::UNPROCESSABLE_ENTITY, "redaction", e.to_string()))?;
        self.ctx.record_findings(&report.findings);
        let model = json::model(&doc).unwrap_or("unknown").to_string();
        tracing::debug!(upstream = %upstream.name, redactions = report.findings.len(), strings = report.strings, "request redacted");
        let out = serde_json::to_vec(&doc).expect("a parsed document serialises");

        let resp = self.client.post(url).headers(headers).body(out).send().await.map_err(|e| {
            (StatusCode::BAD_GATEWAY, "upstream", format!("upstream {}: {}", upstream.name, describe(&e)))
        })?;
        let status = resp.status();
        let mut builder = Response::builder().status(status.as_u16());
        for (k, v) in resp.headers() {
            if RETURNED.contains(&k.as_str()) {
                builder = builder.header(k, v);
            }
        }
        let streaming = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("text/event-stream"));
        let session = Arc::new(session);
        if streaming {
            let body = self.stream(resp, session, agent, model);
            return Ok(builder.body(body).expect("valid response"));
        }
        let bytes = read_capped(resp, self.limits.max_response)
            .await
            .map_err(|e| (StatusCode::BAD_GATEWAY, "upstream", format!("upstream {}: {e}", upstream.name)))?;
        let body = match serde_json::from_slice::<serde_json::Value>(&bytes) {
            Ok(mut v) => {
                if let Some(u) = json::usage(&v) {
                    self.ctx.record_usage(&agent, json::model(&v).unwrap_or(&model), u);
                }
                json::rehydrate(&mut v, &session);
                Bytes::from(serde_json::to_vec(&v).expect("serialises"))
            }
            // Not JSON (an error page): passed on as it came.
            Err(_) => bytes,
        };
        Ok(builder.body(full(body)).expect("valid response"))
    }

    /// An SSE answer, rehydrated event by event as it arrives.
    fn stream(&self, mut resp: reqwest::Response, session: Arc<Session>, agent: String, model: String) -> Body {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, std::io::Error>>(16);
        let ctx = self.ctx.clone();
        tokio::spawn(async move {
            let mut sse = SseRehydrator::new();
            loop {
                match resp.chunk().await {
                    Ok(Some(chunk)) => {
                        let out = sse.push(&session, &chunk);
                        if !out.is_empty() && tx.send(Ok(Frame::data(Bytes::from(out)))).await.is_err() {
                            return; // the agent went away
                        }
                    }
                    Ok(None) => break,
                    Err(e) => {
                        let tail = sse.finish(&session);
                        let _ = tx.send(Ok(Frame::data(Bytes::from(tail)))).await;
                        let _ = tx.send(Err(std::io::Error::other(format!("upstream: {}", describe(&e))))).await;
                        return;
                    }
                }
            }
            let tail = sse.finish(&session);
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
/// flight are allowed to finish.
pub async fn serve<C: Context>(
    listener: tokio::net::TcpListener,
    gateway: Arc<Gateway<C>>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    use hyper_util::rt::TokioIo;
    // Each connection watches `stop`: on shutdown it finishes the request in
    // flight and closes (tunnels already upgraded run on until they end).
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut conns = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                // PERF: small writes (SSE events, response heads) must not
                // wait for Nagle's algorithm and the peer's delayed ACK: that
                // added ~40 ms per request (`cargo bench -p warden --bench gateway`).
                let _ = stream.set_nodelay(true);
                let gw = gateway.clone();
                let service = hyper::service::service_fn(move |req| {
                    let gw = gw.clone();
                    async move { Ok::<_, Infallible>(gw.handle(req).await) }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(30))
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades();
                let mut stopped = stopped.clone();
                conns.spawn(async move {
                    let mut conn = std::pin::pin!(conn);
                    let result = tokio::select! {
                        r = conn.as_mut() => r,
                        _ = stopped.changed() => {
                            conn.as_mut().graceful_shutdown();
                            conn.await
                        }
                    };
                    if let Err(e) = result {
                        tracing::debug!(error = %e, "egress connection ended with an error");
                    }
                });
                // Reap finished connections so the set does not grow.
                while conns.try_join_next().is_some() {}
            }
            _ = &mut shutdown => break,
        }
    }
    let _ = stop.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(30), async { while conns.join_next().await.is_some() {} }).await;
}
