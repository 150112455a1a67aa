//! The gate over an in-memory store and a small policy written here.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use warden_domain::{Answer, ApprovalStatus, Decision, Tier};
use warden_redact::{Engine, ExactSet};
use warden_store::Store;

use crate::{Call, ErrorKind, ExecuteReply, ExecuteRequest, Gate, GateError, Policy, Reader, Settings, Verdict};

const VAULT_VALUE: &str = "hunter2-correct-horse-battery";

/// `exec` by command: `sudo` CRITICAL_RED, `rm` RED, `curl`
/// YELLOW_EXTERNAL, `ls` GREEN; anything else YELLOW. Autonomy 2: RED and CRITICAL_RED are gated.
struct SmallPolicy;

impl Policy for SmallPolicy {
    fn judge(&self, call: &Call) -> Result<(Verdict, Engine), GateError> {
        let cmd = call.args.get("command").and_then(Value::as_str).unwrap_or("");
        let (tier, reason) = if cmd.starts_with("sudo") {
            (Tier::CriticalRed, "privileged")
        } else if cmd.starts_with("rm") {
            (Tier::Red, "deletes files")
        } else if cmd.starts_with("ls") {
            (Tier::Green, "reads")
        } else if cmd.starts_with("curl") {
            (Tier::YellowExternal, "talks to the outside")
        } else {
            (Tier::Yellow, "changes things")
        };
        let decision = if tier >= Tier::Red { Decision::Gate } else { Decision::Execute };
        let engine = Engine::new(Vec::new()).unwrap().with_exact(ExactSet::new([("dbpass", VAULT_VALUE)]).unwrap());
        Ok((Verdict { tier, decision, reason: reason.into() }, engine))
    }
}

fn gate(ttl: Duration) -> Gate {
    let store = Arc::new(Store::open_in_memory().unwrap());
    Gate::new(store, Arc::new(SmallPolicy), Arc::new(()), Settings { ttl }).unwrap()
}

fn req(session: &str, args: Value, context: Value) -> ExecuteRequest {
    ExecuteRequest {
        session_id: session.into(),
        agent_id: "main".into(),
        tool_name: "exec".into(),
        tool_args: args,
        context,
    }
}

fn exec(g: &Gate, cmd: &str) -> ExecuteReply {
    g.execute(req("s1", json!({"command": cmd}), json!({})), None).unwrap()
}

#[test]
fn green_runs_and_vault_values_never_stay_in_values_keys_or_the_session() {
    let g = gate(Duration::from_secs(60));
    let r = g
        .execute(
            req(VAULT_VALUE, json!({"command": format!("ls {VAULT_VALUE}"), VAULT_VALUE: [VAULT_VALUE]}), json!({})),
            None,
        )
        .unwrap();
    assert_eq!((r.decision, r.tier), (Decision::Execute, Tier::Green));
    assert_eq!(r.redacted, 4, "{r:?}");
    assert!(!r.tool_args.to_string().contains(VAULT_VALUE), "{}", r.tool_args);
    let audit: String = g.store().audit_log(10).unwrap().into_iter().map(|e| e.detail).collect();
    assert!(audit.contains("tier GREEN") && !audit.contains(VAULT_VALUE), "{audit}");
}

