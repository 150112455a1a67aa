//! Issue 14, "nothing leaves unscanned", end to end: the real `warden
//! serve` with a signed bundle whose upstream is the recording fake
//! provider (tests/support/gateway_env.rs), and `curl` and the official
//! `openai` Python package as the agent. What the proxy crate proves in
//! process (every JSON place, encodings, embedded documents, forward-proxy
//! bodies, the property test) is in `runtime/proxy/tests/egress_holes.rs`;
//! here are the holes that need the whole server: the vault's bindings and
//! encodings, usage at rest, the state directory, the egress token.

#[path = "support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::{Duration, Instant};

use support::gateway_env::*;
use support::{signed_archive, warden, TempDir};
use warden_policy::bundle::SecretKey;

const AWS_KEY: &str = "AKIAZ7Q3M5R2T4W6Y3B2";

/// A plain HTTP server that answers each request with the request itself
/// (head and body): the worst case of a destination reflecting a secret.
fn start_reflector() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut head = String::new();
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                head.push_str(&line);
            }
            let mut body = vec![0u8; len];
            let _ = reader.read_exact(&mut body);
            let reply = format!("{head}\r\n{}", String::from_utf8_lossy(&body));
            let _ = conn.write_all(
                format!("HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{reply}", reply.len())
                    .as_bytes(),
            );
        }
    });
    port
}

fn llm_url(server: &Server) -> String {
    format!("http://127.0.0.1:{}/llm/fake/v1/chat/completions", server.egress)
}

/// Issue 14 (1): the official client's shapes (`name`, tool-call ids, tool
/// names, `tool_choice`, `user`, metadata keys, a JSON number) leave
/// redacted, and a model name is stored redacted in `usage_hourly`.
#[test]
fn issue_14_1_sdk_shapes_leave_redacted_and_the_model_rests_redacted() {
    let dir = TempDir::new("holes-sdk");
    let provider = start_provider();
    let server = start(&dir, &provider);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/clients/openai_holes.py");
    let base = format!("http://127.0.0.1:{}/llm/fake/v1", server.egress);
    let out = Command::new("python3").args([script, &base, DB_PASSWORD, EMAIL]).output().expect("python3 runs");
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let seen = provider.seen.lock().unwrap().last().cloned().unwrap();
    for s in [DB_PASSWORD, EMAIL, "4111111111111111"] {
        assert!(!seen.body.contains(s), "{s} reached the provider: {}", seen.body);
        assert!(!seen.headers.iter().any(|(_, v)| v.contains(s)), "{s} in a header: {:?}", seen.headers);
    }

    // The model name is scanned like the rest, and stored as it left.
    let body = serde_json::json!({"model": AWS_KEY, "messages": [{"role": "user", "content": "hi"}]}).to_string();
    let (out, err) = curl(&["-H", "content-type: application/json", "-d", &body, &llm_url(&server)]);
    assert!(out.contains("chat.completion"), "{out} {err}");
    let seen = provider.seen.lock().unwrap().last().cloned().unwrap();
    assert!(!seen.body.contains(AWS_KEY), "{}", seen.body);
    let t = Instant::now();
    let store = warden_store::Store::open(&dir.join("state/warden.db")).unwrap();
    let mut rows = Vec::new();
    while t.elapsed() < Duration::from_secs(10) {
        rows = store.usage_since(0).unwrap();
        if rows.iter().any(|r| r.model != "gpt-test") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(rows.iter().any(|r| r.model.starts_with("[AWS")), "{rows:?}");
    assert!(rows.iter().all(|r| !r.model.contains(AWS_KEY)), "{rows:?}");
}

/// Issue 14 (1, 3, 5): the official `anthropic` client's shapes: tool_use
/// input keys and ids, metadata, real JSON under a sensitive key, and a
/// base64 text document.
#[test]
fn issue_14_anthropic_sdk_shapes_leave_redacted() {
    let dir = TempDir::new("holes-anthropic");
    let provider = start_provider();
    let server = start(&dir, &provider);
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/clients/anthropic_holes.py");
    let base = format!("http://127.0.0.1:{}/llm/fake", server.egress);
    let out = Command::new("python3").args([script, &base, DB_PASSWORD, EMAIL]).output().expect("python3 runs");
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let seen = provider.seen.lock().unwrap().last().cloned().unwrap();
    for s in [DB_PASSWORD, EMAIL, "12345678"] {
        assert!(!seen.body.contains(s), "{s} reached the provider: {}", seen.body);
    }
    let doc: serde_json::Value = serde_json::from_str(&seen.body).unwrap();
    let data = doc["messages"][0]["content"][0]["source"]["data"].as_str().unwrap();
    use base64::Engine as _;
    let text = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(data).unwrap()).unwrap();
    assert!(text.starts_with("contact [EMAIL_") && !text.contains(DB_PASSWORD), "{text}");
}

