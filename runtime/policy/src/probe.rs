//! How slow a rule set can be made to scan, measured before it ships.
//!
//! The engine refuses the regex shapes known to crawl (nested counted
//! repetitions, huge matches; see `warden_redact::MAX_NESTED_REPETITION`),
//! but what makes a set of rules slow is not always visible in one regex: a
//! keyword that hits every few bytes, a window rescanned per hit. So `warden
//! bundle build` and `bundle test` run the compiled engine over texts built
//! to hurt it (each rule's keywords back to back, keywords before long runs
//! of word characters, each positive example cut short and repeated) and
//! refuse a policy whose slowest probe scans below
//! [`MIN_BYTES_PER_SEC`]. The figure is a wall-clock measurement: each slow
//! probe is measured again, longer, and twice when near the floor, so a busy
//! machine does not fail a good bundle; the floor sits far below the default
//! policy (its slowest probe runs at about 0.3 MB/s, a typical text at 50+
//! MB/s).

use std::time::Instant;

use warden_redact::{Engine, RuleSpec};

/// Below this a 32 MiB body would hold a core for more than five minutes.
pub const MIN_BYTES_PER_SEC: f64 = 100_000.0;

/// Length of each probe text in the first pass.
const PROBE_LEN: usize = 8 * 1024;
/// Length of the slowest probes' second measurement: twice the longest
/// match the engine allows, so per-hit windows show their full cost.
const LONG_PROBE_LEN: usize = 2 * warden_redact::MAX_MATCH_LEN;
/// How many of the slowest probes are measured again.
const RECHECKED: usize = 10;

/// One probe's speed.
#[derive(Clone, Debug)]
pub struct Probe {
    /// What the text was, e.g. `keyword "eyJ" repeated (rule jwt)`.
    pub name: String,
    /// Bytes scanned per second (the better run when measured twice).
    pub bytes_per_sec: f64,
}

/// The slowest probes of a rule set.
#[derive(Clone, Debug)]
pub struct WorstCase {
    /// Probes run.
    pub probes: usize,
    /// The three slowest, slowest first.
    pub slowest: Vec<Probe>,
}

impl WorstCase {
    /// The slowest probe, if any ran.
    pub fn worst(&self) -> Option<&Probe> {
        self.slowest.first()
    }

    /// Whether the slowest probe is above the floor.
    pub fn acceptable(&self) -> bool {
        self.worst().is_none_or(|p| p.bytes_per_sec >= MIN_BYTES_PER_SEC)
    }
}

impl std::fmt::Display for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.2} MB/s on {}", self.bytes_per_sec / 1e6, self.name)
    }
}

/// Run every probe of `rules` through `engine` (compiled from them).
pub fn worst_case(engine: &Engine, rules: &[RuleSpec]) -> WorstCase {
    let shapes = probes(rules);
    let mut measured: Vec<(f64, usize)> =
        shapes.iter().enumerate().map(|(i, (_, unit))| (speed(engine, &fill(unit, PROBE_LEN)), i)).collect();
    measured.sort_by(|a, b| a.0.total_cmp(&b.0));
    // The slowest again, longer (twice near the floor): a cost that grows with the
    // text (a window rescanned per hit) shows only past the windows' size,
    // and a busy machine makes a single run look slow.
    let mut slowest: Vec<Probe> = measured
        .iter()
        .take(RECHECKED)
        .map(|&(_, i)| {
            let (name, unit) = &shapes[i];
            // Doubling up to the long length, stopping once below the
            // floor: a quadratic probe must not hold `bundle build` for
            // minutes to prove what a shorter text already shows.
            let mut len = 2 * PROBE_LEN;
            let mut bytes_per_sec = f64::INFINITY;
            while len <= LONG_PROBE_LEN && bytes_per_sec >= MIN_BYTES_PER_SEC {
                let text = fill(unit, len);
                bytes_per_sec = speed(engine, &text);
                // Near the floor, once more: one run on a busy machine can
                // look slow. Far below it, one run says enough.
                if bytes_per_sec < 4.0 * MIN_BYTES_PER_SEC && bytes_per_sec > MIN_BYTES_PER_SEC / 4.0 {
                    bytes_per_sec = bytes_per_sec.max(speed(engine, &text));
                }
                len *= 2;
            }
            Probe { name: name.clone(), bytes_per_sec }
        })
        .collect();
    slowest.sort_by(|a, b| a.bytes_per_sec.total_cmp(&b.bytes_per_sec));
    slowest.truncate(3);
    WorstCase { probes: shapes.len(), slowest }
}

