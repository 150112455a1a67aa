//! The forward proxy on the egress port (`HTTP_PROXY` style).
//!
//! - Absolute-form HTTP requests (`GET http://host/path`): the destination is
//!   resolved and checked by the SSRF guard, then dialled by address. The
//!   agent may write `SECRET_REF(name)` in headers or a text body; Warden
//!   substitutes the value only when the destination host is bound to that
//!   secret and refuses the whole request otherwise (a reference sent
//!   elsewhere is an exfiltration attempt: the server audits and counts it).
//!   Text bodies go through the redaction pipeline first.
//! - `CONNECT host:port`: only to allowlisted hosts and ports, after the same
//!   SSRF check, as a **blind tunnel**: the bytes inside are TLS that Warden
//!   does not terminate, so nothing in a tunnel is redacted or injected.
//! - Hop-by-hop headers (RFC 9110 7.6.1: `Connection` and the headers it
//!   names, `Proxy-*`, `Keep-Alive`, `TE`, `Trailer`, `Transfer-Encoding`,
//!   `Upgrade`) are not forwarded in either direction.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderValue};
use hyper::{Request, Response, StatusCode};
use warden_redact::Session;

use crate::gateway::{error, Body, Context, Limits};
use crate::ssrf;

type Refusal = (StatusCode, &'static str, String);

const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Remove hop-by-hop headers, including those `Connection` names.
pub fn strip_hop_by_hop(h: &mut HeaderMap) {
    let named: Vec<String> = h
        .get_all("connection")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    for n in HOP_BY_HOP.iter().map(|s| s.to_string()).chain(named) {
        h.remove(n.as_str());
    }
}

/// Resolve `host:port` and check every address; the addresses to dial.
pub async fn resolve_checked<C: Context>(ctx: &C, host: &str, port: u16) -> Result<Vec<SocketAddr>, Refusal> {
    let allow = ctx.allow_ranges();
    let addrs: Vec<SocketAddr> = match ssrf::ip_literal(host) {
        Some(ip) => vec![SocketAddr::new(ip, port)],
        None => tokio::time::timeout(Duration::from_secs(5), tokio::net::lookup_host((host, port)))
            .await
            .map_err(|_| (StatusCode::BAD_GATEWAY, "dns", format!("resolving {host} timed out")))?
            .map_err(|e| (StatusCode::BAD_GATEWAY, "dns", format!("cannot resolve {host}: {e}")))?
            .collect(),
    };
    if addrs.is_empty() {
        return Err((StatusCode::BAD_GATEWAY, "dns", format!("{host} has no address")));
    }
    for a in &addrs {
        if let Some(why) = ssrf::forbidden(a.ip(), &allow) {
            ctx.refused("ssrf", &format!("{host} -> {} ({why})", a.ip()));
            return Err((StatusCode::FORBIDDEN, "ssrf", format!("refused: {host} is {} ({why})", a.ip())));
        }
    }
    Ok(addrs)
}

async fn dial(addrs: &[SocketAddr], timeout: Duration) -> Result<tokio::net::TcpStream, Refusal> {
    let mut last = String::from("no address");
    for a in addrs {
        match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(a)).await {
            Ok(Ok(s)) => {
                let _ = s.set_nodelay(true);
                return Ok(s);
            }
            Ok(Err(e)) => last = e.to_string(),
            Err(_) => last = "connect timed out".into(),
        }
    }
    Err((StatusCode::BAD_GATEWAY, "connect", format!("cannot connect: {last}")))
}