/// Issue 14 (4): a vault value in the shapes clients encode it in.
#[test]
fn issue_14_4_vault_value_encodings_are_caught() {
    let dir = TempDir::new("holes-enc");
    let provider = start_provider();
    let server = start(&dir, &provider);
    // Python's quote() keeps '/', lowercase hex, base64 of the value.
    let value = "p@ss:w0rd/Secret!";
    assert!(warden(&server.state, &["secrets", "set", "odd", "--host", "db.example.com"], value).status.success());
    let quote = "p%40ss%3Aw0rd/Secret%21";
    let lower = "p%40ss%3aw0rd%2fSecret%21";
    let b64 = "cEBzczp3MHJkL1NlY3JldCE=";
    let hex = "704073733a77307264";
    let body = serde_json::json!({"model": "gpt-test", "messages": [{"role": "user",
        "content": format!("{quote} {lower} {b64} {hex}2f53656372657421")}]})
    .to_string();
    let (out, err) = curl(&["-H", "content-type: application/json", "-d", &body, &llm_url(&server)]);
    assert!(out.contains("chat.completion"), "{out} {err}");
    let seen = provider.seen.lock().unwrap().last().cloned().unwrap();
    for s in [quote, lower, b64, hex] {
        assert!(!seen.body.contains(s), "{s} reached the provider: {}", seen.body);
    }
    assert!(seen.body.contains("[SECRET_ODD_1]"), "{}", seen.body);
}

/// Issue 14 (6): SECRET_REF is bound to scheme, host and port; a key the
/// gateway injects cannot be expanded by the agent; an echo does not hand a
/// substituted value back.
#[test]
fn issue_14_6_secret_ref_cannot_be_reflected_back_to_the_agent() {
    let dir = TempDir::new("holes-ref");
    let provider = start_provider();
    let server = start(&dir, &provider);
    let echo = start_reflector();
    let proxy = format!("http://127.0.0.1:{}", server.egress);
    let target = format!("http://127.0.0.1:{echo}/hook");

    // The gateway's provider key: never by SECRET_REF.
    let (out, _) = curl(&["-x", &proxy, "-H", "x-token: SECRET_REF(fake)", &target]);
    assert!(out.contains("warden_secret_ref") && !out.contains(PROVIDER_KEY), "{out}");
    // `echo` is bound to the bare host 127.0.0.1: https only, so plain http is refused.
    let (out, _) = curl(&["-x", &proxy, "-H", "x-token: SECRET_REF(echo)", &target]);
    assert!(out.contains("warden_secret_ref") && out.contains("not bound"), "{out}");
    // Bound to this scheme, host and port: substituted, but the echo of it
    // comes back redacted, in headers and body.
    let out =
        warden(&server.state, &["secrets", "set", "echo", "--host", &format!("http://127.0.0.1:{echo}")], ECHO_TOKEN);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (out, err) = curl(&["-x", &proxy, "-H", "x-token: SECRET_REF(echo)", "-d", "tok=SECRET_REF(echo)", &target]);
    assert!(out.contains("POST /hook"), "{out} {err}");
    assert!(!out.contains(ECHO_TOKEN) && out.contains("[SECRET_ECHO]"), "{out}");
    // Another port of the same host: refused.
    let other = start_reflector();
    let (out, _) = curl(&["-x", &proxy, "-H", "x-token: SECRET_REF(echo)", &format!("http://127.0.0.1:{other}/")]);
    assert!(out.contains("warden_secret_ref"), "{out}");
    assert!(!server.logs().contains(ECHO_TOKEN));
}

