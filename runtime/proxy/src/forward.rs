//! The forward proxy on the egress port (`HTTP_PROXY` style).
//!
//! - Absolute-form HTTP requests (`GET http://host/path`): the destination is
//!   resolved and checked by the SSRF guard, then dialled by address. The
//!   agent may write `SECRET_REF(name)` in headers or a text body; Warden
//!   substitutes the value only when the secret is bound to the destination's
//!   scheme, host and port and refuses the whole request otherwise (a
//!   reference sent elsewhere is an exfiltration attempt: the server audits
//!   and counts it).
//! - **Nothing leaves unscanned**: the path, the query, every header value
//!   and every body go through the redaction pipeline before substitution:
//!   JSON walked like a model request, forms pair by pair, multipart part by
//!   part (each by its own type), any other text whole, and bytes that are
//!   not text through the exact layer (vault values at least).
//! - **Nothing comes back with a vault value**: the answer's headers and body
//!   pass through the exact layer, streamed, so a destination that reflects
//!   what it was sent (an echo, a stored value read back) cannot hand a
//!   substituted secret to the agent.
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
use warden_redact::{Engine, Session};

use crate::gateway::{error, Body, Context, Destination, Limits};
use crate::ssrf;

type Refusal = (StatusCode, &'static str, String);

fn redaction_failed(e: impl std::fmt::Display) -> Refusal {
    (StatusCode::UNPROCESSABLE_ENTITY, "redaction", format!("redaction failed ({e}); not forwarded"))
}

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
/// it is bound to `to`; the first one that is not refuses the request.
fn substitute<C: Context>(ctx: &C, text: &str, to: &Destination<'_>) -> Result<Option<String>, Refusal> {
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
        let value = ctx.secret_ref(name, to).map_err(|e| (StatusCode::FORBIDDEN, "secret_ref", e.to_string()))?;
        out.push_str(&value);
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(Some(out))
}

/// The media type of a `Content-Type` value, lowercase, without parameters.
fn media_type(ct: &str) -> String {
    ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase()
}

/// Redacts one request's parts with one session (the same value gets the
/// same placeholder in the URL, the headers and the body).
struct Scrubber<'a, C> {
    ctx: &'a C,
    engine: &'a Engine,
    session: Session,
    to: Destination<'a>,
}

