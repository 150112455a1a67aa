//! The redaction engine with the default policy, differential: the fast
//! path covers every span the naive reference finds; streamed output, cut at
//! arbitrary byte offsets (inside UTF-8 characters too), equals the
//! whole-text output; rehydrating the redacted text gives the input back.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use warden_redact::{Engine, Session};

fn engine() -> &'static Engine {
    static E: OnceLock<Engine> = OnceLock::new();
    E.get_or_init(|| warden_policy::default_engine().expect("the default policy compiles"))
}

fuzz_target!(|data: &[u8]| {
    // The first two bytes pick the chunk sizes; the rest is the text.
    let (cut, rest) = match data {
        [a, b, rest @ ..] => ((*a as usize % 64 + 1, *b as usize % 7 + 1), rest),
        _ => return,
    };
    let text = String::from_utf8_lossy(rest);
    let engine = engine();

    let fast = engine.find(&text).unwrap();
    let naive = engine.find_naive(&text).unwrap();
    for n in &naive {
        assert!(
            fast.iter().any(|f| f.start <= n.start && n.end <= f.end),
            "fast path missed {}..{} {}",
            n.start,
            n.end,
            n.label
        );
    }

    let mut session = Session::new();
    let whole = engine.redact(&text, &mut session).unwrap().text;
    assert_eq!(session.rehydrate(&whole), text, "rehydrate(redact(x)) != x");

    let bytes = text.as_bytes();
    let mut s = engine.stream();
    let mut streamed_session = Session::new();
    let mut out = String::new();
    let (mut at, mut i) = (0, 0);
    while at < bytes.len() {
        let n = if i % 2 == 0 { cut.0 } else { cut.1 };
        let end = (at + n).min(bytes.len());
        out += &s.push(&bytes[at..end], &mut streamed_session).unwrap();
        at = end;
        i += 1;
    }
    out += &s.finish(&mut streamed_session).unwrap();
    assert_eq!(out, whole, "streamed != whole");
});