#[test]
fn a_retry_joins_its_approval_and_allow_once_runs_exactly_once() {
    let g = gate(Duration::from_secs(60));
    let first = g.execute(req("s1", json!({"command": "rm -rf /srv"}), json!({"tool_call_id": "a"})), None).unwrap();
    assert_eq!((first.decision, first.tier), (Decision::Gate, Tier::Red));
    let id = first.approval_id.clone().unwrap();
    // Same call, another tool-call id and another key order: same approval.
    let again =
        g.execute(req("s1", json!({"command": "rm -rf /srv"}), json!({"tool_call_id": "b", "run": 2})), None).unwrap();
    assert_eq!(again.approval_id.as_deref(), Some(id.as_str()));
    assert_eq!(g.store().approvals_pending().unwrap(), 1);
    // Another session is another call.
    let other = g.execute(req("s2", json!({"command": "rm -rf /srv"}), json!({})), None).unwrap();
    assert_ne!(other.approval_id, first.approval_id);

    g.answer(&id, Answer::AllowOnce, "local:ops", None).unwrap();
    // An operator looking does not use the run up.
    assert_eq!(g.approval(&id, Reader::Operator).unwrap().status, ApprovalStatus::Allowed);
    assert_eq!(g.approval(&id, Reader::Agent).unwrap().status, ApprovalStatus::Allowed);
    assert_eq!(g.approval(&id, Reader::Agent).unwrap().status, ApprovalStatus::Consumed);
    // The hub is told the human's answer, not this node's bookkeeping.
    let row = g.store().approval(&id).unwrap().unwrap();
    assert_eq!(crate::ApprovalView::for_hub(&row).status, ApprovalStatus::Allowed);
    // The run is spent: the same call asks a human again.
    let after = exec(&g, "rm -rf /srv");
    assert_eq!(after.decision, Decision::Gate);
    assert_ne!(after.approval_id.as_deref(), Some(id.as_str()));
}

#[test]
fn an_approved_call_retried_runs_once_then_asks_again() {
    let g = gate(Duration::from_secs(60));
    let id = exec(&g, "rm -rf /tmp/x").approval_id.unwrap();
    g.answer(&id, Answer::AllowOnce, "hub:ann", None).unwrap();
    let run = exec(&g, "rm -rf /tmp/x");
    assert_eq!(run.decision, Decision::Execute);
    assert!(run.reason.starts_with("allowed once by hub:ann"), "{}", run.reason);
    assert_eq!(g.approval(&id, Reader::Agent).unwrap().status, ApprovalStatus::Consumed);
    assert_eq!(exec(&g, "rm -rf /tmp/x").decision, Decision::Gate);
    let actions: Vec<String> = g.store().audit_log(20).unwrap().into_iter().map(|e| e.action).collect();
    assert_eq!(actions.iter().filter(|a| *a == "approval.consumed").count(), 1, "{actions:?}");
}

#[test]
fn a_denied_call_stays_denied_in_its_session() {
    let g = gate(Duration::from_secs(60));
    let id = exec(&g, "rm -rf /").approval_id.unwrap();
    g.answer(&id, Answer::Deny, "local:ops", None).unwrap();
    let r = exec(&g, "rm -rf /");
    assert_eq!(r.decision, Decision::Deny);
    assert!(r.reason.contains("denied by local:ops"), "{}", r.reason);
}

#[test]
fn allow_always_grants_the_identical_call_but_never_critical_red() {
    let g = gate(Duration::from_secs(60));
    let id = exec(&g, "rm -rf build").approval_id.unwrap();
    g.answer(&id, Answer::AllowAlways, "local:ops", None).unwrap();
    for _ in 0..2 {
        let r = exec(&g, "rm -rf build");
        assert_eq!(r.decision, Decision::Execute);
        assert!(r.reason.starts_with("allowed always"), "{}", r.reason);
    }
    assert_eq!(exec(&g, "rm -rf build; rm -rf ~").decision, Decision::Gate);

    let id = exec(&g, "sudo reboot").approval_id.unwrap();
    g.answer(&id, Answer::AllowAlways, "local:ops", None).unwrap();
    assert_eq!(exec(&g, "sudo reboot").decision, Decision::Execute, "the one run of this answer");
    assert_eq!(exec(&g, "sudo reboot").decision, Decision::Gate, "no grant for CRITICAL_RED");
}

