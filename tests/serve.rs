//! `warden serve` as the sidecar, end to end: the real binary with a temp
//! config, `curl` as the agent and the operator, and a fake hub on loopback
//! (axum) that registers the node, serves signed bundles, records
//! heartbeats, approvals, usage and Uptime Kuma pushes, and hands out
//! commands in heartbeat answers.

#[path = "support/mod.rs"]
mod support;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use support::gateway_env::*;
use support::{signed_archive, TempDir};
use warden_policy::bundle::SecretKey;

const REGISTRATION: &str = "reg-once-5b7e1c";
const API_KEY: &str = "hub-api-key-9d2f4a6c8e";

#[derive(Default)]
struct HubState {
    registrations: u32,
    heartbeats: Vec<Value>,
    approvals: Vec<Value>,
    usage: Vec<Value>,
    kuma: Vec<String>,
    commands: VecDeque<Value>,
    bundle: Option<(String, Vec<u8>)>,
    /// While set, approvals and usage pushes answer 503.
    down: bool,
}

struct FakeHub {
    addr: std::net::SocketAddr,
    state: Arc<Mutex<HubState>>,
    _rt: tokio::runtime::Runtime,
}

fn authed(h: &HeaderMap) -> bool {
    h.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {API_KEY}"))
}

impl FakeHub {
    fn start() -> FakeHub {
        type S = State<Arc<Mutex<HubState>>>;
        async fn register(State(s): S, Json(b): Json<Value>) -> impl IntoResponse {
            let mut s = s.lock().unwrap();
            if b["registration_token"] != REGISTRATION || s.registrations > 0 {
                return (StatusCode::UNAUTHORIZED, Json(json!({"error": "bad or used registration token"})));
            }
            s.registrations += 1;
            (StatusCode::CREATED, Json(json!({"node_id": "node-1", "api_key": API_KEY})))
        }
        async fn heartbeat(
            State(s): S,
            h: HeaderMap,
            Path(node): Path<String>,
            Json(b): Json<Value>,
        ) -> impl IntoResponse {
            if !authed(&h) || node != "node-1" {
                return (StatusCode::UNAUTHORIZED, Json(json!({})));
            }
            let mut s = s.lock().unwrap();
            s.heartbeats.push(b);
            let commands: Vec<Value> = s.commands.drain(..).collect();
            (StatusCode::OK, Json(json!({"commands": commands})))
        }
        async fn approvals(State(s): S, h: HeaderMap, Json(b): Json<Value>) -> impl IntoResponse {
            let mut s = s.lock().unwrap();
            if !authed(&h) || s.down {
                return StatusCode::SERVICE_UNAVAILABLE;
            }
            s.approvals.extend(b["approvals"].as_array().cloned().unwrap_or_default());
            StatusCode::OK
        }
        async fn usage(State(s): S, h: HeaderMap, Json(b): Json<Value>) -> impl IntoResponse {
            let mut s = s.lock().unwrap();
            if !authed(&h) || s.down {
                return StatusCode::SERVICE_UNAVAILABLE;
            }
            s.usage.extend(b["buckets"].as_array().cloned().unwrap_or_default());
            StatusCode::OK
        }
        async fn bundle(State(s): S, h: HeaderMap) -> axum::response::Response {
            let s = s.lock().unwrap();
            let Some((etag, body)) = s.bundle.clone() else {
                return StatusCode::NOT_FOUND.into_response();
            };
            if h.get("if-none-match").and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
                return StatusCode::NOT_MODIFIED.into_response();
            }
            ([("etag", etag)], body).into_response()
        }
        async fn kuma(State(s): S, Query(q): Query<Vec<(String, String)>>) -> impl IntoResponse {
            let line = q.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("&");
            s.lock().unwrap().kuma.push(line);
            Json(json!({"ok": true}))
        }
        let state = Arc::new(Mutex::new(HubState::default()));
        let app = Router::new()
            .route("/api/v1/nodes/register", post(register))
            .route("/api/v1/nodes/{node}/heartbeat", post(heartbeat))
            .route("/api/v1/nodes/{node}/approvals", post(approvals))
            .route("/api/v1/nodes/{node}/usage", post(usage))
            .route("/bundles/t.tar.gz", get(bundle))
            .route("/kuma/push/abc", get(kuma))
            .with_state(state.clone());
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeHub { addr, state, _rt: rt }
    }

    fn with<T>(&self, f: impl FnOnce(&mut HubState) -> T) -> T {
        f(&mut self.state.lock().unwrap())
    }

    fn config(&self, heartbeat: &str) -> String {
        format!(
            "[hub]\nurl = \"http://{0}\"\nregistration_token = \"{REGISTRATION}\"\nnode_name = \"test-node\"\nheartbeat = \"{heartbeat}\"\n\
             uptime_kuma_url = \"http://{0}/kuma/push/abc?status=up&msg=OK&ping=\"\n",
            self.addr
        )
    }
}