/// Replace every `SECRET_REF(name)` in `text` with the secret's value when
/// it is bound to `host`; the first one that is not refuses the request.
fn substitute<C: Context>(ctx: &C, text: &str, host: &str) -> Result<Option<String>, Refusal> {
    const OPEN: &str = "SECRET_REF(";
    if !text.contains(OPEN) {
        return Ok(None);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(OPEN) {
        out.push_str(&rest[..at]);
        let after = &rest[at + OPEN.len()..];
        let Some(close) = after.find(')') else {
            out.push_str(&rest[at..]);
            rest = "";
            break;
        };
        let name = after[..close].trim();
        let value = ctx.secret_ref(name, host).map_err(|e| (StatusCode::FORBIDDEN, "secret_ref", e))?;
        out.push_str(&value);
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(Some(out))
}

fn is_text(h: &HeaderMap) -> bool {
    let ct = h.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_ascii_lowercase();
    ct.starts_with("text/")
        || ct.contains("json")
        || ct.contains("xml")
        || ct.starts_with("application/x-www-form-urlencoded")
        || ct.starts_with("application/javascript")
}

/// Serve an absolute-form HTTP request.
pub async fn forward<C: Context>(ctx: &C, limits: &Limits, req: Request<Incoming>) -> Response<Body> {
    match forward_inner(ctx, limits, req).await {
        Ok(r) => r,
        Err((s, k, m)) => error(s, k, &m),
    }
}

async fn forward_inner<C: Context>(
    ctx: &C,
    limits: &Limits,
    req: Request<Incoming>,
) -> Result<Response<Body>, Refusal> {
    let uri = req.uri().clone();
    if uri.scheme_str() != Some("http") {
        return Err((StatusCode::BAD_REQUEST, "scheme", "only http:// is proxied; use CONNECT for https".into()));
    }
    let url =
        reqwest::Url::parse(&uri.to_string()).map_err(|e| (StatusCode::BAD_REQUEST, "url", format!("bad URL: {e}")))?;
    let host = url.host_str().unwrap_or_default().trim_end_matches('.').to_ascii_lowercase();
    let port = url.port_or_known_default().unwrap_or(80);
    let engine = ctx.engine().map_err(|e| (StatusCode::SERVICE_UNAVAILABLE, "policy", e))?;
    let (mut parts, body) = req.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    // Headers: SECRET_REF substitution (never redaction: an Authorization
    // header is meant to carry a credential to its host).
    let mut headers = HeaderMap::new();
    for (k, v) in parts.headers.iter() {
        let value = match v.to_str().ok().map(|s| substitute(ctx, s, &host)).transpose()? {
            Some(Some(new)) => {
                let mut hv = HeaderValue::from_str(&new)
                    .map_err(|_| (StatusCode::BAD_REQUEST, "header", format!("bad value for {k}")))?;
                hv.set_sensitive(true);
                hv
            }
            _ => v.clone(),
        };
        headers.append(k.clone(), value);
    }
    let body = Limited::new(body, limits.max_request)
        .collect()
        .await
        .map_err(|e| (StatusCode::PAYLOAD_TOO_LARGE, "body", format!("request body: {e}")))?
        .to_bytes();
    let body = if !body.is_empty() && is_text(&headers) {
        let text = std::str::from_utf8(&body)
            .map_err(|_| (StatusCode::BAD_REQUEST, "body", "a text body that is not UTF-8 is not forwarded".into()))?;
        let mut session = Session::new();
        let redacted = engine.redact(text, &mut session).map_err(|e| {
            (StatusCode::UNPROCESSABLE_ENTITY, "redaction", format!("redaction failed ({e}); not forwarded"))
        })?;
        let text = substitute(ctx, &redacted.text, &host)?.unwrap_or(redacted.text);
        Bytes::from(text)
    } else {
        body
    };
    headers.remove("content-length");
    headers.insert(
        "host",
        HeaderValue::from_str(&url[url::Position::BeforeHost..url::Position::AfterPort]).expect("valid host"),
    );

    let addrs = resolve_checked(ctx, &host, port).await?;
    let tcp = dial(&addrs, limits.connect).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tcp))
        .await
        .map_err(|e| (StatusCode::BAD_GATEWAY, "upstream", format!("{host}: {e}")))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    let path = &url[url::Position::BeforePath..url::Position::AfterQuery];
    let mut out = Request::builder().method(parts.method).uri(if path.is_empty() { "/" } else { path });
    *out.headers_mut().expect("builder") = headers;
    let out = out.body(Full::new(body)).map_err(|e| (StatusCode::BAD_REQUEST, "request", e.to_string()))?;
    let resp = tokio::time::timeout(Duration::from_secs(30), sender.send_request(out))
        .await
        .map_err(|_| (StatusCode::GATEWAY_TIMEOUT, "upstream", format!("{host}: no response headers within 30 s")))?
        .map_err(|e| (StatusCode::BAD_GATEWAY, "upstream", format!("{host}: {e}")))?;
    let (mut parts, body) = resp.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    let idle = limits.idle;
    let body = body.map_err(std::io::Error::other);
    let body = IdleTimeout::new(body, idle);
    Ok(Response::from_parts(parts, BodyExt::boxed(body)))
}