/// Issue 14 (7): multipart and untyped forward-proxy bodies, headers and
/// the query are scanned (curl -F, --data-binary with no content type).
#[test]
fn issue_14_7_forward_proxy_multipart_untyped_headers_query() {
    let dir = TempDir::new("holes-fwd");
    let provider = start_provider();
    let server = start(&dir, &provider);
    let echo = start_reflector();
    let proxy = format!("http://127.0.0.1:{}", server.egress);
    let file = dir.join("upload.bin");
    let mut bytes = vec![0u8, 0xff, 0xfe];
    bytes.extend_from_slice(DB_PASSWORD.as_bytes());
    std::fs::write(&file, &bytes).unwrap();
    let (out, err) = curl(&[
        "-x",
        &proxy,
        "-H",
        &format!("x-note: {EMAIL}"),
        "-F",
        &format!("note=mail {EMAIL}"),
        "-F",
        &format!("file=@{};type=application/octet-stream", file.display()),
        &format!("http://127.0.0.1:{echo}/up?who={EMAIL}"),
    ]);
    assert!(out.contains("POST /up"), "{out} {err}");
    for s in [EMAIL, DB_PASSWORD] {
        assert!(!out.contains(s), "{s} went out (the reflector returned it): {out}");
    }
    let (out, _) = curl(&[
        "-x",
        &proxy,
        "-H",
        "content-type:",
        "--data-binary",
        &format!("raw {EMAIL} {AWS_KEY}"),
        &format!("http://127.0.0.1:{echo}/raw"),
    ]);
    assert!(out.contains("POST /raw") && !out.contains(EMAIL) && !out.contains(AWS_KEY), "{out}");
}