fn wait_for(what: &str, server: &Server, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < Duration::from_secs(30), "timed out waiting for {what}; logs:\n{}", server.logs());
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// The default policy (with the fake provider's upstreams) at `autonomy`,
/// signed as `revision`. The default self-tests expect level 2: at another
/// level they go (the bundle would rightly be refused).
fn bundle(provider: &Provider, key: &SecretKey, revision: u64, autonomy: u8) -> Vec<u8> {
    let mut files = gateway_policy(provider, |p| p.replace("autonomy = 2", &format!("autonomy = {autonomy}")));
    if autonomy != 2 {
        files.remove("tests/default.toml");
    }
    signed_archive(files, revision, key)
}

fn execute(server: &Server, tool: &str, args: Value, extra: &[&str]) -> (u16, Value) {
    let body =
        json!({"session_id": "s-1", "agent_id": "main", "tool_name": tool, "tool_args": args, "context": {"run": "r"}});
    let (code, body) =
        server.control("POST", "/api/v1/tools/execute", Some(&server.token("agent")), extra, Some(&body.to_string()));
    (code, json_of(&body))
}

#[test]
fn hub_commands_apply_and_approvals_resolve_through_the_hub() {
    let dir = TempDir::new("serve-hub");
    let provider = start_provider();
    let hub = FakeHub::start();
    let key = SecretKey::generate().unwrap();
    hub.with(|h| h.bundle = Some(("\"r1\"".into(), bundle(&provider, &key, 1, 2))));
    let policy =
        format!("bundle_url = \"http://{}/bundles/t.tar.gz\"\npoll_min = \"1h\"\npoll_max = \"1h\"\n", hub.addr);
    let mut server = launch(&dir, &provider, &key, &policy, &hub.config("300ms"));

    // Registered once, heartbeats carry telemetry and revision 1.
    wait_for("a heartbeat on revision 1", &server, || {
        hub.with(|h| h.heartbeats.iter().any(|b| b["policy"]["revision"] == 1))
    });
    let beat = hub.with(|h| h.heartbeats.last().cloned().unwrap());
    assert_eq!(beat["node_name"], "test-node");
    assert_eq!(beat["db"]["quick_check"], "ok");
    for field in
        ["uptime_s", "ram", "disk", "cpu", "redactions_by_layer", "plugin_failures", "approvals_pending", "last_hour"]
    {
        assert!(!beat[field].is_null(), "heartbeat lacks {field}: {beat}");
    }
    assert!(beat["ram"]["rss_bytes"].as_u64().unwrap() > 0);
    assert_eq!(hub.with(|h| h.registrations), 1);

    // A new revision announced in a heartbeat answer is fetched, activated,
    // acknowledged and reported in the next heartbeat.
    hub.with(|h| {
        h.bundle = Some(("\"r2\"".into(), bundle(&provider, &key, 2, 2)));
        h.commands.push_back(json!({"id": "cmd-1", "type": "fetch_bundle", "revision": 2}));
    });
    wait_for("revision 2 reported with the ack", &server, || {
        hub.with(|h| {
            h.heartbeats.iter().any(|b| {
                b["policy"]["revision"] == 2
                    && b["acks"].as_array().is_some_and(|a| a.iter().any(|a| a["id"] == "cmd-1" && a["ok"] == true))
            })
        })
    });

    // A gated call: the agent long-polls while the hub answers.
    let (code, reply) = execute(&server, "exec", json!({"command": "rm -rf /tmp/build"}), &[]);
    assert_eq!(code, 200, "{reply}");
    assert_eq!((reply["decision"].as_str(), reply["tier"].as_str()), (Some("gate"), Some("RED")));
    let id = reply["approval_id"].as_str().unwrap().to_string();
    wait_for("the pending approval at the hub", &server, || {
        hub.with(|h| h.approvals.iter().any(|a| a["id"] == id.as_str() && a["status"] == "pending"))
    });
    let waiting = {
        let (port, token, id) = (server.control, server.token("agent"), id.clone());
        std::thread::spawn(move || {
            let t = Instant::now();
            let (out, _) = curl(&[
                "-H",
                &format!("authorization: Bearer {token}"),
                &format!("http://127.0.0.1:{port}/api/v1/approvals/{id}?wait=30"),
            ]);
            (out, t.elapsed())
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    hub.with(|h| {
        h.commands.push_back(json!({"id": "cmd-2", "type": "resolve_approval", "approval_id": id, "decision": "allow-once", "by": "ann"}))
    });
    let (out, took) = waiting.join().unwrap();
    let answered = json_of(&out);
    assert_eq!(answered["status"], "allowed", "{answered}");
    assert_eq!(answered["decided_by"], "hub:ann");
    assert!(took < Duration::from_secs(10), "the long poll returned when the hub answered, not at its end ({took:?})");
    wait_for("the decided approval at the hub", &server, || {
        hub.with(|h| h.approvals.iter().any(|a| a["id"] == id.as_str() && a["status"] == "allowed"))
    });

    // A rollback to revision 1 by digest, and a command this node does not
    // know, are both acknowledged, the second as not applied.
    let first =
        hub.with(|h| h.heartbeats.iter().find(|b| b["policy"]["revision"] == 1).unwrap()["policy"]["digest"].clone());
    hub.with(|h| {
        h.commands.push_back(json!({"id": "cmd-3", "type": "rollback", "digest": first}));
        h.commands.push_back(json!({"id": "cmd-4", "type": "reboot"}));
    });
    wait_for("the rollback reported", &server, || {
        hub.with(|h| {
            h.heartbeats.iter().any(|b| {
                let acks = b["acks"].as_array().cloned().unwrap_or_default();
                b["policy"]["revision"] == 1
                    && acks.iter().any(|a| a["id"] == "cmd-3" && a["ok"] == true)
                    && acks.iter().any(|a| a["id"] == "cmd-4" && a["ok"] == false)
            })
        })
    });

    // While the hub's push endpoints are down, nothing is lost.
    hub.with(|h| h.down = true);
    let (_, second) = execute(&server, "message", json!({"to": "bob@example.com", "text": "hi"}), &[]);
    let second_id = second["approval_id"].as_str().unwrap().to_string();
    std::thread::sleep(Duration::from_secs(2));
    assert!(!hub.with(|h| h.approvals.iter().any(|a| a["id"] == second_id.as_str())));
    hub.with(|h| h.down = false);
    wait_for("the approval pushed after the outage", &server, || {
        hub.with(|h| h.approvals.iter().any(|a| a["id"] == second_id.as_str()))
    });
    // By default the agent-side token asks and waits but never answers:
    // the operator's token (or the hub) does.
    let deny = json!({"decision": "deny", "by": "tester"}).to_string();
    let path = format!("/api/v1/approvals/{second_id}");
    assert_eq!(server.control("POST", &path, Some(&server.token("agent")), &[], Some(&deny)).0, 401);
    let (code, row) = server.control("POST", &path, Some(&server.token("admin")), &[], Some(&deny));
    assert_eq!(code, 200, "{row}");
    assert_eq!(json_of(&row)["status"], "denied");

    // Uptime Kuma heard from us; metrics say what happened.
    assert!(
        hub.with(|h| h.kuma.iter().any(|q| q.starts_with("status=up&msg=OK&ping="))),
        "{:?}",
        hub.with(|h| h.kuma.clone())
    );
    let (code, metrics) = server.control("GET", "/metrics", None, &[], None);
    assert_eq!(code, 200);
    for want in [
        "warden_policy_revision 1",
        "warden_gate_decisions_total{tier=\"RED\",decision=\"gate\"} 1",
        "warden_approvals_pending 0",
        "warden_hub_calls_total{call=\"heartbeat\",outcome=\"ok\"}",
        "warden_requests_total{port=\"control\",route=\"/api/v1/tools/execute\",status=\"200\"} 2",
    ] {
        assert!(metrics.contains(want), "metrics lack {want}:\n{metrics}");
    }

    // Restarted, the node does not register again (the key is in the vault).
    assert!(server.terminate().success());
    let logs = server.logs();
    for secret in [API_KEY, REGISTRATION] {
        assert!(!logs.contains(secret), "a hub secret in the logs");
    }
    let beats = hub.with(|h| h.heartbeats.len());
    let server = launch(&dir, &provider, &key, &policy, &hub.config("300ms"));
    wait_for("a heartbeat after restart", &server, || hub.with(|h| h.heartbeats.len() > beats));
    assert_eq!(hub.with(|h| h.registrations), 1);
}

#[test]
fn the_gate_decides_redacts_and_holds_calls_for_a_human() {
    let dir = TempDir::new("serve-gate");
    let provider = start_provider();
    let key = SecretKey::generate().unwrap();
    let state = dir.join("state");
    activate(&dir, &key, &bundle(&provider, &key, 1, 3));
    let server = launch(&dir, &provider, &key, "", "[gate]\napproval_ttl = \"2s\"\nagent_can_decide = false\n");

    // Tokens: none, or the agent's for the operator's endpoint, are refused.
    let body = json!({"tool_name": "read", "tool_args": {}}).to_string();
    assert_eq!(server.control("POST", "/api/v1/tools/execute", None, &[], Some(&body)).0, 401);
    assert_eq!(server.control("POST", "/api/v1/tools/execute", Some("wrong"), &[], Some(&body)).0, 401);

    // Level 3 runs RED commands, but the external gate stays locked.
    let (_, r) = execute(&server, "exec", json!({"command": "rm -rf /tmp/build"}), &[]);
    assert_eq!(r["decision"], "execute", "{r}");
    let (_, r) = execute(&server, "send_email", json!({"to": "bob@example.com", "body": "the report"}), &[]);
    assert_eq!((r["decision"].as_str(), r["tier"].as_str()), (Some("gate"), Some("YELLOW_EXTERNAL")), "{r}");
    assert_eq!(r["tool_args"]["to"], "bob@example.com", "contact details stay: the gate decides on them");
    let (_, r) = execute(&server, "exec", json!({"command": "sudo reboot now"}), &[]);
    assert_eq!((r["decision"].as_str(), r["tier"].as_str()), (Some("gate"), Some("CRITICAL_RED")));
    let critical = r["approval_id"].as_str().unwrap().to_string();

    // Secrets in the arguments come back redacted: a vault value and a token.
    let gh = "ghp_1a2B3c4D5e6F7g8H9i0J1k2L3m4N5o6P7q8R";
    let (_, r) = execute(&server, "exec", json!({"command": format!("psql -p {DB_PASSWORD} && echo {gh}")}), &[]);
    let cmd = r["tool_args"]["command"].as_str().unwrap();
    assert!(!cmd.contains(DB_PASSWORD) && !cmd.contains(gh), "{cmd}");
    assert!(cmd.starts_with("psql -p ["), "{cmd}");
    assert_eq!(r["redacted"], 2);

    // Idempotency: the same key answers the same, once; another body is refused.
    let key_hdr = ["idempotency-key: call-42"];
    let (_, a) = execute(&server, "message", json!({"to": "ann@example.com"}), &key_hdr);
    let (_, b) = execute(&server, "message", json!({"to": "ann@example.com"}), &key_hdr);
    assert_eq!(a["approval_id"], b["approval_id"]);
    let (code, c) = execute(&server, "message", json!({"to": "eve@example.com"}), &key_hdr);
    assert_eq!(code, 422, "{c}");

    // With agent_can_decide = false, answering needs the operator's token.
    let id = a["approval_id"].as_str().unwrap();
    let path = format!("/api/v1/approvals/{id}");
    let decide = json!({"decision": "allow-always", "by": "ops"}).to_string();
    assert_eq!(server.control("POST", &path, Some(&server.token("agent")), &[], Some(&decide)).0, 401);
    let (code, row) = server.control("POST", &path, Some(&server.token("admin")), &[], Some(&decide));
    assert_eq!(code, 200, "{row}");
    assert_eq!(json_of(&row)["decided_by"], "local:ops");
    let (code, _) = server.control(
        "POST",
        &path,
        Some(&server.token("admin")),
        &[],
        Some(&json!({"decision": "deny", "by": "x"}).to_string()),
    );
    assert_eq!(code, 409, "decided once");
    let bad = json!({"decision": "maybe", "by": "x"}).to_string();
    assert_eq!(server.control("POST", &path, Some(&server.token("admin")), &[], Some(&bad)).0, 400);
    // allow-always: the same call runs from now on ...
    let (_, again) = execute(&server, "message", json!({"to": "ann@example.com"}), &[]);
    assert_eq!(again["decision"], "execute", "{again}");
    // ... but not for CRITICAL_RED, which always needs a fresh decision:
    // its answer runs the call it answered, once, and grants nothing more.
    let cpath = format!("/api/v1/approvals/{critical}");
    assert_eq!(server.control("POST", &cpath, Some(&server.token("admin")), &[], Some(&decide)).0, 200);
    let (_, r) = execute(&server, "exec", json!({"command": "sudo reboot now"}), &[]);
    assert_eq!(r["decision"], "execute", "the approved call's one run: {r}");
    let (code, seen) = server.control("GET", &cpath, Some(&server.token("agent")), &[], None);
    assert_eq!((code, json_of(&seen)["status"].as_str()), (200, Some("consumed")), "{seen}");
    let (_, r) = execute(&server, "exec", json!({"command": "sudo reboot now"}), &[]);
    assert_eq!(r["decision"], "gate");

    // Unanswered approvals end as deny at their expiry; a long poll returns then.
    let pending = r["approval_id"].as_str().unwrap();
    let t = Instant::now();
    let (code, body) =
        server.control("GET", &format!("/api/v1/approvals/{pending}?wait=30"), Some(&server.token("agent")), &[], None);
    assert_eq!(code, 200);
    let row = json_of(&body);
    assert_eq!((row["status"].as_str(), row["decision"].as_str()), (Some("expired"), Some("expired")), "{row}");
    assert!(t.elapsed() < Duration::from_secs(5), "returned at expiry, not after the full wait");

    // Listing, and clear errors for bad input.
    let (code, list) =
        server.control("GET", "/api/v1/approvals?status=expired", Some(&server.token("agent")), &[], None);
    assert_eq!(code, 200);
    assert!(json_of(&list)["approvals"].as_array().unwrap().iter().any(|a| a["id"] == pending));
    let (code, err) = server.control(
        "POST",
        "/api/v1/tools/execute",
        Some(&server.token("agent")),
        &[],
        Some("{\"tool_name\": \"x\", \"tool_args\": [1]}"),
    );
    assert_eq!(code, 400);
    assert!(err.contains("tool_args must be a JSON object"), "{err}");
    let (code, err) = server.control(
        "POST",
        "/api/v1/tools/execute",
        Some(&server.token("agent")),
        &[],
        Some(&format!("{{\"tool_name\": \"{DB_PASSWORD}")),
    );
    assert_eq!(code, 400);
    assert!(!err.contains(DB_PASSWORD), "the error does not echo the body: {err}");
    assert_eq!(server.control("GET", "/api/v1/approvals/nope", Some(&server.token("agent")), &[], None).0, 404);
    assert_eq!(
        server
            .control("GET", &format!("/api/v1/approvals/{pending}?wait=999"), Some(&server.token("agent")), &[], None)
            .0,
        400
    );

    // Every path and method the OpenAPI document names is served.
    let spec: Value = serde_json::from_str(include_str!("../runtime/warden/api/control.openapi.json")).unwrap();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "delete"] {
            if item.get(method).is_none() {
                continue;
            }
            let concrete = path.replace("{id}", "nope").replace("{name}", "nope");
            let (code, body) = server.control(&method.to_uppercase(), &concrete, None, &[], None);
            assert!(
                code != 405 && !(code == 404 && body.is_empty()),
                "{method} {path} is documented but not routed ({code})"
            );
        }
    }

    // Every decision is in the audit log, and no secret is in the logs.
    let db = warden_store::Store::open(&state.join("warden.db")).unwrap();
    let actions: Vec<String> = db.audit_log(100).unwrap().into_iter().map(|e| e.action).collect();
    for want in ["tool.execute", "tool.gate", "approval.allow-always", "approval.expired"] {
        assert!(actions.iter().any(|a| a == want), "audit lacks {want}: {actions:?}");
    }
    let logs = server.logs();
    assert!(!logs.contains(DB_PASSWORD) && !logs.contains(gh));
    let agent_token = std::fs::metadata(state.join("agent.token")).unwrap();
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&agent_token.permissions()) & 0o777, 0o600);
}