impl<C: Context> Scrubber<'_, C> {
    /// Redacted text, or `None` when nothing was found.
    fn text(&mut self, text: &str) -> Result<Option<String>, Refusal> {
        // A percent-encoded value is judged decoded as well.
        let decoded = crate::json::percent_decoded(text);
        let source = match &decoded {
            Some(d) if !self.engine.find(d).map_err(redaction_failed)?.is_empty() => d.as_str(),
            _ => text,
        };
        let out = self.engine.redact(source, &mut self.session).map_err(redaction_failed)?;
        if out.findings.is_empty() {
            return Ok(None);
        }
        self.ctx.record_findings(&out.findings);
        Ok(Some(out.text))
    }

    /// Redacted, then `SECRET_REF`s substituted.
    fn text_then_refs(&mut self, text: &str) -> Result<String, Refusal> {
        let redacted = self.text(text)?;
        let t = redacted.as_deref().unwrap_or(text);
        Ok(substitute(self.ctx, t, &self.to)?.unwrap_or_else(|| t.to_string()))
    }

    /// A URL's path segments and query pairs, each judged decoded.
    fn url(&mut self, url: &mut reqwest::Url) -> Result<(), Refusal> {
        let segments: Vec<String> = url.path_segments().map(|s| s.map(str::to_string).collect()).unwrap_or_default();
        let mut changed = false;
        let mut new_segments = Vec::with_capacity(segments.len());
        for seg in &segments {
            match self.text(seg)? {
                Some(r) => {
                    changed = true;
                    new_segments.push(r);
                }
                None => new_segments.push(seg.clone()),
            }
        }
        if changed {
            url.path_segments_mut().expect("an http URL has a path").clear().extend(&new_segments);
        }
        if url.query().is_some() {
            let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
            let mut changed = false;
            let mut out = Vec::with_capacity(pairs.len());
            for (k, v) in pairs {
                let k2 = self.text(&k)?;
                let v2 = self.text(&v)?;
                changed |= k2.is_some() || v2.is_some();
                out.push((k2.unwrap_or(k), v2.unwrap_or(v)));
            }
            // The raw query too (a value the pairs split apart).
            if !changed && self.text(url.query().unwrap_or(""))?.is_some() {
                url.set_query(Some("redacted"));
            } else if changed {
                url.query_pairs_mut().clear().extend_pairs(out);
            }
        }
        Ok(())
    }

    /// A body of media type `media` (multipart handled by the caller).
    fn payload(&mut self, media: &str, body: &[u8]) -> Result<Vec<u8>, Refusal> {
        if body.is_empty() {
            return Ok(Vec::new());
        }
        if media.contains("json") {
            if let Ok(mut doc) = serde_json::from_slice::<serde_json::Value>(body) {
                let report = crate::json::redact_request_with(
                    &mut doc,
                    self.engine,
                    &mut self.session,
                    crate::json::BinaryParts::Pass,
                )
                .map_err(|e| (StatusCode::UNPROCESSABLE_ENTITY, "redaction", e.to_string()))?;
                self.ctx.record_findings(&report.findings);
                let text = if report.findings.is_empty() {
                    String::from_utf8_lossy(body).into_owned()
                } else {
                    serde_json::to_string(&doc).expect("a parsed document serialises")
                };
                return Ok(substitute(self.ctx, &text, &self.to)?.unwrap_or(text).into_bytes());
            }
        }
        if media == "application/x-www-form-urlencoded" {
            if let Ok(text) = std::str::from_utf8(body) {
                let mut changed = false;
                let mut out = Vec::new();
                for (k, v) in url::form_urlencoded::parse(body) {
                    let k2 = self.text(&k)?;
                    let v2 = self.text(&v)?;
                    changed |= k2.is_some() || v2.is_some();
                    out.push((k2.unwrap_or_else(|| k.into_owned()), v2.unwrap_or_else(|| v.into_owned())));
                }
                let text = if changed {
                    url::form_urlencoded::Serializer::new(String::new()).extend_pairs(out).finish()
                } else {
                    text.to_string()
                };
                return Ok(self.text_then_refs(&text)?.into_bytes());
            }
        }
        match std::str::from_utf8(body) {
            // Text of any declared type (or none): the whole pipeline.
            Ok(text) => Ok(self.text_then_refs(text)?.into_bytes()),
            // Bytes: the exact layer, so no vault value leaves inside them.
            Err(_) => Ok(crate::exact::redact_bytes(self.engine.exact(), body).into_owned()),
        }
    }

    /// `multipart/*`: each part's headers as text, its content by its own type.
    fn multipart(&mut self, boundary: &str, body: &[u8]) -> Result<Vec<u8>, Refusal> {
        let delim = format!("--{boundary}");
        let delim = delim.as_bytes();
        let cuts: Vec<usize> = memchr::memmem::find_iter(body, delim).collect();
        if cuts.is_empty() {
            return self.payload("application/octet-stream", body);
        }
        let mut out = Vec::with_capacity(body.len());
        // Preamble: not a part, still scanned.
        out.extend(self.payload("", &body[..cuts[0]])?);
        for (i, &at) in cuts.iter().enumerate() {
            out.extend_from_slice(delim);
            let start = at + delim.len();
            let end = cuts.get(i + 1).copied().unwrap_or(body.len());
            let seg = &body[start..end];
            if seg.starts_with(b"--") || i + 1 == cuts.len() {
                // The closing delimiter and the epilogue.
                out.extend(self.payload("", seg)?);
                continue;
            }
            let Some(split) = memchr::memmem::find(seg, b"\r\n\r\n") else {
                out.extend(self.payload("", seg)?);
                continue;
            };
            let head = &seg[..split + 4];
            let mut content = &seg[split + 4..];
            let crlf = content.ends_with(b"\r\n");
            if crlf {
                content = &content[..content.len() - 2];
            }
            let head_text = String::from_utf8_lossy(head);
            let media = head_text
                .split("\r\n")
                .find_map(|l| l.split_once(':').filter(|(k, _)| k.trim().eq_ignore_ascii_case("content-type")))
                .map(|(_, v)| media_type(v))
                .unwrap_or_else(|| "text/plain".into());
            out.extend(self.payload("", head)?);
            if let Some(inner) = media.strip_prefix("multipart/").and(boundary_of(&head_text)) {
                out.extend(self.multipart(&inner, content)?);
            } else {
                out.extend(self.payload(&media, content)?);
            }
            if crlf {
                out.extend_from_slice(b"\r\n");
            }
        }
        Ok(out)
    }
}

