//! Issue 14, "nothing leaves unscanned", on the proxy crate in process: the
//! real gateway and forward proxy served on loopback, the default policy's
//! rules with a vault's exact layer (every encoding the vault registers),
//! and a recording fake upstream on loopback that can reflect what it got.
//!
//! Each test is named after the issue's point it proves; the property test
//! at the end plants vault values, emails, cards and tokens at random places
//! of random JSON documents and checks that none reaches the upstream.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};
use warden_proxy::gateway::{Context, ContextError, Destination, Gateway, Limits, Upstream};
use warden_proxy::json::{BinaryParts, Usage};
use warden_redact::{Engine, ExactSet};
use zeroize::Zeroizing;

const PROVIDER_KEY: &str = "prov-key-7f3a9c1e5b";
const ECHO_TOKEN: &str = "echo-token-51d0c3a8e2";
const DB_PASSWORD: &str = "p@ss:w0rd/Secret!";
const EMAIL: &str = "jane.doe@acme-corp.io";
const AWS_KEY: &str = "AKIAZ7Q3M5R2T4W6Y3B2";

/// What the upstream received.
#[derive(Clone, Debug, Default)]
struct Seen {
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Seen {
    /// Everything that went over the wire, as text.
    fn wire(&self) -> String {
        self.wire_but(None)
    }

    /// The same without the header the gateway injected itself.
    fn wire_but(&self, injected: Option<&str>) -> String {
        let mut s = self.target.clone();
        for (k, v) in &self.headers {
            if injected == Some(k.as_str()) && *v == format!("Bearer {PROVIDER_KEY}") {
                continue;
            }
            s.push_str(&format!("\n{k}: {v}"));
        }
        s.push('\n');
        s.push_str(&String::from_utf8_lossy(&self.body));
        s
    }
}

struct Recorder {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

/// A plain-HTTP upstream on loopback that records each request and answers
/// with a chat completion quoting the request (headers and body): the
/// worst case of a destination reflecting what it was sent.
async fn recording_upstream() -> Recorder {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let rec = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { continue };
            let rec = rec.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let rec = rec.clone();
                    async move {
                        let target = req.uri().to_string();
                        let headers: Vec<(String, String)> = req
                            .headers()
                            .iter()
                            .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                            .collect();
                        let body = req.into_body().collect().await.unwrap().to_bytes().to_vec();
                        let s = Seen { target, headers, body };
                        let quoted = s.wire();
                        rec.lock().unwrap().push(s);
                        let answer = json!({"id": "c1", "object": "chat.completion", "model": "m",
                            "choices": [{"index": 0, "message": {"role": "assistant", "content": quoted}}],
                            "usage": {"prompt_tokens": 1, "completion_tokens": 1}});
                        Ok::<_, std::convert::Infallible>(
                            hyper::Response::builder()
                                .header("content-type", "application/json")
                                .header("x-request-id", "req-1")
                                .body(Full::new(Bytes::from(answer.to_string())))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    Recorder { addr, seen }
}

/// The server's side: default rules, a vault of three secrets.
struct Ctx {
    engine: Engine,
    upstream_port: u16,
    binary: BinaryParts,
    refusals: Mutex<Vec<String>>,
}

fn vault_values() -> Vec<(&'static str, &'static str)> {
    vec![("prov", PROVIDER_KEY), ("echo", ECHO_TOKEN), ("dbpass", DB_PASSWORD)]
}

fn engine() -> Engine {
    let forms: Vec<(&str, Vec<Zeroizing<String>>)> =
        vault_values().into_iter().map(|(n, v)| (n, warden_vault::encodings::forms(v))).collect();
    let exact = ExactSet::new(forms.iter().flat_map(|(n, fs)| fs.iter().map(move |f| (*n, f.as_str())))).unwrap();
    warden_policy::default_engine().unwrap().with_exact(exact)
}

impl Context for Ctx {
    fn engine(&self) -> Result<Engine, ContextError> {
        Ok(self.engine.clone())
    }
    fn upstream(&self, name: &str) -> Option<Upstream> {
        (name == "fake").then(|| Upstream {
            name: "fake".into(),
            base_url: format!("http://127.0.0.1:{}/", self.upstream_port).parse().unwrap(),
            secret: Some("prov".into()),
        })
    }
    fn credential(&self, secret: &str, to: &Destination<'_>) -> Result<(String, Zeroizing<String>), ContextError> {
        assert_eq!(secret, "prov");
        assert_eq!(to.host, "127.0.0.1");
        Ok(("authorization".into(), Zeroizing::new(format!("Bearer {PROVIDER_KEY}"))))
    }
    fn record_usage(&self, _agent: &str, model: &str, _usage: Usage) {
        assert!(!model.contains(AWS_KEY), "a model name is stored redacted");
    }
    fn destination_allowed(&self, _host: &str, _port: u16) -> Result<(), ContextError> {
        Err(ContextError::refused("no tunnels in these tests"))
    }
    fn allow_ranges(&self) -> Vec<warden_proxy::ssrf::IpRange> {
        vec![warden_proxy::ssrf::IpRange::parse("127.0.0.1/32").unwrap()]
    }
    fn secret_ref(&self, name: &str, to: &Destination<'_>) -> Result<Zeroizing<String>, ContextError> {
        match name {
            "echo" if to.scheme == "http" && to.host == "127.0.0.1" && to.port == self.upstream_port => {
                Ok(Zeroizing::new(ECHO_TOKEN.into()))
            }
            _ => {
                self.refused("secret_ref", name);
                Err(ContextError::refused(format!("SECRET_REF({name}) may not go to {to}")))
            }
        }
    }
    fn refused(&self, kind: &str, detail: &str) {
        self.refusals.lock().unwrap().push(format!("{kind}: {detail}"));
    }
    fn binary_parts(&self) -> BinaryParts {
        self.binary
    }
}

struct Env {
    upstream: Recorder,
    port: u16,
    client: reqwest::Client,
    proxied: reqwest::Client,
}

impl Env {
    async fn new() -> Env {
        Env::with(BinaryParts::Pass, None).await
    }

    async fn with(binary: BinaryParts, token: Option<&str>) -> Env {
        let upstream = recording_upstream().await;
        let ctx =
            Arc::new(Ctx { engine: engine(), upstream_port: upstream.addr.port(), binary, refusals: Mutex::default() });
        let limits = Limits { idle: Duration::from_secs(5), ..Limits::default() };
        let mut gw = Gateway::new(ctx, limits, &[]).unwrap();
        if let Some(t) = token {
            gw = gw.with_egress_token(Zeroizing::new(t.to_string()));
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(warden_proxy::gateway::serve(
            listener,
            Arc::new(gw),
            warden_proxy::server::ServerLimits::default(),
            std::future::pending(),
        ));
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let proxied = reqwest::Client::builder()
            .proxy(reqwest::Proxy::http(format!("http://127.0.0.1:{port}")).unwrap())
            .build()
            .unwrap();
        Env { upstream, port, client, proxied }
    }

    fn llm(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/llm/fake/{path}", self.port)
    }

    /// POST a JSON body to the gateway: (status, answer text).
    async fn post(&self, body: &Value) -> (u16, String) {
        let r = self
            .client
            .post(self.llm("v1/chat/completions"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    fn last(&self) -> Seen {
        self.upstream.seen.lock().unwrap().last().cloned().expect("the upstream got a request")
    }

    fn count(&self) -> usize {
        self.upstream.seen.lock().unwrap().len()
    }
}

/// Every planted value absent from what went over the wire, in any view.
fn assert_clean(seen: &Seen, planted: &[&str]) {
    let wire = seen.wire_but(Some("authorization"));
    let mut views = vec![wire.clone()];
    if let Ok(doc) = serde_json::from_slice::<Value>(&seen.body) {
        collect_views(&doc, &mut views);
    }
    for p in planted {
        for v in &views {
            assert!(!v.contains(p), "{p:?} reached the upstream in {v:.400}");
        }
    }
}

/// Each string of `doc` (and each key) decoded every way an agent could
/// have encoded it.
fn collect_views(doc: &Value, out: &mut Vec<String>) {
    match doc {
        Value::String(s) => {
            push_views(s, out);
            // Nested JSON strings, walked too.
            if let Ok(inner) = serde_json::from_str::<Value>(s) {
                if inner.is_object() || inner.is_array() {
                    collect_views(&inner, out);
                }
            }
        }
        Value::Number(n) => push_views(&n.to_string(), out),
        Value::Array(a) => a.iter().for_each(|v| collect_views(v, out)),
        Value::Object(m) => {
            for (k, v) in m {
                push_views(k, out);
                collect_views(v, out);
            }
        }
        _ => {}
    }
}

fn push_views(s: &str, out: &mut Vec<String>) {
    out.push(s.to_string());
    if let Some(d) = warden_proxy::json::percent_decoded(s) {
        out.push(d);
    }
    if let Some(d) = warden_proxy::json::json_unescaped(s) {
        out.push(d);
    }
    let payload = s.split_once(";base64,").map(|(_, p)| p).unwrap_or(s);
    for d in [STANDARD.decode(payload), URL_SAFE_NO_PAD.decode(payload)].into_iter().flatten() {
        out.push(String::from_utf8_lossy(&d).into_owned());
    }
}

/// Point 1: keys, numbers and structural fields at any depth are scanned;
/// the model name is redacted before it is stored.
#[tokio::test]
async fn issue_14_1_the_walk_skips_nothing() {
    let env = Env::new().await;
    let body = json!({
        "model": AWS_KEY,
        "messages": [
            {"role": "user", "name": DB_PASSWORD, "content": "hi"},
            {"role": "assistant", "tool_calls": [{"id": EMAIL, "type": "function",
                "function": {"name": EMAIL, "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": EMAIL, "content": "ok"},
            {"role": "user", "content": [{"type": "tool_use", "id": PROVIDER_KEY, "name": "x", "input": {"name": EMAIL, "id": DB_PASSWORD}}]}
        ],
        "input": [{"type": "function_call_output", "call_id": EMAIL, "output": "x"}],
        "tool_choice": EMAIL,
        "tools": [{"type": "function", "function": {"name": EMAIL, "parameters": {"type": "object",
            "properties": {EMAIL: {"type": "string"}}}}}],
        "metadata": {"id": EMAIL, "type": DB_PASSWORD, "object": "4111 1111 1111 1111", DB_PASSWORD: 1,
            "card": 4111111111111111u64}
    });
    let (status, _) = env.post(&body).await;
    assert_eq!(status, 200);
    let seen = env.last();
    assert_clean(&seen, &[AWS_KEY, DB_PASSWORD, EMAIL, PROVIDER_KEY, "4111111111111111", "4111 1111 1111 1111"]);
    let doc: Value = serde_json::from_slice(&seen.body).unwrap();
    assert_eq!(doc["messages"][0]["role"], "user", "structure that carries nothing stays");
    assert_eq!(
        doc["messages"][1]["tool_calls"][0]["id"], doc["messages"][2]["tool_call_id"],
        "same value, same placeholder"
    );
}

/// Point 3: a real JSON value (string, number, object) under a sensitive key.
#[tokio::test]
async fn issue_14_3_real_json_under_sensitive_keys() {
    let env = Env::new().await;
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}],
        "metadata": {"password": "Tr0ub4dor&3", "api_key": "simplekey123", "session_id": 987654321,
                     "credentials": {"user": "bob", "pass": "s3same-open"}, "password_hint": "my dog"}});
    let (status, _) = env.post(&body).await;
    assert_eq!(status, 200);
    let seen = env.last();
    assert_clean(&seen, &["Tr0ub4dor&3", "simplekey123", "987654321", "s3same-open"]);
    let doc: Value = serde_json::from_slice(&seen.body).unwrap();
    assert_eq!(doc["metadata"]["password_hint"], "my dog", "not a sensitive key");
}

/// Point 4: the encodings of a vault value, in the gateway.
#[tokio::test]
async fn issue_14_4_encodings_of_vault_values() {
    let env = Env::new().await;
    let v = DB_PASSWORD;
    let py_quote = "p%40ss%3Aw0rd/Secret%21";
    let lower = "p%40ss%3aw0rd%2fsecret%21".replace("secret", "Secret");
    let split: String =
        v.chars().map(|c| if c == '@' || c == 's' { format!("\\u{:04x}", c as u32) } else { c.to_string() }).collect();
    let nested = format!("{{\"note\": \"{split}\"}}");
    let in_blob = STANDARD.encode(format!("xx{v}yyy"));
    let hex: String = v.bytes().map(|b| format!("{b:02x}")).collect();
    let body = json!({"model": "m", "messages": [
        {"role": "user", "content": format!("a {py_quote} b {lower} c")},
        {"role": "user", "content": STANDARD.encode(v)},
        {"role": "user", "content": format!("url {}", URL_SAFE_NO_PAD.encode(v))},
        {"role": "user", "content": format!("hex {hex} and {}", hex.to_uppercase())},
        {"role": "user", "content": format!("blob {in_blob}")},
        {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": nested}}]}
    ]});
    let (status, text) = env.post(&body).await;
    assert_eq!(status, 200, "{text}");
    let seen = env.last();
    assert_clean(
        &seen,
        &[v, py_quote, &lower, &hex, &hex.to_uppercase(), &STANDARD.encode(v), &URL_SAFE_NO_PAD.encode(v)],
    );
    assert!(!String::from_utf8_lossy(&seen.body).contains(&in_blob[4..20]), "the secret inside a base64 blob");
}

/// Point 5: data URLs and base64 file parts are decoded, redacted and
/// encoded again; binary parts pass (counted) or are refused by policy,
/// and never with a vault value inside.
#[tokio::test]
async fn issue_14_5_embedded_documents() {
    let env = Env::new().await;
    let doc_text = format!("notes: key {AWS_KEY}, mail {EMAIL}, db {DB_PASSWORD}");
    let body = json!({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "file", "file": {"filename": "n.txt", "file_data": format!("data:text/plain;base64,{}", STANDARD.encode(&doc_text))}},
        {"type": "document", "source": {"type": "base64", "media_type": "text/csv", "data": STANDARD.encode(&doc_text)}},
        {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{}", STANDARD.encode(b"\x89PNG\r\n\x1a\n\x00\x00binary"))}}
    ]}]});
    let (status, text) = env.post(&body).await;
    assert_eq!(status, 200, "{text}");
    let seen = env.last();
    assert_clean(&seen, &[AWS_KEY, EMAIL, DB_PASSWORD]);
    let sent: Value = serde_json::from_slice(&seen.body).unwrap();
    let url = sent["messages"][0]["content"][0]["file"]["file_data"].as_str().unwrap();
    let decoded =
        String::from_utf8(STANDARD.decode(url.strip_prefix("data:text/plain;base64,").unwrap()).unwrap()).unwrap();
    assert!(decoded.starts_with("notes: key [") && decoded.contains("[EMAIL_"), "{decoded}");

    // A binary part holding a vault value is refused; binary parts by policy.
    let mut png = b"\x89PNG\r\n\x1a\n\x00\xff".to_vec();
    png.extend_from_slice(PROVIDER_KEY.as_bytes());
    let before = env.count();
    let body = json!({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": STANDARD.encode(&png)}}]}]});
    let (status, text) = env.post(&body).await;
    assert_eq!(status, 422, "{text}");
    assert!(text.contains("warden_binary_part"), "{text}");
    let refuse = Env::with(BinaryParts::Refuse, None).await;
    let body = json!({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": format!("data:image/png;base64,{}", STANDARD.encode(b"\x89PNG\r\n\x1a\n\x00\x00"))}}]}]});
    let (status, text) = refuse.post(&body).await;
    assert_eq!(status, 422, "{text}");
    assert!(text.contains("binary_parts"), "{text}");
    assert_eq!(env.count(), before);
    assert_eq!(refuse.count(), 0);
}

/// Point 6: nothing the vault holds comes back in an answer, gateway or
/// forward proxy, even when the destination reflects what it got.
#[tokio::test]
async fn issue_14_6_vault_values_never_come_back() {
    let env = Env::new().await;
    // The gateway: the upstream quotes the Authorization header it got.
    let (status, text) = env.post(&json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]})).await;
    assert_eq!(status, 200);
    assert!(env.last().wire().contains(PROVIDER_KEY), "the key was injected");
    assert!(!text.contains(PROVIDER_KEY) && text.contains("[SECRET_PROV]"), "{text}");
    // The forward proxy: SECRET_REF substituted toward its bound
    // scheme+host+port, but the echo does not return it.
    let url = format!("http://127.0.0.1:{}/hook", env.upstream.addr.port());
    let r =
        env.proxied.post(&url).header("x-token", "SECRET_REF(echo)").body("tok=SECRET_REF(echo)").send().await.unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(env.last().wire().contains(ECHO_TOKEN), "substituted on the way out");
    assert!(!text.contains(ECHO_TOKEN), "{text}");
    // A gateway key cannot be pulled out by SECRET_REF.
    let r = env.proxied.get(&url).header("x-token", "SECRET_REF(prov)").send().await.unwrap();
    assert_eq!(r.status(), 403);
}

/// Point 7: forward-proxy bodies of every type, headers and the query.
#[tokio::test]
async fn issue_14_7_forward_proxy_scans_every_body_header_and_query() {
    let env = Env::new().await;
    let url = format!(
        "http://127.0.0.1:{}/up?k={}&mail={}",
        env.upstream.addr.port(),
        DB_PASSWORD.replace('@', "%40"),
        EMAIL
    );
    let boundary = "XyZ123";
    let mut multipart = Vec::new();
    multipart.extend_from_slice(
        format!("--{boundary}\r\ncontent-disposition: form-data; name=\"a\"\r\n\r\nmail {EMAIL}\r\n").as_bytes(),
    );
    multipart.extend_from_slice(
        format!("--{boundary}\r\ncontent-disposition: form-data; name=\"f\"; filename=\"x.bin\"\r\ncontent-type: application/octet-stream\r\n\r\n").as_bytes(),
    );
    multipart.extend_from_slice(b"\x00\xff\xfe");
    multipart.extend_from_slice(DB_PASSWORD.as_bytes());
    multipart.extend_from_slice(b"\x00");
    multipart.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let r = env
        .proxied
        .post(&url)
        .header("content-type", format!("multipart/form-data; boundary={boundary}"))
        .header("user-agent", format!("agent {EMAIL}"))
        .header("x-extra", AWS_KEY)
        .body(multipart)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_clean(&env.last(), &[EMAIL, DB_PASSWORD, AWS_KEY, "p%40ss"]);
    // octet-stream and no content type.
    for ct in [Some("application/octet-stream"), None] {
        let mut req = env.proxied.put(format!("http://127.0.0.1:{}/blob", env.upstream.addr.port()));
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        let mut bytes = b"\x00\x01".to_vec();
        bytes.extend_from_slice(PROVIDER_KEY.as_bytes());
        assert_eq!(req.body(bytes).send().await.unwrap().status(), 200);
        assert_clean(&env.last(), &[PROVIDER_KEY]);
        let mut req = env.proxied.put(format!("http://127.0.0.1:{}/text", env.upstream.addr.port()));
        if let Some(ct) = ct {
            req = req.header("content-type", ct);
        }
        assert_eq!(req.body(format!("to {EMAIL} key {AWS_KEY}")).send().await.unwrap().status(), 200);
        assert_clean(&env.last(), &[EMAIL, AWS_KEY]);
    }
    // JSON through the proxy is walked like a model request.
    let r = env
        .proxied
        .post(format!("http://127.0.0.1:{}/j", env.upstream.addr.port()))
        .header("content-type", "application/json")
        .body(json!({EMAIL: {"password": 12345678}, "n": "p\\u0040ss:w0rd/Secret!"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_clean(&env.last(), &[EMAIL, "12345678", DB_PASSWORD]);
}

/// Point 2: the path, the query and forwarded headers of a model request.
#[tokio::test]
async fn issue_14_2_url_and_forwarded_headers() {
    let env = Env::new().await;
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).to_string();
    for path in [
        format!("v1/{}/chat/completions", PROVIDER_KEY),
        format!("v1/chat/completions?k={}", "p%40ss%3Aw0rd%2FSecret%21"),
        format!("v1/chat/completions?m={EMAIL}"),
    ] {
        let r = env
            .client
            .post(env.llm(&path))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{path}");
        assert!(r.text().await.unwrap().contains("warden_sensitive_url"));
    }
    assert_eq!(env.count(), 0, "nothing sent");
    let r = env
        .client
        .post(env.llm("v1/chat/completions"))
        .header("content-type", "application/json")
        .header("user-agent", format!("OpenAI/Python {EMAIL}"))
        .header("openai-organization", DB_PASSWORD)
        .header("anthropic-beta", AWS_KEY)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_clean(&env.last(), &[EMAIL, DB_PASSWORD, AWS_KEY]);
}

/// Point 8: browsers and cross-site simple requests are refused; the
/// egress token, when configured, is required.
#[tokio::test]
async fn issue_14_8_only_the_agents_client_reaches_the_gateway() {
    let env = Env::new().await;
    let body = json!({"model": "m", "messages": []}).to_string();
    let send = |ct: &'static str, origin: Option<&'static str>, key: Option<&'static str>, env: &Env| {
        let mut r = env.client.post(env.llm("v1/chat/completions")).header("content-type", ct).body(body.clone());
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        if let Some(k) = key {
            r = r.bearer_auth(k);
        }
        r.send()
    };
    assert_eq!(send("text/plain", None, None, &env).await.unwrap().status(), 415);
    assert_eq!(send("application/json", Some("http://evil.example"), None, &env).await.unwrap().status(), 403);
    assert_eq!(send("Application/JSON; charset=utf-8", None, None, &env).await.unwrap().status(), 200);
    assert_eq!(env.count(), 1);
    let locked = Env::with(BinaryParts::Pass, Some("egress-token-0123456789")).await;
    assert_eq!(send("application/json", None, None, &locked).await.unwrap().status(), 401);
    assert_eq!(send("application/json", None, Some("wrong-token-000000000"), &locked).await.unwrap().status(), 401);
    assert_eq!(send("application/json", None, Some("egress-token-0123456789"), &locked).await.unwrap().status(), 200);
    assert!(!locked.last().wire().contains("egress-token-0123456789"), "the egress token stays here");
}

// === the property test ===

/// A small deterministic generator (xorshift64*): failures print the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    fn word(&mut self) -> String {
        let words = ["alpha", "note", "the", "report", "id", "x", "config", "user", "data", "items", "q3", "value"];
        self.pick(&words).to_string()
    }
}

/// A random thing to plant: (the text planted, the values that must not
/// reach the upstream in any view).
fn plant(rng: &mut Rng) -> (String, Vec<String>) {
    let vault = [PROVIDER_KEY, ECHO_TOKEN, DB_PASSWORD];
    let v = *rng.pick(&vault);
    match rng.below(11) {
        0 => (v.to_string(), vec![v.into()]),
        1 => {
            let names = ["jane.doe", "r.smith", "ops-team", "li.wei"];
            let hosts = ["acme-corp.io", "example.org", "mail.test.co.uk"];
            let e = format!("{}{}@{}", rng.pick(&names), rng.below(100), rng.pick(&hosts));
            (e.clone(), vec![e])
        }
        2 => {
            let mut k = String::from("AKIA");
            for _ in 0..16 {
                k.push(*rng.pick(&b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".map(char::from)));
            }
            (k.clone(), vec![k])
        }
        3 => {
            let mut t = String::from("ghp_");
            for _ in 0..36 {
                t.push(*rng.pick(&b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789".map(char::from)));
            }
            (t.clone(), vec![t])
        }
        4 => {
            let p: String = v
                .bytes()
                .map(|b| {
                    if b.is_ascii_alphanumeric() || b"-_.~/".contains(&b) {
                        (b as char).to_string()
                    } else {
                        format!("%{b:02X}")
                    }
                })
                .collect();
            (p.clone(), vec![v.into(), p])
        }
        5 => {
            let p: String = v
                .bytes()
                .map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02x}") })
                .collect();
            (p.clone(), vec![v.into(), p])
        }
        6 => {
            let b = STANDARD.encode(v);
            (b.clone(), vec![v.into(), b])
        }
        7 => {
            let b = URL_SAFE_NO_PAD.encode(v);
            (b.clone(), vec![v.into(), b])
        }
        8 => {
            let h: String = v.bytes().map(|b| format!("{b:02x}")).collect();
            (h.clone(), vec![v.into(), h])
        }
        9 => {
            // \u-split inside JSON held in a string.
            let split: String = v
                .chars()
                .enumerate()
                .map(|(i, c)| if i % 3 == 1 { format!("\\u{:04x}", c as u32) } else { c.to_string() })
                .collect();
            (format!("{{\"{}\": \"{split}\"}}", rng.word()), vec![v.into()])
        }
        _ => {
            let pre = "abc"[..rng.below(3)].to_string();
            let b = STANDARD.encode(format!("{pre}{v} tail"));
            (format!("data:text/plain;base64,{b}"), vec![v.into()])
        }
    }
}

/// A Luhn-valid 16-digit card number.
fn card(rng: &mut Rng) -> u64 {
    let mut d: Vec<u32> = vec![4];
    for _ in 0..14 {
        d.push(rng.below(10) as u32);
    }
    let sum: u32 = d
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &x)| {
            if i % 2 == 0 {
                let y = x * 2;
                if y > 9 {
                    y - 9
                } else {
                    y
                }
            } else {
                x
            }
        })
        .sum();
    d.push((10 - sum % 10) % 10);
    d.iter().fold(0u64, |acc, &x| acc * 10 + x as u64)
}

/// A random JSON value of depth at most `depth`, with plants.
fn doc(rng: &mut Rng, depth: usize, planted: &mut Vec<String>) -> Value {
    let choice = if depth == 0 { rng.below(4) } else { rng.below(7) };
    match choice {
        0 => Value::String(rng.word()),
        1 => json!(rng.below(1000)),
        2 => {
            let (text, bad) = plant(rng);
            planted.extend(bad);
            let s = match rng.below(3) {
                0 => text,
                1 => format!("{} {text}", rng.word()),
                _ => format!("{} {text} {}", rng.word(), rng.word()),
            };
            Value::String(s)
        }
        3 => {
            let c = card(rng);
            planted.push(c.to_string());
            json!(c)
        }
        4 => {
            // JSON inside a string, like tool-call arguments.
            let inner = doc(rng, depth - 1, planted);
            Value::String(json!({"args": inner}).to_string())
        }
        5 => Value::Array((0..rng.below(4)).map(|_| doc(rng, depth - 1, planted)).collect()),
        _ => {
            let mut m = serde_json::Map::new();
            for _ in 0..rng.below(4) + 1 {
                let key = if rng.below(4) == 0 {
                    let (text, bad) = plant(rng);
                    if text.starts_with('{') || text.starts_with("data:") {
                        rng.word()
                    } else {
                        planted.extend(bad);
                        text
                    }
                } else {
                    rng.word()
                };
                m.insert(key, doc(rng, depth - 1, planted));
            }
            Value::Object(m)
        }
    }
}

/// For random documents (OpenAI- and Anthropic-shaped around a random
/// payload), nothing planted reaches the upstream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn issue_14_property_nothing_planted_reaches_the_upstream() {
    let env = Env::new().await;
    let cases: u64 = std::env::var("WARDEN_PROP_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(150);
    let base = std::env::var("WARDEN_PROP_SEED").ok().and_then(|v| v.parse().ok()).unwrap_or(0x9E37_79B9_7F4A_7C15u64);
    for case in 0..cases {
        let seed = base.wrapping_add(case.wrapping_mul(0x1000_0000_01B3)) | 1;
        let mut rng = Rng(seed);
        let mut planted = Vec::new();
        let payload = doc(&mut rng, 4, &mut planted);
        let (model_plant, bad) = plant(&mut rng);
        let model = if rng.below(5) == 0 && !model_plant.starts_with('{') {
            planted.extend(bad);
            model_plant
        } else {
            "gpt-test".to_string()
        };
        let body = match rng.below(3) {
            0 => json!({"model": model, "messages": [{"role": "user", "content": payload.to_string()},
                       {"role": "user", "content": [{"type": "text", "text": "see"}]}], "metadata": payload}),
            1 => json!({"model": model, "max_tokens": 10, "messages": [{"role": "assistant", "content": [
                       {"type": "tool_use", "id": "t1", "name": "f", "input": payload}]}]}),
            _ => {
                json!({"model": model, "input": [{"type": "function_call_output", "call_id": "c", "output": payload.to_string()}],
                       "tools": [{"type": "function", "name": "f", "parameters": payload}]})
            }
        };
        let before = env.count();
        let (status, text) = env.post(&body).await;
        if status != 200 {
            // A refusal (a binary part with a vault value, nesting) sends
            // nothing: that is fine too.
            assert_eq!(env.count(), before, "seed {seed}: refused ({status} {text}) but something was sent");
            continue;
        }
        let seen = env.last();
        let result = std::panic::catch_unwind(|| {
            let refs: Vec<&str> = planted.iter().map(String::as_str).collect();
            assert_clean(&seen, &refs)
        });
        if result.is_err() {
            panic!("seed {seed} (WARDEN_PROP_SEED={base}, case {case}): planted {planted:?}\nbody {body}");
        }
    }
}

/// What issue 14 found already resisted, kept so: outer `\u` escapes,
/// duplicate keys, gzip bodies, chunked bodies, deep nesting, the size cap.
#[tokio::test]
async fn issue_14_already_resisted_stays_resisted() {
    let env = Env::new().await;
    let post_raw = |body: Vec<u8>, gzip: bool| {
        let mut r = env.client.post(env.llm("v1/chat/completions")).header("content-type", "application/json");
        if gzip {
            r = r.header("content-encoding", "gzip");
        }
        r.body(body).send()
    };
    // Outer \u escapes and duplicate keys.
    let raw = r#"{"model":"m","messages":[{"role":"user","content":"ok","content":"jane.doe\u0040acme-corp.io"}]}"#;
    assert_eq!(post_raw(raw.as_bytes().to_vec(), false).await.unwrap().status(), 200);
    assert_clean(&env.last(), &[EMAIL]);
    // A gzip body is not JSON to the gateway: refused, not forwarded.
    let before = env.count();
    let r = post_raw(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03".to_vec(), true).await.unwrap();
    assert_eq!(r.status(), 400);
    // A chunked body is buffered whole, then redacted.
    let chunks: Vec<Result<Bytes, std::io::Error>> = vec![
        Ok(Bytes::from_static(br#"{"model":"m","messages":[{"role":"user","content":"mail jane.do"#)),
        Ok(Bytes::from_static(br#"e@acme-corp.io"}]}"#)),
    ];
    let r = env
        .client
        .post(env.llm("v1/chat/completions"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_clean(&env.last(), &[EMAIL]);
    // Nesting deeper than the parser allows: refused without a crash, and
    // nested JSON inside strings counts toward the depth.
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    assert_eq!(post_raw(deep.into_bytes(), false).await.unwrap().status(), 400);
    let mut nested = json!(EMAIL);
    for _ in 0..10 {
        for _ in 0..15 {
            nested = json!([nested]);
        }
        nested = Value::String(nested.to_string());
    }
    let r = env.post(&json!({"model": "m", "messages": [{"role": "user", "content": nested}]})).await;
    assert_ne!(r.0, 200, "too deep to scan whole: refused");
    // Over 32 MiB: refused.
    let big = format!(r#"{{"model":"m","messages":[{{"role":"user","content":"{}"}}]}}"#, "a".repeat(33 << 20));
    let r = post_raw(big.into_bytes(), false).await;
    assert!(r.map(|r| r.status() == 413).unwrap_or(true), "too large");
    assert_eq!(env.count(), before + 1, "only the chunked request went out");
}

/// Send raw bytes on a fresh connection and read one answer (or until the
/// server closes, or 10 s pass); the status line's code, and everything read.
async fn raw_exchange(port: u16, request: &[u8]) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    // The server may answer and close before it has read everything.
    let _ = tcp.write_all(request).await;
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, tcp.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
            Ok(Ok(n)) => {
                got.extend_from_slice(&buf[..n]);
                // One answer is enough: stop once its head and body are in.
                let text = String::from_utf8_lossy(&got).to_ascii_lowercase();
                if let Some(head_end) = text.find("\r\n\r\n") {
                    let len = text[..head_end]
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse::<usize>().ok());
                    let body = got.len() - head_end - 4;
                    if len.is_some_and(|n| body >= n) || text.ends_with("\r\n0\r\n\r\n") {
                        break;
                    }
                }
            }
        }
    }
    let text = String::from_utf8_lossy(&got).into_owned();
    let code = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (code, text)
}

/// Also resisted, now with its own regression test: a request carrying
/// both `Transfer-Encoding: chunked` and `Content-Length` (the classic
/// smuggling pair) is refused and nothing reaches the upstream; a head
/// flood gets 431; neither takes the server down.
#[tokio::test]
async fn issue_14_smuggling_and_header_floods_are_refused() {
    let env = Env::new().await;
    let body = r#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#;
    let smuggled = format!(
        "POST /llm/fake/v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\n\
         Content-Length: {}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nPOST /llm/fake/v1/chat/completions HTTP/1.1\r\n\
         Host: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len() + 120,
        body.len()
    );
    let (code, _) = raw_exchange(env.port, smuggled.as_bytes()).await;
    assert_eq!(code, 400, "TE and CL together are refused");
    // Two Content-Lengths that disagree.
    let double = format!(
        "POST /llm/fake/v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\n\
         content-length: {}\r\ncontent-length: 5\r\n\r\n{body}",
        body.len()
    );
    let (code, _) = raw_exchange(env.port, double.as_bytes()).await;
    assert_eq!(code, 400, "conflicting lengths are refused");
    assert_eq!(env.count(), 0, "nothing was smuggled to the upstream");

    // A head flood: 200 KiB of headers.
    let mut flood = String::from("POST /llm/fake/v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for i in 0..2000 {
        flood.push_str(&format!("x-pad-{i}: {}\r\n", "a".repeat(100)));
    }
    flood.push_str("\r\n");
    let (code, _) = raw_exchange(env.port, flood.as_bytes()).await;
    assert_eq!(code, 431, "a head flood gets 431");
    // The server still serves.
    assert_eq!(env.post(&serde_json::from_str(body).unwrap()).await.0, 200);
    assert_eq!(env.count(), 1);
}

/// Also resisted: every spelling of CONNECT goes through the destination
/// check (here refusing all) and none opens a tunnel.
#[tokio::test]
async fn issue_14_connect_spellings_never_open_a_tunnel() {
    let env = Env::new().await;
    let up = env.upstream.addr.port();
    for target in [
        format!("127.0.0.1:{up}"),
        format!("localhost:{up}"),
        format!("[::1]:{up}"),
        format!("http://127.0.0.1:{up}"),
        format!("127.0.0.1:{up}/path"),
        format!("2130706433:{up}"),
        "127.0.0.1".to_string(),
    ] {
        let req = format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n");
        let (code, text) = raw_exchange(env.port, req.as_bytes()).await;
        assert!(code >= 400, "CONNECT {target} refused: {text}");
        assert!(!text.contains("200 Connection established") && code != 200, "{target}: {text}");
    }
    // Lower-case method: not CONNECT to hyper, and not a tunnel either.
    let (code, _) = raw_exchange(env.port, format!("connect 127.0.0.1:{up} HTTP/1.1\r\n\r\n").as_bytes()).await;
    assert!(code >= 400 || code == 0, "lower-case connect: {code}");
    assert_eq!(env.count(), 0, "no tunnel reached the upstream");
}

/// Also resisted: the forward proxy hands a redirect back to the agent and
/// never follows it itself, so a redirect cannot carry a request (and what
/// the proxy injected) to a host the agent did not name.
#[tokio::test]
async fn issue_14_redirects_are_not_followed() {
    let env = Env::new().await;
    let target = format!("http://127.0.0.1:{}/stolen", env.upstream.addr.port());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let redirector = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { continue };
            let target = target.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |_req: hyper::Request<hyper::body::Incoming>| {
                    let target = target.clone();
                    async move {
                        Ok::<_, std::convert::Infallible>(
                            hyper::Response::builder()
                                .status(302)
                                .header("location", target)
                                .body(Full::new(Bytes::new()))
                                .unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    let client = reqwest::Client::builder()
        .proxy(reqwest::Proxy::http(format!("http://127.0.0.1:{}", env.port)).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = client.get(format!("http://{redirector}/start")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 302, "the redirect comes back to the agent");
    assert_eq!(env.count(), 0, "the proxy did not follow it");
}