/// Issue 14 (8): a cross-site simple POST from a browser gets nothing; with
/// `[egress] token_file`, only a client that sends the token does.
#[test]
fn issue_14_8_browsers_are_refused_and_the_egress_token_is_required() {
    let dir = TempDir::new("holes-origin");
    let provider = start_provider();
    let server = start(&dir, &provider);
    let body = serde_json::json!({"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}).to_string();
    let url = llm_url(&server);
    let (out, _) = curl(&[
        "-w",
        " %{http_code}",
        "-H",
        "content-type: text/plain",
        "-H",
        "origin: http://evil.example",
        "-d",
        &body,
        &url,
    ]);
    assert!(out.ends_with(" 403") || out.ends_with(" 415"), "{out}");
    let (out, _) = curl(&["-w", " %{http_code}", "-H", "content-type: text/plain", "-d", &body, &url]);
    assert!(out.ends_with(" 415"), "{out}");
    let (out, _) = curl(&[
        "-w",
        " %{http_code}",
        "-H",
        "content-type: application/json",
        "-H",
        "origin: http://evil.example",
        "-d",
        &body,
        &url,
    ]);
    assert!(out.ends_with(" 403"), "{out}");
    assert!(provider.seen.lock().unwrap().is_empty(), "the provider got nothing");

    // The egress token (config file, then a restart on it).
    let token = "egress-token-7d1e2f3a4b5c";
    let token_file = dir.join("egress.token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let config = std::fs::read_to_string(&server.config).unwrap();
    let config = config.replacen(
        "idle_timeout = \"2s\"\n",
        &format!("idle_timeout = \"2s\"\ntoken_file = {:?}\n", token_file),
        1,
    );
    std::fs::write(&server.config, config).unwrap();
    let mut server = server;
    server.terminate();
    let server = server.restart();
    let url = llm_url(&server);
    let (out, _) = curl(&["-w", " %{http_code}", "-H", "content-type: application/json", "-d", &body, &url]);
    assert!(out.ends_with(" 401") && out.contains("warden_egress_token"), "{out}");
    let (out, _) = curl(&[
        "-H",
        "content-type: application/json",
        "-H",
        &format!("authorization: Bearer {token}"),
        "-d",
        &body,
        &url,
    ]);
    assert!(out.contains("chat.completion"), "{out}");
    let seen = provider.seen.lock().unwrap().last().cloned().unwrap();
    assert!(!seen.headers.iter().any(|(_, v)| v.contains(token)), "the egress token stays in Warden");
}

/// Issue 14 (9): half-open connections flooding the control port do not
/// stop the egress port from serving.
#[test]
fn issue_14_9_a_control_port_flood_leaves_egress_serving() {
    let dir = TempDir::new("holes-flood");
    let provider = start_provider();
    let server = start(&dir, &provider);
    let mut flood = Vec::new();
    for _ in 0..1500 {
        if let Ok(mut s) =
            std::net::TcpStream::connect_timeout(&([127, 0, 0, 1], server.control).into(), Duration::from_millis(200))
        {
            let _ = s.write_all(b"GET /healthz HTTP/1.1\r\nhost:");
            flood.push(s);
        }
    }
    let body = serde_json::json!({"model": "gpt-test", "messages": [{"role": "user", "content": "hi"}]}).to_string();
    let t = Instant::now();
    let (out, err) = curl(&["-H", "content-type: application/json", "-d", &body, &llm_url(&server)]);
    assert!(out.contains("chat.completion"), "{out} {err}");
    assert!(t.elapsed() < Duration::from_secs(5), "egress answered in {:?}", t.elapsed());
    drop(flood);
    // The control port recovers once the flood is gone.
    let t = Instant::now();
    loop {
        let (out, _) = curl(&["--max-time", "2", &format!("http://127.0.0.1:{}/healthz", server.control)]);
        if out.contains("ok") {
            break;
        }
        assert!(t.elapsed() < Duration::from_secs(30), "the control port did not recover");
    }
}

/// Issue 14 (11): a state directory open to others is closed to 0700 and
/// the database is created 0600.
#[test]
fn issue_14_11_state_directory_and_database_modes() {
    let dir = TempDir::new("holes-modes");
    let state = dir.join("state");
    std::fs::create_dir(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = warden(&state, &["secrets", "list"], "");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::metadata(&state).unwrap().permissions().mode() & 0o777, 0o700);
    assert_eq!(std::fs::metadata(state.join("warden.db")).unwrap().permissions().mode() & 0o777, 0o600);
}

/// Also resisted, now with its own test: with every module logging at
/// `trace`, a prompt carrying a vault value, an email and an AWS key, and a
/// held tool call with the database password in its arguments leave none of
/// the vault's values nor those planted in the log, `/metrics` or the
/// database files (WAL included). It found the gate's reason quoting the
/// raw arguments (`deletes / <password> recursively`) into `approvals` and
/// `audit`; the reason is now redacted like the arguments.
#[test]
fn issue_14_no_secret_in_trace_logs_metrics_or_the_database() {
    let dir = TempDir::new("holes-trace");
    let provider = start_provider();
    let key = SecretKey::generate().unwrap();
    activate(&dir, &key, &signed_archive(gateway_policy(&provider, |p| p), 1, &key));
    let server = launch_logging(&dir, &provider, &key, "", "", "trace");
    let prompt = format!("use {DB_PASSWORD} and {ECHO_TOKEN} for {EMAIL}, key {AWS_KEY}");
    let body = serde_json::json!({"model": "gpt-test", "messages": [{"role": "user", "content": prompt}]}).to_string();
    let (out, err) = curl(&["-H", "content-type: application/json", "-d", &body, &llm_url(&server)]);
    assert!(out.contains("chat.completion"), "{out} {err}");
    let agent = server.token("agent");
    let call = serde_json::json!({"tool_name": "exec", "session_id": "s1",
        "tool_args": {"command": format!("rm -rf / --password {DB_PASSWORD}")}})
    .to_string();
    let (code, reply) = server.control("POST", "/api/v1/tools/execute", Some(&agent), &[], Some(&call));
    assert!(code < 500, "{code} {reply}");
    let (_, metrics) = server.control("GET", "/metrics", None, &[], None);
    let logs = server.logs();
    assert!(logs.contains("TRACE") || logs.contains("trace"), "the server logged at trace");
    let mut db = Vec::new();
    for f in ["warden.db", "warden.db-wal"] {
        db.extend(std::fs::read(server.state.join(f)).unwrap_or_default());
    }
    let db = String::from_utf8_lossy(&db);
    for s in [PROVIDER_KEY, DB_PASSWORD, ECHO_TOKEN, EMAIL, AWS_KEY] {
        assert!(!logs.contains(s), "{s} in the trace log");
        assert!(!metrics.contains(s), "{s} in /metrics");
        assert!(!db.contains(s), "{s} in the database files");
    }
}
