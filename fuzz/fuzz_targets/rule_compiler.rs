//! A rules file (TOML) from arbitrary text: it compiles or is refused with an
//! error, never a panic or a hang (libFuzzer's -timeout catches the hangs);
//! an engine that compiles scans its own input without error.
#![no_main]

use libfuzzer_sys::fuzz_target;
use warden_redact::{Engine, Session};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(rules) = warden_policy::parse_rules("fuzz.toml", text) else { return };
    let Ok(engine) = Engine::new(rules) else { return };
    let _ = engine.redact(text, &mut Session::new()).expect("a compiled engine scans");
});
