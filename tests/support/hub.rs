//! A fake hub on loopback (axum): registers the node, serves signed bundles,
//! records heartbeats, approvals, usage and Uptime Kuma pushes, and hands
//! out commands in heartbeat answers and through the commands long poll
//! (`GET /api/v1/nodes/{id}/commands?wait=`), timing each hand-out and each
//! approval's first arrival so tests can measure the way to and from a human.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::sync::Notify;

use super::gateway_env::Server;

pub const REGISTRATION: &str = "reg-once-5b7e1c";
pub const API_KEY: &str = "hub-api-key-9d2f4a6c8e";

#[derive(Default)]
pub struct HubState {
    pub registrations: u32,
    pub heartbeats: Vec<Value>,
    pub approvals: Vec<Value>,
    pub usage: Vec<Value>,
    pub alerts: Vec<Value>,
    pub kuma: Vec<String>,
    /// Handed out by the next heartbeat answer or long poll, whichever asks first.
    pub commands: VecDeque<Value>,
    pub bundle: Option<(String, Vec<u8>)>,
    /// While set, approvals and usage pushes answer 503.
    pub down: bool,
    /// While set, every node call (heartbeat, commands, pushes) answers 503,
    /// and a long poll in progress ends with a 503 at once.
    pub outage: bool,
    /// Whether `GET .../commands` exists (false: 404, an older hub).
    pub long_poll: bool,
    /// Commands long polls received, and how many are waiting now.
    pub polls: u32,
    pub polls_waiting: u32,
    /// When each command (by id) was handed out, last time.
    pub handed_out: HashMap<String, Instant>,
    /// When each approval id first arrived.
    pub approval_seen: HashMap<String, Instant>,
}

pub struct Shared {
    state: Mutex<HubState>,
    /// Wakes waiting long polls: a command was queued or an outage began.
    wake: Notify,
}

pub struct FakeHub {
    pub addr: std::net::SocketAddr,
    shared: Arc<Shared>,
    _rt: tokio::runtime::Runtime,
}

fn authed(h: &HeaderMap) -> bool {
    h.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {API_KEY}"))
}

/// Hand out the queued commands, noting when.
fn hand_out(s: &mut HubState) -> Vec<Value> {
    let commands: Vec<Value> = s.commands.drain(..).collect();
    let now = Instant::now();
    for c in &commands {
        if let Some(id) = c["id"].as_str() {
            s.handed_out.insert(id.to_string(), now);
        }
    }
    commands
}

type S = State<Arc<Shared>>;

async fn register(State(s): S, Json(b): Json<Value>) -> impl IntoResponse {
    let mut s = s.state.lock().unwrap();
    if b["registration_token"] != REGISTRATION || s.registrations > 0 {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": "bad or used registration token"})));
    }
    s.registrations += 1;
    (StatusCode::CREATED, Json(json!({"node_id": "node-1", "api_key": API_KEY})))
}

async fn heartbeat(State(s): S, h: HeaderMap, Path(node): Path<String>, Json(b): Json<Value>) -> impl IntoResponse {
    if !authed(&h) || node != "node-1" {
        return (StatusCode::UNAUTHORIZED, Json(json!({})));
    }
    let mut s = s.state.lock().unwrap();
    if s.outage {
        return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({})));
    }
    s.heartbeats.push(b);
    let commands = hand_out(&mut s);
    (StatusCode::OK, Json(json!({"commands": commands})))
}

