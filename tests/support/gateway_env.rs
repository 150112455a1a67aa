//! A fake model provider over real TLS and a configured `warden serve` in
//! front of it, shared by the gateway tests and the gateway benchmark.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use warden_policy::bundle::SecretKey;

use super::{signed_archive, warden, TempDir};

pub const EMAIL: &str = "jane.doe@acme-corp.io";
pub const DB_PASSWORD: &str = "hunter2-Zq8vLx3";
pub const PROVIDER_KEY: &str = "prov-key-7f3a9c1e5b";
pub const ECHO_TOKEN: &str = "echo-token-51d0c3a8e2";

/// What the fake provider received: headers (lowercase name, value) and body.
#[derive(Clone, Debug, Default)]
pub struct Seen {
    pub headers: Vec<(String, String)>,
    pub body: String,
}

pub struct Provider {
    pub addr: SocketAddr,
    pub ca_pem: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    _rt: tokio::runtime::Runtime,
}

/// The first `[LABEL_N]` placeholder in `s`.
fn first_placeholder(s: &str) -> Option<String> {
    let start = s.find("[EMAIL_")?;
    let end = s[start..].find(']')? + start + 1;
    Some(s[start..end].to_string())
}

/// The model OpenClaw talks to in the plugin test (`oc-tools`): asked with
/// `WARDEN-TEST dir=<DIR>`, it calls two tools at once, a destructive
/// `exec` on DIR and a `write` into DIR carrying the database password;
/// once the tool results are in, it answers with them. Streamed, as
/// OpenClaw always asks.
fn openclaw_turn(doc: &serde_json::Value) -> hyper::Response<Full<Bytes>> {
    let messages = doc["messages"].as_array().cloned().unwrap_or_default();
    let chunk = |delta: serde_json::Value, finish: Option<&str>| {
        let mut ev = serde_json::json!({"id": "c1", "object": "chat.completion.chunk", "model": "oc-tools",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
        if finish.is_some() {
            ev["usage"] = serde_json::json!({"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110});
        }
        format!("data: {ev}\n\n")
    };
    let results: Vec<String> = messages
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().map(str::to_string).unwrap_or_else(|| m["content"].to_string()))
        .collect();
    let mut sse = String::new();
    if results.is_empty() {
        let text = serde_json::Value::Array(messages.clone()).to_string();
        let dir = text
            .split("WARDEN-TEST dir=")
            .nth(1)
            .and_then(|r| r.split(|c: char| c.is_whitespace() || c == '"' || c == '\\').next())
            .unwrap_or("/nonexistent");
        let calls = [
            ("exec", serde_json::json!({"command": format!("rm -rf {dir}")})),
            (
                "write",
                serde_json::json!({"path": format!("{dir}/note.txt"), "content": format!("db password: {DB_PASSWORD}")}),
            ),
        ];
        sse.push_str(&chunk(serde_json::json!({"role": "assistant", "content": null}), None));
        for (i, (name, args)) in calls.iter().enumerate() {
            sse.push_str(&chunk(
                serde_json::json!({"tool_calls": [{"index": i, "id": format!("call_{i}"), "type": "function",
                    "function": {"name": name, "arguments": args.to_string()}}]}),
                None,
            ));
        }
        sse.push_str(&chunk(serde_json::json!({}), Some("tool_calls")));
    } else {
        sse.push_str(&chunk(
            serde_json::json!({"role": "assistant", "content": format!("Tool results: {}", results.join(" | "))}),
            None,
        ));
        sse.push_str(&chunk(serde_json::json!({}), Some("stop")));
    }
    sse.push_str("data: [DONE]\n\n");
    hyper::Response::builder().header("content-type", "text/event-stream").body(Full::new(Bytes::from(sse))).unwrap()
}

pub fn start_provider() -> Provider {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, SanType};
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    // Distinct names: OpenSSL (curl) takes a leaf named like its issuer for self-signed.
    ca_params.distinguished_name.push(DnType::CommonName, "Warden test CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf_params = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    leaf_params.subject_alt_names.push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
    leaf_params.distinguished_name.push(DnType::CommonName, "localhost");
    let leaf = leaf_params.signed_by(&leaf_key, &ca, &ca_key).unwrap();
    let tls = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
        )
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let rec = seen.clone();
    rt.spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else { continue };
            let acceptor = acceptor.clone();
            let rec = rec.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else { return };
                let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let rec = rec.clone();
                    async move {
                        let anthropic = req.uri().path().ends_with("/v1/messages");
                        let responses = req.uri().path().ends_with("/v1/responses");
                        let headers = req
                            .headers()
                            .iter()
                            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
                            .collect();
                        let body = String::from_utf8(req.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
                        rec.lock().unwrap().push(Seen { headers, body: body.clone() });
                        let doc: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
                        let model = doc["model"].as_str().unwrap_or("");
                        if model == "hang" {
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                        }
                        if model == "slow" {
                            tokio::time::sleep(Duration::from_millis(1500)).await;
                        }
                        if model == "reset" {
                            return Err(std::io::Error::other("reset"));
                        }
                        if model == "oc-tools" {
                            return Ok(openclaw_turn(&doc));
                        }
                        if let Some(names) = model.strip_prefix("calls:") {
                            let api = if responses { "responses" } else if anthropic { "anthropic" } else { "chat" };
                            return Ok(tool_answer(api, names, doc["stream"] == true));
                        }
                        let ph = first_placeholder(&body).unwrap_or_else(|| "nobody".into());
                        let answer = format!("I will write to {ph} now.");
                        let resp = if responses {
                            responses_answer(&answer, model, doc["stream"] == true)
                        } else if anthropic {
                            anthropic_answer(&answer, model, doc["stream"] == true)
                        } else if doc["stream"] == true {
                            let mut sse = String::new();
                            let chars: Vec<char> = answer.chars().collect();
                            for piece in chars.chunks(3) {
                                let piece: String = piece.iter().collect();
                                let ev = serde_json::json!({"id": "c1", "object": "chat.completion.chunk", "model": model,
                                    "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": null}]});
                                sse.push_str(&format!("data: {ev}\n\n"));
                            }
                            let last = serde_json::json!({"id": "c1", "object": "chat.completion.chunk", "model": model,
                                "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
                                "usage": {"prompt_tokens": 21, "completion_tokens": 9}});
                            sse.push_str(&format!("data: {last}\n\ndata: [DONE]\n\n"));
                            hyper::Response::builder().header("content-type", "text/event-stream").body(Full::new(Bytes::from(sse)))
                        } else {
                            let v = serde_json::json!({"id": "c1", "object": "chat.completion", "model": model,
                                "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
                                "usage": {"prompt_tokens": 20, "completion_tokens": 8}});
                            hyper::Response::builder().header("content-type", "application/json").body(Full::new(Bytes::from(v.to_string())))
                        };
                        Ok::<_, std::io::Error>(resp.unwrap())
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    Provider { addr, ca_pem: ca.pem(), seen, _rt: rt }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn curl(args: &[&str]) -> (String, String) {
    let out = Command::new("curl").args(["-sS", "--max-time", "20"]).args(args).output().expect("curl runs");
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

pub struct Server {
    child: Child,
    log: std::path::PathBuf,
    pub egress: u16,
    pub control: u16,
    pub state: std::path::PathBuf,
    pub config: std::path::PathBuf,
    log_level: String,
}

impl Server {
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then the exit status (within 30 s).
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let t = Instant::now();
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(t.elapsed() < Duration::from_secs(30), "warden did not stop after SIGTERM:\n{}", self.logs());
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Start again on the same config and ports (after `terminate`).
    pub fn restart(mut self) -> Server {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let (state, config) = (self.state.clone(), self.config.clone());
        // Keep the last run's log for reading.
        let _ = std::fs::rename(&self.log, self.log.with_extension("log.1"));
        spawn(state, config, self.egress, self.control, &self.log_level)
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// A token from the state directory (`agent` or `admin`).
    pub fn token(&self, which: &str) -> String {
        std::fs::read_to_string(self.state.join(format!("{which}.token"))).unwrap().trim().to_string()
    }

    /// `curl` a control API path with a token; (HTTP status, body).
    pub fn control(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[&str],
        body: Option<&str>,
    ) -> (u16, String) {
        let url = format!("http://127.0.0.1:{}{path}", self.control);
        let mut args: Vec<String> = vec!["-X".into(), method.into(), "-w".into(), "\n%{http_code}".into(), url];
        if let Some(t) = token {
            args.extend(["-H".into(), format!("authorization: Bearer {t}")]);
        }
        for h in headers {
            args.extend(["-H".into(), h.to_string()]);
        }
        if let Some(b) = body {
            args.extend(["-H".into(), "content-type: application/json".into(), "--data-binary".into(), b.into()]);
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let (out, err) = curl(&refs);
        let (body, code) = out.rsplit_once('\n').unwrap_or_else(|| panic!("curl failed: {err}"));
        (code.parse().unwrap_or(0), body.to_string())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start(dir: &TempDir, provider: &Provider) -> Server {
    let key = SecretKey::generate().unwrap();
    activate(dir, &key, &signed_archive(gateway_policy(provider, |p| p), 1, &key));
    launch(dir, provider, &key, "", "")
}

/// `warden policy activate` a signed archive on `dir/state`, trusting `key`.
pub fn activate(dir: &TempDir, key: &SecretKey, archive: &[u8]) {
    let path = dir.join("bundle.tar.gz");
    std::fs::write(&path, archive).unwrap();
    let out = warden(
        &dir.join("state"),
        &["policy", "activate", path.to_str().unwrap(), "--trust", &key.public().to_text()],
        "",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// The default policy with the fake provider's upstreams (`fake`, bound to
/// its key, and `unbound`), tunnels to it allowed and loopback let through
/// the SSRF guard; `edit` changes `policy.toml` further.
pub fn gateway_policy(provider: &Provider, edit: impl Fn(String) -> String) -> warden_policy::bundle::Files {
    let mut files = warden_policy::defaults::files();
    let mut policy = String::from_utf8(files["policy.toml"].clone()).unwrap();
    policy.push_str(&format!(
        "\n[[gateway.upstreams]]\nname = \"fake\"\nbase_url = \"https://127.0.0.1:{}\"\napi = \"openai\"\nsecret = \"fake\"\n\
         \n[[gateway.upstreams]]\nname = \"unbound\"\nbase_url = \"https://localhost:{}\"\napi = \"openai\"\nsecret = \"fake\"\n",
        provider.addr.port(),
        provider.addr.port()
    ));
    // The proxy tests: tunnels to the provider only, loopback v4 let through the SSRF guard.
    policy = policy.replace("allow = []", &format!("allow = [\"127.0.0.1:{}\"]", provider.addr.port()));
    policy = policy.replace("allow_ranges = []", "allow_ranges = [\"127.0.0.1/32\"]");
    files.insert("policy.toml".into(), edit(policy).into_bytes());
    files
}

/// Store the test secrets and start `warden serve` on `dir/state`, trusting
/// `key`; `policy_extra` goes under `[policy]`, `extra` after everything.
pub fn launch(dir: &TempDir, provider: &Provider, key: &SecretKey, policy_extra: &str, extra: &str) -> Server {
    let level = std::env::var("WARDEN_TEST_LOG").unwrap_or_else(|_| "debug".into());
    launch_logging(dir, provider, key, policy_extra, extra, &level)
}

/// [`launch`] with `RUST_LOG` set to `level` for this server.
pub fn launch_logging(
    dir: &TempDir,
    provider: &Provider,
    key: &SecretKey,
    policy_extra: &str,
    extra: &str,
    level: &str,
) -> Server {
    let state = dir.join("state");
    // The provider key, bound to the provider's host; a database password
    // that must never leave in a prompt.
    if !String::from_utf8_lossy(&warden(&state, &["secrets", "list"], "").stdout).contains("fake") {
        let out = warden(
            &state,
            &["secrets", "set", "fake", "--host", "127.0.0.1", "--header", "Authorization: Bearer {}"],
            PROVIDER_KEY,
        );
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert!(warden(&state, &["secrets", "set", "dbpass", "--host", "db.internal.example"], DB_PASSWORD)
            .status
            .success());
        assert!(warden(&state, &["secrets", "set", "echo", "--host", "127.0.0.1"], ECHO_TOKEN).status.success());
    }
    let public = key.public().to_text();
    std::fs::write(dir.join("ca.pem"), &provider.ca_pem).unwrap();
    let egress = free_port();
    let control = free_port();
    let config = dir.join("warden.toml");
    std::fs::write(
        &config,
        format!(
            "state_dir = {:?}\n[control]\nlisten = \"127.0.0.1:{control}\"\n[egress]\nlisten = \"127.0.0.1:{egress}\"\n\
             ca_file = {:?}\nidle_timeout = \"2s\"\n[policy]\ntrust = [\"{public}\"]\n{policy_extra}\n{extra}\n",
            state.to_str().unwrap(),
            dir.join("ca.pem").to_str().unwrap()
        ),
    )
    .unwrap();
    spawn(state, config, egress, control, level)
}

fn spawn(state: std::path::PathBuf, config: std::path::PathBuf, egress: u16, control: u16, level: &str) -> Server {
    let log = config.with_file_name("serve.log");
    let child = Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(["serve", "--config", config.to_str().unwrap()])
        .env("RUST_LOG", level)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", egress)).is_err()
        || std::net::TcpStream::connect(("127.0.0.1", control)).is_err()
    {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "warden serve did not start: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Server { child, log, egress, control, state, config, log_level: level.to_string() }
}

/// An Anthropic messages answer: JSON, or the SSE event sequence with text
/// deltas of 3 characters.
fn anthropic_answer(
    answer: &str,
    model: &str,
    stream: bool,
) -> Result<hyper::Response<Full<Bytes>>, hyper::http::Error> {
    if !stream {
        let v = serde_json::json!({"id": "msg_1", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": answer}], "stop_reason": "end_turn",
            "usage": {"input_tokens": 30, "output_tokens": 10}});
        return hyper::Response::builder()
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(v.to_string())));
    }
    let mut sse = String::new();
    let mut event = |name: &str, v: serde_json::Value| sse.push_str(&format!("event: {name}\ndata: {v}\n\n"));
    event(
        "message_start",
        serde_json::json!({"type": "message_start", "message": {"id": "msg_1", "type": "message",
        "role": "assistant", "model": model, "content": [], "usage": {"input_tokens": 31, "output_tokens": 1}}}),
    );
    event(
        "content_block_start",
        serde_json::json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
    );
    let chars: Vec<char> = answer.chars().collect();
    for piece in chars.chunks(3) {
        let piece: String = piece.iter().collect();
        event(
            "content_block_delta",
            serde_json::json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}}),
        );
    }
    event("content_block_stop", serde_json::json!({"type": "content_block_stop", "index": 0}));
    event(
        "message_delta",
        serde_json::json!({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 11}}),
    );
    event("message_stop", serde_json::json!({"type": "message_stop"}));
    hyper::Response::builder().header("content-type", "text/event-stream").body(Full::new(Bytes::from(sse)))
}

/// An OpenAI responses-API answer: JSON, or its SSE events with
/// `response.output_text.delta` pieces of 3 characters.
fn responses_answer(
    answer: &str,
    model: &str,
    stream: bool,
) -> Result<hyper::Response<Full<Bytes>>, hyper::http::Error> {
    let done = serde_json::json!({"id": "resp_1", "object": "response", "model": model, "status": "completed",
        "output": [{"type": "message", "id": "msg_1", "role": "assistant",
                    "content": [{"type": "output_text", "text": answer}]}],
        "usage": {"input_tokens": 12, "output_tokens": 6}});
    if !stream {
        return hyper::Response::builder()
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(done.to_string())));
    }
    let mut sse = String::new();
    let mut event = |name: &str, v: serde_json::Value| sse.push_str(&format!("event: {name}\ndata: {v}\n\n"));
    event(
        "response.created",
        serde_json::json!({"type": "response.created", "response": {"id": "resp_1", "model": model, "status": "in_progress"}}),
    );
    let chars: Vec<char> = answer.chars().collect();
    for piece in chars.chunks(3) {
        let piece: String = piece.iter().collect();
        event(
            "response.output_text.delta",
            serde_json::json!({"type": "response.output_text.delta", "item_id": "msg_1",
            "output_index": 0, "content_index": 0, "delta": piece}),
        );
    }
    event(
        "response.output_text.done",
        serde_json::json!({"type": "response.output_text.done", "item_id": "msg_1",
        "output_index": 0, "content_index": 0, "text": answer}),
    );
    event("response.completed", serde_json::json!({"type": "response.completed", "response": done}));
    hyper::Response::builder().header("content-type", "text/event-stream").body(Full::new(Bytes::from(sse)))
}

/// OpenClaw's JSON config for the plugin tests (`tests/openclaw.rs` on the
/// host, `tests/container.rs` in Warden's network namespace): the `oc-tools`
/// model behind Warden's gateway at `egress` (`127.0.0.1:PORT`), the plugin
/// loaded from `plugin`, asking the control API at `control` with the agent
/// token in `token_file`. Paths are as OpenClaw sees them.
pub fn openclaw_config(
    workspace: &std::path::Path,
    egress: &str,
    plugin: &std::path::Path,
    control: &str,
    token_file: &std::path::Path,
    log: &std::path::Path,
) -> serde_json::Value {
    serde_json::json!({
        "agents": {"defaults": {"model": {"primary": "warden/oc-tools"}, "workspace": workspace}},
        "models": {"mode": "merge", "providers": {"warden": {
            "baseUrl": format!("http://{egress}/llm/fake/v1"),
            "apiKey": "placeholder",
            "api": "openai-completions",
            "models": [{"id": "oc-tools", "name": "Tools", "reasoning": false, "input": ["text"],
                "cost": {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0},
                "contextWindow": 128000, "maxTokens": 4096}]}}},
        "plugins": {
            "load": {"paths": [plugin]},
            "entries": {"warden": {"enabled": true, "config": {
                "url": format!("http://{control}"),
                "tokenFile": token_file,
                "waitSeconds": 2
            }}},
            "allow": ["warden"]
        },
        "logging": {"file": log}
    })
}

/// What OpenClaw's `oc-tools` turn (asked with `WARDEN-TEST dir=...`) must
/// leave behind: both tool results reached the model, the destructive `exec`
/// held by Warden (`keep.txt` in `work` survives), the `write` run with the
/// database password redacted from its arguments, and both calls in the
/// audit log of the database at `db`. `context` explains a failure.
pub fn check_openclaw_turn(
    provider: &Provider,
    work: &std::path::Path,
    db: &std::path::Path,
    context: &dyn Fn() -> String,
) {
    let seen = provider.seen.lock().unwrap();
    let second = seen
        .iter()
        .map(|s| &s.body)
        .find(|b| b.contains("\"role\":\"tool\""))
        .unwrap_or_else(|| panic!("no tool results reached the model\n{}", context()));
    // The destructive call was held at the gateway (issue 15): OpenClaw never
    // saw it, and the model's next request carries Warden's text in its place.
    assert!(
        second.contains("The tool call exec (") && second.contains(") is held for a human: approval apr_"),
        "the refusal reached the model\n{second}\n{}",
        context()
    );
    drop(seen);
    assert!(work.join("keep.txt").exists(), "rm -rf ran\n{}", context());

    let note = std::fs::read_to_string(work.join("note.txt"))
        .unwrap_or_else(|e| panic!("write did not run ({e})\n{}", context()));
    assert!(note.starts_with("db password: [") && !note.contains(DB_PASSWORD), "{note}");

    let db = warden_store::Store::open(db).unwrap();
    let decisions: Vec<(String, String)> =
        db.audit_log(50).unwrap().into_iter().map(|e| (e.action, e.subject)).collect();
    assert!(decisions.contains(&("tool.gate".into(), "exec".into())), "{decisions:?}");
    assert!(decisions.contains(&("tool.execute".into(), "write".into())), "{decisions:?}");
    // The write was decided at the gateway and again, by ticket, at the hook:
    // one approval in all (the exec's).
    assert_eq!(db.approvals(None, 50).unwrap().len(), 1, "{decisions:?}");
}

/// The arguments the fake model gives each tool it calls.
pub fn tool_args(name: &str) -> serde_json::Value {
    match name {
        "exec" => serde_json::json!({"command": "rm -rf /srv/data"}),
        "read" => serde_json::json!({"path": "README.md"}),
        "message" => serde_json::json!({"channel": "#ops", "text": "status report"}),
        _ => serde_json::json!({"target": "all"}),
    }
}

/// An answer that says "Working on it." and calls the tools named in
/// `names` (comma-separated, model `calls:<names>`), with [`tool_args`]:
/// whole, or streamed with the arguments in pieces of 5 characters.
fn tool_answer(api: &str, names: &str, stream: bool) -> hyper::Response<Full<Bytes>> {
    use serde_json::json;
    let calls: Vec<(String, String)> = names.split(',').map(|n| (n.to_string(), tool_args(n).to_string())).collect();
    let pieces = |s: &str| -> Vec<String> {
        let c: Vec<char> = s.chars().collect();
        c.chunks(5).map(|p| p.iter().collect()).collect()
    };
    let text = "Working on it.";
    let mut sse = String::new();
    let body = match (api, stream) {
        ("chat", false) => json!({"id": "c1", "object": "chat.completion", "created": 1, "model": "m",
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": text,
                "tool_calls": calls.iter().enumerate().map(|(i, (n, a))| json!({"id": format!("call_{i}"), "type": "function",
                    "function": {"name": n, "arguments": a}})).collect::<Vec<_>>()}}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}),
        ("responses", false) => {
            let mut output = vec![json!({"type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": []}]})];
            for (i, (n, a)) in calls.iter().enumerate() {
                output.push(json!({"type": "function_call", "id": format!("fc_{i}"), "call_id": format!("call_{i}"),
                    "name": n, "arguments": a, "status": "completed"}));
            }
            json!({"id": "resp_1", "object": "response", "created_at": 1, "model": "m", "status": "completed",
                "output": output, "usage": {"input_tokens": 10, "output_tokens": 5, "total_tokens": 15}})
        }
        ("anthropic", false) => {
            let mut content = vec![json!({"type": "text", "text": text})];
            for (i, (n, a)) in calls.iter().enumerate() {
                content.push(json!({"type": "tool_use", "id": format!("toolu_{i}"), "name": n,
                    "input": serde_json::from_str::<serde_json::Value>(a).unwrap()}));
            }
            json!({"id": "msg_1", "type": "message", "role": "assistant", "model": "m", "content": content,
                "stop_reason": "tool_use", "stop_sequence": null, "usage": {"input_tokens": 10, "output_tokens": 5}})
        }
        ("chat", true) => {
            let mut ev = |delta: serde_json::Value, finish: Option<&str>| {
                let v = json!({"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
                    "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
                sse.push_str(&format!("data: {v}\n\n"));
            };
            ev(json!({"role": "assistant", "content": ""}), None);
            for p in pieces(text) {
                ev(json!({"content": p}), None);
            }
            for (i, (n, a)) in calls.iter().enumerate() {
                ev(
                    json!({"tool_calls": [{"index": i, "id": format!("call_{i}"), "type": "function",
                    "function": {"name": n, "arguments": ""}}]}),
                    None,
                );
                for p in pieces(a) {
                    ev(json!({"tool_calls": [{"index": i, "function": {"arguments": p}}]}), None);
                }
            }
            ev(json!({}), Some("tool_calls"));
            sse.push_str("data: [DONE]\n\n");
            serde_json::Value::Null
        }
        ("responses", true) => {
            let mut seq = 0;
            let mut ev = |v: serde_json::Value| {
                let mut v = v;
                v["sequence_number"] = json!(seq);
                seq += 1;
                sse.push_str(&format!("event: {}\ndata: {v}\n\n", v["type"].as_str().unwrap()));
            };
            let created = json!({"id": "resp_1", "object": "response", "created_at": 1, "model": "m",
                "status": "in_progress", "output": []});
            ev(json!({"type": "response.created", "response": created}));
            let msg =
                json!({"type": "message", "id": "msg_1", "status": "in_progress", "role": "assistant", "content": []});
            ev(json!({"type": "response.output_item.added", "output_index": 0, "item": msg}));
            ev(
                json!({"type": "response.content_part.added", "item_id": "msg_1", "output_index": 0, "content_index": 0,
                "part": {"type": "output_text", "text": "", "annotations": []}}),
            );
            for p in pieces(text) {
                ev(json!({"type": "response.output_text.delta", "item_id": "msg_1", "output_index": 0,
                    "content_index": 0, "delta": p, "logprobs": []}));
            }
            ev(json!({"type": "response.output_text.done", "item_id": "msg_1", "output_index": 0, "content_index": 0,
                "text": text, "logprobs": []}));
            let part = json!({"type": "output_text", "text": text, "annotations": []});
            ev(json!({"type": "response.content_part.done", "item_id": "msg_1", "output_index": 0, "content_index": 0,
                "part": part}));
            let msg_done = json!({"type": "message", "id": "msg_1", "status": "completed", "role": "assistant",
                "content": [part]});
            ev(json!({"type": "response.output_item.done", "output_index": 0, "item": msg_done}));
            let mut output = vec![msg_done];
            for (i, (n, a)) in calls.iter().enumerate() {
                let o = i + 1;
                let id = format!("fc_{i}");
                let item = json!({"type": "function_call", "id": id, "call_id": format!("call_{i}"), "name": n,
                    "arguments": "", "status": "in_progress"});
                ev(json!({"type": "response.output_item.added", "output_index": o, "item": item}));
                for p in pieces(a) {
                    ev(
                        json!({"type": "response.function_call_arguments.delta", "item_id": id, "output_index": o, "delta": p}),
                    );
                }
                ev(
                    json!({"type": "response.function_call_arguments.done", "item_id": id, "output_index": o, "arguments": a}),
                );
                let mut done = item.clone();
                done["arguments"] = json!(a);
                done["status"] = json!("completed");
                ev(json!({"type": "response.output_item.done", "output_index": o, "item": done}));
                output.push(done);
            }
            let mut completed = created.clone();
            completed["status"] = json!("completed");
            completed["output"] = json!(output);
            completed["usage"] = json!({"input_tokens": 10, "output_tokens": 5, "total_tokens": 15});
            ev(json!({"type": "response.completed", "response": completed}));
            serde_json::Value::Null
        }
        _ => {
            let mut ev =
                |v: serde_json::Value| sse.push_str(&format!("event: {}\ndata: {v}\n\n", v["type"].as_str().unwrap()));
            ev(json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
                "model": "m", "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": 10, "output_tokens": 1}}}));
            ev(json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}));
            for p in pieces(text) {
                ev(json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}}));
            }
            ev(json!({"type": "content_block_stop", "index": 0}));
            for (i, (n, a)) in calls.iter().enumerate() {
                let index = i + 1;
                ev(json!({"type": "content_block_start", "index": index, "content_block": {"type": "tool_use",
                    "id": format!("toolu_{i}"), "name": n, "input": {}}}));
                for p in pieces(a) {
                    ev(json!({"type": "content_block_delta", "index": index,
                        "delta": {"type": "input_json_delta", "partial_json": p}}));
                }
                ev(json!({"type": "content_block_stop", "index": index}));
            }
            ev(json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null},
                "usage": {"output_tokens": 5}}));
            ev(json!({"type": "message_stop"}));
            serde_json::Value::Null
        }
    };
    if stream {
        return hyper::Response::builder()
            .header("content-type", "text/event-stream")
            .body(Full::new(Bytes::from(sse)))
            .unwrap();
    }
    hyper::Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap()
}