/// Serve `CONNECT host:port`: a blind tunnel to an allowlisted destination.
pub async fn connect<C: Context>(ctx: &C, limits: &Limits, req: Request<Incoming>) -> Response<Body> {
    let Some(auth) = req.uri().authority().cloned() else {
        return error(StatusCode::BAD_REQUEST, "connect", "CONNECT needs host:port");
    };
    let host = auth.host().trim_start_matches('[').trim_end_matches(']').trim_end_matches('.').to_ascii_lowercase();
    let Some(port) = auth.port_u16() else {
        return error(StatusCode::BAD_REQUEST, "connect", "CONNECT needs host:port");
    };
    if let Err(e) = ctx.destination_allowed(&host, port) {
        ctx.refused("connect", &format!("{host}:{port}"));
        return error(StatusCode::FORBIDDEN, "not_allowlisted", &e);
    }
    let addrs = match resolve_checked(ctx, &host, port).await {
        Ok(a) => a,
        Err((s, k, m)) => return error(s, k, &m),
    };
    let mut upstream = match dial(&addrs, limits.connect).await {
        Ok(t) => t,
        Err((s, k, m)) => return error(s, k, &m),
    };
    tokio::spawn(async move {
        match hyper::upgrade::on(req).await {
            Ok(upgraded) => {
                let mut agent = hyper_util::rt::TokioIo::new(upgraded);
                let _ = tokio::io::copy_bidirectional(&mut agent, &mut upstream).await;
            }
            Err(e) => tracing::debug!(error = %e, "CONNECT upgrade failed"),
        }
    });
    Response::new(BodyExt::boxed(Full::new(Bytes::new()).map_err(|e| match e {})))
}

/// A body that fails when no frame arrives for `idle`.
struct IdleTimeout<B> {
    inner: B,
    idle: Duration,
    timer: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl<B> IdleTimeout<B> {
    fn new(inner: B, idle: Duration) -> Self {
        IdleTimeout { inner, idle, timer: Box::pin(tokio::time::sleep(idle)) }
    }
}

impl<B> hyper::body::Body for IdleTimeout<B>
where
    B: hyper::body::Body<Data = Bytes, Error = std::io::Error> + Unpin,
{
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, std::io::Error>>> {
        use std::future::Future;
        let this = &mut *self;
        match std::pin::Pin::new(&mut this.inner).poll_frame(cx) {
            std::task::Poll::Ready(f) => {
                let deadline = tokio::time::Instant::now() + this.idle;
                this.timer.as_mut().reset(deadline);
                std::task::Poll::Ready(f)
            }
            std::task::Poll::Pending => match this.timer.as_mut().poll(cx) {
                std::task::Poll::Ready(()) => std::task::Poll::Ready(Some(Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "upstream idle too long",
                )))),
                std::task::Poll::Pending => std::task::Poll::Pending,
            },
        }
    }
}