async fn commands(
    State(shared): S,
    h: HeaderMap,
    Path(node): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> axum::response::Response {
    let wait = q.get("wait").and_then(|w| w.parse::<u64>().ok()).unwrap_or(0).min(60);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
    let mut first = true;
    loop {
        let woken = shared.wake.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        {
            let mut s = shared.state.lock().unwrap();
            if !s.long_poll {
                return StatusCode::NOT_FOUND.into_response();
            }
            if !authed(&h) || node != "node-1" {
                return StatusCode::UNAUTHORIZED.into_response();
            }
            if first {
                s.polls += 1;
                s.polls_waiting += 1;
                first = false;
            }
            let done = if s.outage {
                Some(StatusCode::SERVICE_UNAVAILABLE.into_response())
            } else if !s.commands.is_empty() || tokio::time::Instant::now() >= deadline {
                Some(Json(json!({"commands": hand_out(&mut s)})).into_response())
            } else {
                None
            };
            if let Some(resp) = done {
                s.polls_waiting -= 1;
                return resp;
            }
        }
        let _ = tokio::time::timeout_at(deadline, woken).await;
    }
}

async fn approvals(State(s): S, h: HeaderMap, Json(b): Json<Value>) -> impl IntoResponse {
    let mut s = s.state.lock().unwrap();
    if !authed(&h) || s.down || s.outage {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let now = Instant::now();
    for a in b["approvals"].as_array().cloned().unwrap_or_default() {
        if let Some(id) = a["id"].as_str() {
            s.approval_seen.entry(id.to_string()).or_insert(now);
        }
        s.approvals.push(a);
    }
    StatusCode::OK
}

async fn usage(State(s): S, h: HeaderMap, Json(b): Json<Value>) -> impl IntoResponse {
    let mut s = s.state.lock().unwrap();
    if !authed(&h) || s.down || s.outage {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    s.usage.extend(b["buckets"].as_array().cloned().unwrap_or_default());
    StatusCode::OK
}

async fn alerts(State(s): S, h: HeaderMap, Json(b): Json<Value>) -> impl IntoResponse {
    let mut s = s.state.lock().unwrap();
    if !authed(&h) || s.down || s.outage {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    s.alerts.extend(b["alerts"].as_array().cloned().unwrap_or_default());
    StatusCode::OK
}

async fn bundle(State(s): S, h: HeaderMap) -> axum::response::Response {
    let s = s.state.lock().unwrap();
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
    s.state.lock().unwrap().kuma.push(line);
    Json(json!({"ok": true}))
}

impl FakeHub {
    /// A hub with the commands long poll.
    pub fn start() -> FakeHub {
        let state = HubState { long_poll: true, ..Default::default() };
        let shared = Arc::new(Shared { state: Mutex::new(state), wake: Notify::new() });
        let app = Router::new()
            .route("/api/v1/nodes/register", post(register))
            .route("/api/v1/nodes/{node}/heartbeat", post(heartbeat))
            .route("/api/v1/nodes/{node}/commands", get(commands))
            .route("/api/v1/nodes/{node}/approvals", post(approvals))
            .route("/api/v1/nodes/{node}/usage", post(usage))
            .route("/api/v1/nodes/{node}/alerts", post(alerts))
            .route("/bundles/t.tar.gz", get(bundle))
            .route("/kuma/push/abc", get(kuma))
            .with_state(shared.clone());
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let addr = listener.local_addr().unwrap();
        rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
        FakeHub { addr, shared, _rt: rt }
    }

    /// Read or change the hub's state; waiting long polls look again after.
    pub fn with<T>(&self, f: impl FnOnce(&mut HubState) -> T) -> T {
        let out = f(&mut self.shared.state.lock().unwrap());
        self.shared.wake.notify_waiters();
        out
    }

    /// A human decided at the hub: queue `resolve_approval` for the node.
    pub fn resolve(&self, command_id: &str, approval_id: &str, decision: &str) {
        let c = json!({"id": command_id, "type": "resolve_approval", "approval_id": approval_id,
            "decision": decision, "by": "ann"});
        self.with(|h| h.commands.push_back(c));
    }

    /// The `[hub]` section for a node of this hub.
    pub fn config(&self, heartbeat: &str) -> String {
        format!(
            "[hub]\nurl = \"http://{0}\"\nregistration_token = \"{REGISTRATION}\"\nnode_name = \"test-node\"\nheartbeat = \"{heartbeat}\"\n\
             uptime_kuma_url = \"http://{0}/kuma/push/abc?status=up&msg=OK&ping=\"\n",
            self.addr
        )
    }

    /// The ack of command `id` in some heartbeat, if one came.
    pub fn ack(&self, id: &str) -> Option<Value> {
        self.with(|h| {
            h.heartbeats.iter().flat_map(|b| b["acks"].as_array().cloned().unwrap_or_default()).find(|a| a["id"] == id)
        })
    }
}

/// Poll `f` until it holds, for up to 30 s; the server's logs on timeout.
pub fn wait_for(what: &str, server: &Server, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < Duration::from_secs(30), "timed out waiting for {what}; logs:\n{}", server.logs());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// One approval's way to the human and back.
#[derive(Clone, Copy, Debug)]
pub struct RoundTrip {
    /// From the gated call to the approval's arrival at the hub.
    pub to_hub: Duration,
    /// From the human's decision at the hub to the agent's long poll returning.
    pub decision_to_agent: Duration,
    /// From the hub handing `resolve_approval` out to the agent's long poll returning.
    pub handout_to_agent: Duration,
}

/// `n` gated calls, one after another, each answered `allow-once` at the hub
/// while the agent long-polls `GET /api/v1/approvals/{id}?wait=30`. With the
/// hub's long poll on, the human decides once the node's long poll is open
/// (a human takes longer than a re-arm).
pub fn approval_round_trips(server: &Server, hub: &FakeHub, n: usize) -> Vec<RoundTrip> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let base = format!("http://127.0.0.1:{}", server.control);
    let token = server.token("agent");
    let deadline = || tokio::time::Instant::now() + Duration::from_secs(40);
    rt.block_on(async {
        let mut out = Vec::new();
        for i in 0..n {
            let body = json!({"session_id": "s-rt", "agent_id": "main", "tool_name": "message",
                "tool_args": {"to": "bob@example.com", "text": format!("round trip {i}")}});
            let called = Instant::now();
            let reply = client
                .post(format!("{base}/api/v1/tools/execute"))
                .bearer_auth(&token)
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let reply: Value = serde_json::from_str(&reply).unwrap();
            assert_eq!(reply["decision"], "gate", "{reply}");
            let id = reply["approval_id"].as_str().unwrap().to_string();
            let until = deadline();
            let arrived = loop {
                if let Some(t) = hub.with(|h| h.approval_seen.get(&id).copied()) {
                    break t;
                }
                assert!(tokio::time::Instant::now() < until, "approval {id} never reached the hub:\n{}", server.logs());
                tokio::time::sleep(Duration::from_millis(1)).await;
            };
            // The agent long-polls again while the answer is still pending
            // (with heartbeats only it may take longer than one wait).
            let agent = {
                let (client, url, token) =
                    (client.clone(), format!("{base}/api/v1/approvals/{id}?wait=30"), token.clone());
                tokio::spawn(async move {
                    loop {
                        let text = client.get(&url).bearer_auth(&token).send().await.unwrap().text().await.unwrap();
                        let status = serde_json::from_str::<Value>(&text).unwrap()["status"].clone();
                        if status != "pending" {
                            return (text, Instant::now());
                        }
                    }
                })
            };
            while hub.with(|h| h.long_poll && h.polls_waiting == 0) {
                assert!(tokio::time::Instant::now() < until, "the node's long poll never opened:\n{}", server.logs());
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            let command = format!("rt-{i}-{id}");
            let decided = Instant::now();
            hub.resolve(&command, &id, "allow-once");
            let (text, returned) = agent.await.unwrap();
            let answer: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(answer["status"], "allowed", "{answer}");
            let handed = hub.with(|h| h.handed_out[&command]);
            out.push(RoundTrip {
                to_hub: arrived - called,
                decision_to_agent: returned - decided,
                handout_to_agent: returned.saturating_duration_since(handed),
            });
        }
        out
    })
}

/// Sorted `f` of each round trip.
pub fn sorted(trips: &[RoundTrip], f: impl Fn(&RoundTrip) -> Duration) -> Vec<Duration> {
    let mut v: Vec<_> = trips.iter().map(f).collect();
    v.sort();
    v
}