/// Bytes per second of one scan of `text`.
fn speed(engine: &Engine, text: &str) -> f64 {
    let t = Instant::now();
    // A scan error (a failing plugin) is not a speed: count it as fast.
    let _ = std::hint::black_box(engine.find(text));
    text.len() as f64 / t.elapsed().as_secs_f64().max(1e-9)
}

/// The probes, as units repeated to a text: fixed shapes, then per rule
/// its keywords and examples.
fn probes(rules: &[RuleSpec]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = vec![
        ("digits".into(), "4111 1111 1111 1111 ".into()),
        ("letters and digits".into(), "a1B2c3D4e5F6g7H8i9J0".into()),
        ("base64".into(), "QUtJQUlPU0ZPRE5ON0VYQU1QTEUr/=".into()),
        ("JSON keys".into(), "{\"password\": \"".into()),
    ];
    let mut seen = std::collections::HashSet::new();
    for rule in rules {
        for kw in &rule.keywords {
            if !seen.insert(kw.to_ascii_lowercase()) {
                continue;
            }
            out.push((format!("keyword {kw:?} repeated (rule {})", rule.id), kw.clone()));
            out.push((format!("keyword {kw:?} and a separator (rule {})", rule.id), format!("{kw}= ")));
            out.push((
                format!("keyword {kw:?} before word characters (rule {})", rule.id),
                format!("{kw}{}", "a1".repeat(64)),
            ));
        }
        for (i, ex) in rule.examples.positive.iter().enumerate() {
            // Cut short: a near match makes the regex run to its bound.
            let cut = ex.char_indices().next_back().map_or(0, |(i, _)| i);
            if cut > 0 {
                out.push((format!("example {} of rule {} cut short", i + 1, rule.id), ex[..cut].to_string()));
            }
        }
    }
    out
}

/// `unit` repeated up to `len` bytes (whole characters).
fn fill(unit: &str, len: usize) -> String {
    let mut s = String::with_capacity(len + unit.len());
    while s.len() < len && !unit.is_empty() {
        s.push_str(unit);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(id: &str, keywords: &[&str], regex: &str) -> RuleSpec {
        RuleSpec {
            id: id.into(),
            label: "X".into(),
            keywords: keywords.iter().map(|k| k.to_string()).collect(),
            regex: regex.into(),
            ..RuleSpec::minimal()
        }
    }

    /// A rule within the static limits that still crawls on its own
    /// keyword is caught by the probes; an ordinary rule is not.
    #[test]
    fn a_slow_rule_set_is_found_and_an_ordinary_one_passes() {
        let ordinary = vec![rule("ok", &["tok_"], r"tok_[a-z0-9]{16,64}")];
        let engine = Engine::builder().rules(ordinary.clone()).build().unwrap();
        let wc = worst_case(&engine, &ordinary);
        assert!(wc.acceptable(), "{:?}", wc.worst());
        assert!(wc.probes >= 7, "{}", wc.probes);

        // A keyword hit every three bytes, each running a regex to a
        // bound of 30,000 bytes: within the static limits, yet quadratic.
        let slow = vec![rule("slow", &["qqq"], r"qqq(?:[a-z0-9 q]{0,30000})z")];
        let engine = Engine::builder().rules(slow.clone()).build().unwrap();
        let wc = worst_case(&engine, &slow);
        let worst = wc.worst().unwrap();
        eprintln!("slowest: {worst}");
        assert!(!wc.acceptable(), "{worst}");
        assert!(worst.name.contains("rule slow"), "{worst}");
    }
}