#[test]
fn idempotency_keys_bind_to_the_call_not_to_the_request_bytes() {
    let g = gate(Duration::from_secs(60));
    let key = Some(("agent:tools/execute", "k1"));
    let a = g.execute(req("s1", json!({"command": "rm x"}), json!({"tool_call_id": "1"})), key).unwrap();
    let b = g.execute(req("s1", json!({"command": "rm x"}), json!({"tool_call_id": "2"})), key).unwrap();
    assert_eq!(a.approval_id, b.approval_id);
    let err = g.execute(req("s1", json!({"command": "rm y"}), json!({})), key).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::KeyReused);
    // An allow-once answered, the same key does not replay a run.
    g.answer(a.approval_id.as_deref().unwrap(), Answer::AllowOnce, "local:ops", None).unwrap();
    assert_eq!(g.execute(req("s1", json!({"command": "rm x"}), json!({})), key).unwrap().decision, Decision::Execute);
    assert_eq!(g.execute(req("s1", json!({"command": "rm x"}), json!({})), key).unwrap().decision, Decision::Gate);
}

#[test]
fn answers_are_checked_and_settled_once() {
    let g = gate(Duration::from_secs(60));
    assert_eq!(g.answer("apr_nope", Answer::Deny, "local:x", None).unwrap_err().kind(), ErrorKind::NotFound);
    let id = exec(&g, "rm a").approval_id.unwrap();
    assert_eq!(g.answer(&id, Answer::Deny, " ", None).unwrap_err().kind(), ErrorKind::Invalid);
    let key = Some(("admin:approvals", "d1"));
    g.answer(&id, Answer::Deny, "local:ops", key).unwrap();
    // A retried request (same key, same answer) and the same answer again succeed.
    assert_eq!(g.answer(&id, Answer::Deny, "local:ops", key).unwrap().status, ApprovalStatus::Denied);
    assert_eq!(g.answer(&id, Answer::Deny, "local:ops", None).unwrap().status, ApprovalStatus::Denied);
    let err = g.answer(&id, Answer::AllowOnce, "local:other", None).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Settled);
    assert_eq!(err.approval().unwrap().status, ApprovalStatus::Denied);
    assert_eq!(g.answer(&id, Answer::AllowOnce, "local:ops", key).unwrap_err().kind(), ErrorKind::KeyReused);
}

#[test]
fn an_unanswered_approval_expires_as_a_deny() {
    let g = gate(Duration::ZERO);
    let id = exec(&g, "rm a").approval_id.unwrap();
    let v = g.approval(&id, Reader::Agent).unwrap();
    assert_eq!((v.status, v.decision.as_deref()), (ApprovalStatus::Expired, Some("expired")));
    // Expired is not denied by a human: the same call asks again.
    assert_eq!(exec(&g, "rm a").decision, Decision::Gate);
    assert_eq!(g.answer(&id, Answer::AllowOnce, "local:late", None).unwrap_err().kind(), ErrorKind::Settled);
}

#[tokio::test]
async fn an_answer_wakes_its_own_waiters_only() {
    let g = Arc::new(gate(Duration::from_secs(60)));
    let a = exec(&g, "rm a").approval_id.unwrap();
    let b = exec(&g, "rm b").approval_id.unwrap();
    let (wa, wb) = (g.watch(&a), g.watch(&b));
    let (fa, fb) = (wa.notified(), wb.notified());
    tokio::pin!(fa, fb);
    fa.as_mut().enable();
    fb.as_mut().enable();
    // A new gated call wakes nobody; an answer wakes its approval's waiters.
    exec(&g, "rm c");
    let g2 = g.clone();
    let a2 = a.clone();
    std::thread::spawn(move || g2.answer(&a2, Answer::Deny, "local:ops", None).unwrap()).join().unwrap();
    tokio::time::timeout(Duration::from_secs(10), fa).await.expect("the answered approval's waiter woke");
    assert!(tokio::time::timeout(Duration::from_millis(50), fb).await.is_err(), "b's waiter must sleep on");
}