#[test]
fn sigterm_mid_request_loses_nothing() {
    let dir = TempDir::new("serve-term");
    let provider = start_provider();
    let hub = FakeHub::start();
    hub.with(|h| h.down = true);
    let mut server = start(&dir, &provider);
    // Restart with the hub link (its push endpoints down).
    std::fs::write(&server.config, std::fs::read_to_string(&server.config).unwrap() + &hub.config("200ms")).unwrap();
    assert!(server.terminate().success());
    let mut server = server.restart();

    // A gated call whose approval the hub has not received yet.
    let (_, r) = execute(&server, "exec", json!({"command": "rm -rf /tmp/x"}), &[]);
    let id = r["approval_id"].as_str().unwrap().to_string();
    // A slow model call and a long poll are in flight when SIGTERM comes.
    let egress = server.egress;
    let slow = std::thread::spawn(move || {
        let body =
            json!({"model": "slow", "messages": [{"role": "user", "content": format!("mail {EMAIL}")}]}).to_string();
        curl(&[
            "-H",
            "content-type: application/json",
            "-d",
            &body,
            &format!("http://127.0.0.1:{egress}/llm/fake/v1/chat/completions"),
        ])
    });
    let (port, token, id2) = (server.control, server.token("agent"), id.clone());
    let poll = std::thread::spawn(move || {
        let t = Instant::now();
        let out = curl(&[
            "-H",
            &format!("authorization: Bearer {token}"),
            &format!("http://127.0.0.1:{port}/api/v1/approvals/{id2}?wait=60"),
        ]);
        (out, t.elapsed())
    });
    std::thread::sleep(Duration::from_millis(400));
    let health = |server: &Server| {
        std::process::Command::new(env!("CARGO_BIN_EXE_warden"))
            .args(["health", "--config"])
            .arg(&server.config)
            .output()
            .unwrap()
    };
    assert!(health(&server).status.success(), "warden health while serving");
    let status = server.terminate();
    assert!(status.success(), "exit {status:?}: {}", server.logs());
    let (answer, err) = slow.join().unwrap();
    assert!(
        answer.contains(EMAIL) && answer.contains("\"usage\""),
        "the in-flight model call finished: {answer} {err}"
    );
    let ((out, _), took) = poll.join().unwrap();
    assert_eq!(json_of(&out)["status"], "pending", "the long poll answered with the state at shutdown");
    assert!(took < Duration::from_secs(10));
    let down = health(&server);
    assert!(!down.status.success() && String::from_utf8_lossy(&down.stderr).contains("cannot reach the control API"));

    // The usage of the interrupted call and the approval are on disk ...
    let db = warden_store::Store::open(&server.state.join("warden.db")).unwrap();
    assert_eq!(db.usage_since(0).unwrap().iter().map(|b| b.requests).sum::<u64>(), 1);
    assert_eq!(db.approval(&id).unwrap().unwrap().status, warden_domain::ApprovalStatus::Pending);
    drop(db);
    // ... and reach the hub once it is back.
    hub.with(|h| h.down = false);
    let server = server.restart();
    wait_for("the approval and usage pushed after restart", &server, || {
        hub.with(|h| h.approvals.iter().any(|a| a["id"] == id.as_str()) && h.usage.iter().any(|u| u["model"] == "slow"))
    });
}
