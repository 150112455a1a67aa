//! The gate's shell classifier on arbitrary text with the default program
//! table: no panic, bounded work (the Limits; libFuzzer's -timeout catches
//! the rest), and a command that does not parse is held at autonomy 2.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use warden_policy::shell::{analyze, Limits};
use warden_policy::tools::decide;
use warden_policy::{Decision, Programs, Tier};

fn programs() -> &'static Arc<Programs> {
    static P: OnceLock<Arc<Programs>> = OnceLock::new();
    P.get_or_init(warden_policy::defaults::programs)
}

fuzz_target!(|data: &[u8]| {
    let Ok(command) = std::str::from_utf8(data) else { return };
    let a = analyze(command, programs(), Tier::Red, &Limits::default());
    if !a.parsed {
        assert_eq!(decide(a.tier(), 2, false), Decision::Gate, "unparsed {command:?} runs: {}", a.reason());
    }
});
