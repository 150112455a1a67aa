//! Properties of the redaction engine with the real default rules.
//!
//! - streaming output equals whole-text output for random chunkings
//!   (proptest), including chunks cut inside UTF-8 characters;
//! - the fast path finds what the naive reference finds (differential);
//! - benign realistic text has no findings, and every secret line has one.

#[path = "../benches/corpus.rs"]
mod corpus;

use proptest::prelude::*;
use warden_policy::PolicySource;
use warden_redact::{Engine, ExactSet, RuleSpec, Session};

fn default_engine() -> Engine {
    warden_policy::default_engine().expect("default policy compiles")
}

/// Every positive example of the default rules: the secrets the corpus uses.
fn secrets() -> Vec<String> {
    PolicySource::embedded().unwrap().rules.into_iter().flat_map(|r| r.examples.positive).collect()
}

fn whole(engine: &Engine, text: &str) -> String {
    engine.redact(text, &mut Session::new()).unwrap().text
}

fn streamed(engine: &Engine, bytes: &[u8], cuts: &[usize]) -> String {
    let mut session = Session::new();
    let mut s = engine.stream();
    let mut out = String::new();
    let mut at = 0;
    for &c in cuts {
        let end = (at + c).min(bytes.len());
        out += &s.push(&bytes[at..end], &mut session).unwrap();
        at = end;
    }
    out += &s.push(&bytes[at..], &mut session).unwrap();
    out += &s.finish(&mut session).unwrap();
    out
}

/// A small engine (short rules, small layer limits) so that short random
/// texts cross the hold-back many times.
fn small_engine() -> Engine {
    let rule = |id: &str, kw: &[&str], re: &str| RuleSpec {
        id: id.into(),
        label: id.to_ascii_uppercase().replace('-', "_"),
        keywords: kw.iter().map(|s| s.to_string()).collect(),
        regex: re.into(),
        ..RuleSpec::minimal()
    };
    let mut card = rule("card", &[], r"(?:^|[^0-9])([0-9]{4}(?:[ -]?[0-9]{4}){3})(?:[^0-9]|$)");
    card.validator = Some(warden_redact::Validator::Luhn);
    let rules = vec![
        rule("gh", &["ghp_"], r"ghp_[A-Za-z0-9]{36}"),
        rule("email", &["@"], r"[A-Za-z0-9._%+-]{1,20}@[A-Za-z0-9-]{1,20}\.[a-z]{2,6}"),
        rule("ctx", &["token"], r"(?i)token\s?=\s?([A-Za-z0-9]{8,24})"),
        card,
    ];
    let entropy = warden_redact::EntropyConfig { max_len: 64, ..Default::default() };
    let keys = warden_redact::KeysConfig { max_value_len: 64, ..Default::default() };
    let e = Engine::builder().rules(rules).entropy(entropy).keys(keys).build().unwrap();
    e.with_exact(ExactSet::new([("vault", "Tr0ub4dor&3-horse")]).unwrap())
}

fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("ghp_abcdefghijklmnopqrstuvwxyz0123456789".to_string()),
        Just("mail jane.doe@acme.io now".to_string()),
        Just("token=Abc123def456".to_string()),
        Just("4111 1111 1111 1111".to_string()),
        Just("{\"password\": \"hunter2\"}".to_string()),
        Just("Tr0ub4dor&3-horse".to_string()),
        Just("x9Kq2LmZ8vB4nR7tY1wE5uI3oP6aS0dFgH".to_string()),
        "[ -~]{0,12}",
        "[0-9 -]{0,24}",
        "\\PC{0,4}",
        Just("\n".to_string()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Chunked output equals whole-text output, with a small hold-back so
    /// that finds are cut across chunks constantly.
    #[test]
    fn small_engine_stream_equals_whole(parts in prop::collection::vec(fragment(), 1..60),
                                        cuts in prop::collection::vec(1usize..40, 0..40)) {
        let engine = small_engine();
        let text = parts.concat();
        prop_assert_eq!(streamed(&engine, text.as_bytes(), &cuts), whole(&engine, &text));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// The same with the full default rule set, on texts longer than its
    /// hold-back, with secrets from the rules' own examples.
    #[test]
    fn default_engine_stream_equals_whole(seed in 1u64.., density in 0.0f64..0.3,
                                          cuts in prop::collection::vec(1usize..6000, 1..30)) {
        let engine = default_engine();
        let (text, _) = corpus::generate(3 * engine.max_len(), density, &secrets(), seed);
        prop_assert_eq!(streamed(&engine, text.as_bytes(), &cuts), whole(&engine, &text));
    }

    /// The fast path and the naive reference agree.
    #[test]
    fn fast_path_equals_naive_reference(seed in 1u64.., density in 0.0f64..0.5) {
        let engine = default_engine();
        let (text, _) = corpus::generate(16 * 1024, density, &secrets(), seed);
        let fast = engine.find(&text).unwrap();
        let naive = engine.find_naive(&text).unwrap();
        let spans = |v: &[warden_redact::Finding]| v.iter().map(|f| (f.start, f.end, f.label.to_string())).collect::<Vec<_>>();
        prop_assert_eq!(spans(&fast), spans(&naive));
    }
}

/// Every span the reference reports lies inside a span the engine reports.
fn covers(fast: &[warden_redact::Finding], naive: &[warden_redact::Finding]) -> bool {
    naive.iter().all(|n| fast.iter().any(|f| f.start <= n.start && n.end <= f.end))
}

/// On adversarial input the engine may find more than the reference (a
/// keyword hit is tried even when a greedy earlier match swallowed it, as in
/// `token=abc…token=def…`), never less.
#[test]
fn small_engine_covers_naive() {
    let engine = small_engine();
    let mut rng = corpus::Rng::new(7);
    let frags = [
        "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
        "a@b.io",
        "token=Abc123def456",
        "4111 1111 1111 1111",
        "Tr0ub4dor&3-horse",
        " ",
        "\n",
        "xx",
    ];
    for _ in 0..500 {
        let text: String = (0..30).map(|_| *rng.pick(&frags)).collect();
        let (fast, naive) = (engine.find(&text).unwrap(), engine.find_naive(&text).unwrap());
        assert!(covers(&fast, &naive), "{text:?}\nfast {fast:?}\nnaive {naive:?}");
    }
}

/// A secret cut at every possible byte, with chunks cut inside characters.
#[test]
fn a_secret_split_at_every_offset_is_still_caught() {
    let engine = default_engine();
    let secret = "ghp_aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5";
    let pad = "é".repeat(engine.max_len());
    let text = format!("{pad} key {secret} ünd {pad}");
    let expected = whole(&engine, &text);
    assert!(expected.contains("[GITHUB_TOKEN_1]") && !expected.contains(secret));
    let start = text.find(secret).unwrap();
    for off in start.saturating_sub(3)..start + secret.len() + 3 {
        assert_eq!(streamed(&engine, text.as_bytes(), &[off, 7, 1]), expected, "cut at {off}");
    }
}

#[test]
fn invalid_utf8_in_a_stream_is_an_error_not_a_pass_through() {
    let engine = default_engine();
    let mut s = engine.stream();
    let mut session = Session::new();
    assert!(s.push(b"ok \xe2\x82", &mut session).is_ok(), "a cut character waits");
    let err = s.push(b"\xff rest", &mut session).unwrap_err();
    assert!(err.to_string().contains("not valid UTF-8"), "{err}");
}

#[test]
fn benign_realistic_text_has_no_findings() {
    let engine = default_engine();
    let (text, n) = corpus::generate(1 << 20, 0.0, &[], 42);
    assert_eq!(n, 0);
    let found = engine.find(&text).unwrap();
    let shown: Vec<_> = found.iter().take(10).map(|f| (&*f.rule, &text[f.start..f.end])).collect();
    assert!(found.is_empty(), "{} false positives, e.g. {shown:?}", found.len());
}

#[test]
fn every_secret_line_is_redacted() {
    let engine = default_engine();
    let secrets = secrets();
    let mut rng = corpus::Rng::new(9);
    let mut missed = Vec::new();
    for s in &secrets {
        let line = corpus::secret_line(&mut rng, std::slice::from_ref(s));
        if engine.find(&line).unwrap().is_empty() {
            missed.push(line);
        }
    }
    assert!(missed.is_empty(), "{} of {} missed: {:?}", missed.len(), secrets.len(), &missed[..missed.len().min(5)]);
}

#[test]
fn an_email_and_a_vault_secret_are_replaced_and_only_the_email_comes_back() {
    let engine = default_engine().with_exact(ExactSet::new([("db", "correct horse battery")]).unwrap());
    let mut session = Session::new();
    let red = engine.redact("Mail bob.smith@example.org the db password correct horse battery", &mut session).unwrap();
    assert_eq!(red.text, "Mail [EMAIL_1] the db password [SECRET_DB_1]");
    let answer = session.rehydrate("Sent [EMAIL_1] the value [SECRET_DB_1].");
    assert_eq!(answer, "Sent bob.smith@example.org the value [SECRET_DB_1].");
}

/// Found by fuzzing (fuzz/corpus/redact_differential/fast-path-miss): the
/// entropy layer's strided probe stepped over a 31-byte token with one `=`
/// of padding, which the naive reference finds.
#[test]
fn fuzz_finding_fast_path_covers_a_padded_token() {
    let data =
        std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../fuzz/corpus/redact_differential/fast-path-miss"))
            .unwrap();
    let text = String::from_utf8_lossy(&data[2..]);
    let engine = warden_policy::default_engine().unwrap();
    let fast = engine.find(&text).unwrap();
    for n in engine.find_naive(&text).unwrap() {
        assert!(
            fast.iter().any(|f| f.start <= n.start && n.end <= f.end),
            "fast path missed {}..{} {} ({}): {:?}",
            n.start,
            n.end,
            n.label,
            n.rule,
            &text[n.start..n.end]
        );
    }
}