#[test]
fn a_policy_that_cannot_judge_decides_nothing() {
    struct Broken;
    impl Policy for Broken {
        fn judge(&self, _: &Call) -> Result<(Verdict, Engine), GateError> {
            Err(GateError::unavailable("policy is stale"))
        }
    }
    let store = Arc::new(Store::open_in_memory().unwrap());
    let g = Gate::new(store.clone(), Arc::new(Broken), Arc::new(()), Settings { ttl: Duration::from_secs(1) }).unwrap();
    let err = g.execute(req("s", json!({"command": "ls"}), json!({})), None).unwrap_err();
    assert_eq!((err.kind(), err.to_string().as_str()), (ErrorKind::Unavailable, "policy is stale"));
    assert!(store.audit_log(10).unwrap().is_empty());
}

/// Issue 15: a call the model wrote, allowed once at the gateway, is not
/// held again when the agent's hook asks about it; a tainted session holds
/// external and riskier calls whatever the policy said.
#[test]
fn issue_15_a_call_passed_at_the_gateway_is_decided_once() {
    use crate::ModelCallContext;
    let g = gate(Duration::from_secs(60));
    let anyone = ModelCallContext::default();
    let at_gateway = |g: &Gate, ctx: &ModelCallContext| {
        g.execute_model_call(req("", json!({"command": "rm -rf /srv"}), Value::Null), ctx).unwrap()
    };
    let held = at_gateway(&g, &anyone);
    assert_eq!(held.decision, Decision::Gate);
    let id = held.approval_id.unwrap();
    g.answer(&id, Answer::AllowOnce, "local:ops", None).unwrap();
    assert_eq!(at_gateway(&g, &anyone).decision, Decision::Execute, "the allowed call passes");
    let audit: Vec<String> = g.store().audit_log(10).unwrap().into_iter().map(|e| e.actor).collect();
    assert!(audit.contains(&"gateway:main".to_string()), "{audit:?}");

    // The hook (its own session name) finds the gateway's decision once.
    let hook = |g: &Gate| g.execute(req("oc-1", json!({"command": "rm -rf /srv"}), json!({})), None).unwrap();
    let first = hook(&g);
    assert_eq!(first.decision, Decision::Execute, "{first:?}");
    assert!(first.reason.starts_with("decided at the gateway"), "{first:?}");
    assert_eq!(g.store().approvals(None, 10).unwrap().len(), 1, "no second approval");
    assert_eq!(hook(&g).decision, Decision::Gate, "a ticket serves one run");

    // Named agent and session: another session's hook does not match.
    let named = ModelCallContext { agent_named: true, taint: None };
    let ls = |g: &Gate, session: &str| {
        g.execute_model_call(req(session, json!({"command": "ls"}), Value::Null), &named).unwrap().decision
    };
    assert_eq!(ls(&g, "s9"), Decision::Execute);
    let tickets = &g.tickets;
    let other = Call::new(req("s8", json!({"command": "ls"}), Value::Null)).unwrap();
    assert_eq!(tickets.take(&other), None, "another session");
    let same = Call::new(req("s9", json!({"command": "ls"}), Value::Null)).unwrap();
    assert!(tickets.take(&same).is_some());

    // Taint holds YELLOW_EXTERNAL and above, naming what tainted it.
    let tainted = ModelCallContext { agent_named: false, taint: Some("untrusted content from web_fetch".into()) };
    let yellow = g.execute_model_call(req("t", json!({"command": "make"}), Value::Null), &tainted).unwrap();
    assert_eq!(yellow.decision, Decision::Execute);
    let green = g.execute_model_call(req("t", json!({"command": "ls"}), Value::Null), &tainted).unwrap();
    assert_eq!(green.decision, Decision::Execute);
    let out = g.execute_model_call(req("t", json!({"command": "curl x.example"}), Value::Null), &tainted).unwrap();
    assert_eq!(out.decision, Decision::Gate);
    assert!(out.reason.starts_with("held: the session is tainted by untrusted content from web_fetch"), "{out:?}");
    let clean = g.execute_model_call(req("t", json!({"command": "curl x.example"}), Value::Null), &anyone).unwrap();
    assert_eq!(clean.decision, Decision::Execute, "without the taint the policy's answer stands");
}
