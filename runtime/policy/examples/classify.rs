//! Classify shell commands read from stdin, one a line, with the embedded
//! default policy, as the tool `exec` would be:
//! `cargo run -p warden-policy --example classify < commands.txt`.
//! Prints the decision, the tier and the reason of each.

use std::io::BufRead;

fn main() {
    let gate =
        warden_policy::PolicySource::embedded().and_then(|p| p.tool_gate()).expect("the default policy compiles");
    for line in std::io::stdin().lock().lines() {
        let line = line.expect("stdin is readable");
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        let v = gate.judge("exec", &serde_json::json!({ "command": line }));
        println!("{:<8} {:<16} {line}\n{:>26}{}", v.decision.as_str(), v.tier.as_str(), "", v.reason);
    }
}