/// The `boundary` parameter of a multipart content type (in a header block).
fn boundary_of(ct: &str) -> Option<String> {
    let lower = ct.to_ascii_lowercase();
    let at = lower.find("boundary=")? + "boundary=".len();
    let rest = &ct[at..];
    let b = if let Some(q) = rest.strip_prefix('"') {
        q.split('"').next()?
    } else {
        rest.split([';', '\r', '\n', ' ']).next()?
    };
    (!b.is_empty()).then(|| b.to_string())
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
    let mut url =
        reqwest::Url::parse(&uri.to_string()).map_err(|e| (StatusCode::BAD_REQUEST, "url", format!("bad URL: {e}")))?;
    let host = url.host_str().unwrap_or_default().trim_end_matches('.').to_ascii_lowercase();
    let port = url.port_or_known_default().unwrap_or(80);
    let engine = ctx.engine().map_err(|e| (StatusCode::SERVICE_UNAVAILABLE, "policy", e.to_string()))?;
    let mut scrub = Scrubber {
        ctx,
        engine: &engine,
        session: Session::new(),
        to: Destination { scheme: "http", host: &host, port },
    };
    scrub.url(&mut url)?;
    let (mut parts, body) = req.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    // Headers: redacted, then SECRET_REF substituted.
    let mut headers = HeaderMap::new();
    for (k, v) in parts.headers.iter() {
        if k == hyper::header::HOST {
            continue;
        }
        let value = match v.to_str() {
            Ok(text) => {
                let new = scrub.text_then_refs(text)?;
                if new == text {
                    v.clone()
                } else {
                    let mut hv = HeaderValue::from_str(&new)
                        .map_err(|_| (StatusCode::BAD_REQUEST, "header", format!("bad value for {k}")))?;
                    hv.set_sensitive(true);
                    hv
                }
            }
            Err(_) => HeaderValue::from_bytes(&crate::exact::redact_bytes(engine.exact(), v.as_bytes()))
                .map_err(|_| (StatusCode::BAD_REQUEST, "header", format!("bad value for {k}")))?,
        };
        headers.append(k.clone(), value);
    }
    let body = Limited::new(body, limits.max_request)
        .collect()
        .await
        .map_err(|e| (StatusCode::PAYLOAD_TOO_LARGE, "body", format!("request body: {e}")))?
        .to_bytes();
    let ct = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let media = media_type(&ct);
    let body = match (media.starts_with("multipart/"), boundary_of(&ct)) {
        (true, Some(b)) => scrub.multipart(&b, &body)?,
        _ => scrub.payload(&media, &body)?,
    };
    let body = Bytes::from(body);
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
    // The answer goes back without a vault value, headers and body.
    let exact = engine.exact().clone();
    let names: Vec<_> = parts.headers.keys().cloned().collect();
    for name in names {
        let values: Vec<HeaderValue> = parts
            .headers
            .get_all(&name)
            .iter()
            .map(|v| match crate::exact::redact_bytes(&exact, v.as_bytes()) {
                std::borrow::Cow::Borrowed(_) => v.clone(),
                std::borrow::Cow::Owned(b) => {
                    HeaderValue::from_bytes(&b).unwrap_or(HeaderValue::from_static("[SECRET]"))
                }
            })
            .collect();
        parts.headers.remove(&name);
        for v in values {
            parts.headers.append(name.clone(), v);
        }
    }
    if !exact.is_empty() {
        // Redaction may change the length: the body goes chunked.
        parts.headers.remove(hyper::header::CONTENT_LENGTH);
    }
    let idle = limits.idle;
    let body = body.map_err(std::io::Error::other);
    let body =
        ExactBody { inner: IdleTimeout::new(body, idle), stream: crate::exact::ExactStream::new(exact), done: false };
    Ok(Response::from_parts(parts, BodyExt::boxed(body)))
}

/// A body with every vault value replaced, streamed.
struct ExactBody<B> {
    inner: B,
    stream: crate::exact::ExactStream,
    done: bool,
}

impl<B> hyper::body::Body for ExactBody<B>
where
    B: hyper::body::Body<Data = Bytes, Error = std::io::Error> + Unpin,
{
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, std::io::Error>>> {
        use std::task::Poll;
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        match std::pin::Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) => Poll::Ready(Some(Ok(hyper::body::Frame::data(this.stream.push(&data))))),
                Err(frame) => Poll::Ready(Some(Ok(frame))),
            },
            Poll::Ready(None) => {
                this.done = true;
                let rest = this.stream.finish();
                if rest.is_empty() {
                    Poll::Ready(None)
                } else {
                    Poll::Ready(Some(Ok(hyper::body::Frame::data(rest))))
                }
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e))),
            Poll::Pending => Poll::Pending,
        }
    }
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
        return error(StatusCode::FORBIDDEN, "not_allowlisted", &e.to_string());
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
