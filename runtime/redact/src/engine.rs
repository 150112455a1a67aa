//! The compiled engine: rules and layer settings turned into scanners.
//!
//! # How a scan goes
//!
//! 1. **exact**: one Aho-Corasick pass over the registered values (none by
//!    default, so no pass).
//! 2. **keywords**: one prefilter pass finds every occurrence of every rule
//!    keyword, sensitive key name and context word, ASCII case-insensitively
//!    and in place (see [`crate::prefilter`]). Each hit names the rules to
//!    try (and a keys- or context-layer check).
//!    A rule whose every match *starts* with its keyword (proved from the
//!    regex: `ghp_…`, `heroku…=…`) gets an anchored search right at the hit,
//!    which gives up within a few bytes on a near-miss; any other rule runs
//!    its regex in a window around the hit, as wide as its longest match.
//!    One-byte keywords (`@`) are anchors found with memchr.
//! 3. **keyword-less rules** run as one multi-pattern regex. Those whose every
//!    match contains an ASCII digit (proved from the regex, or declared with
//!    `anchor = "digit"`) run only in regions around digits.
//! 4. **entropy**: a strided probe for long random-looking tokens.
//! 5. **plugins**: external [`Detector`]s, validated.
//!
//! Findings of all layers are then resolved: overlapping findings merge into
//! one span (nothing any layer found is left visible), named after the
//! winner by priority, then length.
//!
//! # Locality
//!
//! Every rule's regex must have a bounded longest match, and every layer
//! bounds its reach. That makes detection local: whether a span is a finding
//! depends only on the bytes within [`Engine::max_len`] of it. Windows and
//! the streaming hold-back both rest on that bound.

use std::collections::BTreeSet;
use std::sync::Arc;

use regex_automata::meta::{self, Regex};
use regex_automata::util::syntax;
use regex_automata::{Anchored, Input};
use regex_syntax::hir::{Class, Hir, HirKind};

use crate::context::ContextLayer;
use crate::entropy::EntropyLayer;
use crate::exact::ExactSet;
use crate::keys::KeysLayer;
use crate::prefilter::Prefilter;
use crate::rule::{ContextConfig, EntropyConfig, KeysConfig, Layer, RuleSpec, Validator};
use crate::{Detector, Error, Finding};

/// Keywords shorter than this would flood the prefilter with hits.
const MIN_KEYWORD_LEN: usize = 3;
/// Default longest block (PEM keys and the like).
const DEFAULT_BLOCK_MAX: usize = 16 * 1024;
/// Look-around at a window's edge reads one byte past it; keep a margin.
const EDGE: usize = 4;
/// The longest match a rule may have. It sets the windows and the
/// streaming hold-back, so a signed rule must not make them huge.
pub const MAX_MATCH_LEN: usize = 32 * 1024;
/// The largest product of nested repetition bounds (`(?:a{1,200}b){1,200}`
/// is 40,000). Nested counted repetitions blow the automata up and, past
/// the lazy DFA's cache, scanning slows to tens of KB/s (issue 14).
pub const MAX_NESTED_REPETITION: u64 = 2048;

/// A compiled rule.
#[derive(Debug)]
pub(crate) struct CompiledRule {
    pub(crate) id: Arc<str>,
    pub(crate) label: Arc<str>,
    pub(crate) description: String,
    pub(crate) layer: Layer,
    pub(crate) priority: i32,
    pub(crate) keywords: Vec<String>,
    pub(crate) regex: Regex,
    /// The regex as written, for the multi-pattern sets.
    source: String,
    has_group: bool,
    /// Longest regex match, in bytes.
    pub(crate) max_len: usize,
    /// `Some(n)` when every match starts with one of the keywords, at most
    /// `n` bytes after the match start (a one-byte boundary). Such a rule is
    /// tried with anchored searches at each hit instead of a window scan.
    lead: Option<usize>,
    validator: Option<Validator>,
    allow_values: Vec<Vec<u8>>,
    stopwords: Vec<Vec<u8>>,
    block_end: Option<Regex>,
    block_max: usize,
    pub(crate) examples: crate::rule::Examples,
}

/// What a keyword hit asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Action {
    /// Try rule `.0`.
    Rule(u32),
    /// A keys-layer check.
    Key,
    /// A context-layer check.
    Context,
}

/// Keyword-less rules compiled as one multi-pattern regex.
#[derive(Debug)]
struct RuleSet {
    regex: Regex,
    /// Pattern id -> rule index.
    rules: Vec<u32>,
    /// Widest reach of any rule in the set.
    pad: usize,
}

#[derive(Debug)]
struct Compiled {
    rules: Vec<CompiledRule>,
    prefilter: Option<Prefilter>,
    /// Keyword id -> what to do on a hit.
    actions: Vec<Vec<Action>>,
    /// One-byte keywords (lowercased) -> rules.
    anchors: Vec<(u8, Vec<u32>)>,
    digit_set: Option<RuleSet>,
    whole_set: Option<RuleSet>,
    entropy: Option<EntropyLayer>,
    keys: Option<KeysLayer>,
    context: Option<ContextLayer>,
    /// Reach of the rules and built-in layers.
    max_len: usize,
}

/// The redaction engine. Cheap to clone: compiled state is shared.
///
/// Build one with [`Engine::builder`], register vault values with
/// [`Engine::with_exact`], add plugin detectors with
/// [`Engine::with_detector`]. Scanning takes `&self` and is safe from many
/// threads at once.
#[derive(Clone, Debug)]
pub struct Engine {
    inner: Arc<Compiled>,
    exact: ExactSet,
    detectors: Vec<Arc<dyn Detector>>,
}

impl std::fmt::Debug for dyn Detector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Detector({})", self.name())
    }
}

/// Builds an [`Engine`].
#[derive(Clone, Debug, Default)]
pub struct Builder {
    rules: Vec<RuleSpec>,
    entropy: EntropyConfig,
    keys: KeysConfig,
    context: ContextConfig,
}

/// What the CLI and the metrics show of a rule.
#[derive(Clone, Debug)]
pub struct RuleInfo<'a> {
    /// Rule id.
    pub id: &'a str,
    /// Layer it reports in.
    pub layer: Layer,
    /// Placeholder label.
    pub label: &'a str,
    /// Description.
    pub description: &'a str,
    /// Keywords (empty for keyword-less rules).
    pub keywords: &'a [String],
}

// === impl Builder ===

impl Builder {
    /// Add rules.
    pub fn rules(mut self, rules: impl IntoIterator<Item = RuleSpec>) -> Builder {
        self.rules.extend(rules);
        self
    }

    /// Entropy layer settings (default: on, 32 chars, 4.5 bits).
    pub fn entropy(mut self, cfg: EntropyConfig) -> Builder {
        self.entropy = cfg;
        self
    }

    /// Keys layer settings (default: on, the usual credential key names).
    pub fn keys(mut self, cfg: KeysConfig) -> Builder {
        self.keys = cfg;
        self
    }

    /// Context layer settings (default: on).
    pub fn context(mut self, cfg: ContextConfig) -> Builder {
        self.context = cfg;
        self
    }

    /// Compile. Fails with the rule id and the reason on a bad rule.
    pub fn build(self) -> Result<Engine, Error> {
        let mut seen = std::collections::HashSet::new();
        for spec in &self.rules {
            if !seen.insert(spec.id.as_str()) {
                return Err(Error::duplicate(&spec.id));
            }
        }
        let (rules, digit_anchored): (Vec<CompiledRule>, Vec<bool>) = compile_all(&self.rules)?.into_iter().unzip();
        let entropy = if self.entropy.enabled { Some(EntropyLayer::new(&self.entropy)?) } else { None };
        let keys = if self.keys.enabled { Some(KeysLayer::new(&self.keys)?) } else { None };
        let context = self.context.enabled.then(ContextLayer::new);

        // Keywords: one prefilter over every rule keyword, sensitive key
        // name and context word (each once, with everything it asks for);
        // one-byte ones become anchors.
        let mut kw_actions: std::collections::BTreeMap<String, BTreeSet<Action>> = Default::default();
        let mut anchors: std::collections::BTreeMap<u8, Vec<u32>> = Default::default();
        let mut digit_rules = Vec::new();
        let mut whole_rules = Vec::new();
        for (i, r) in rules.iter().enumerate() {
            let i = i as u32;
            if r.keywords.is_empty() {
                if digit_anchored[i as usize] {
                    digit_rules.push(i);
                } else {
                    whole_rules.push(i);
                }
                continue;
            }
            for kw in &r.keywords {
                let kw = kw.to_ascii_lowercase();
                if kw.len() == 1 {
                    anchors.entry(kw.as_bytes()[0]).or_default().push(i);
                } else {
                    kw_actions.entry(kw).or_default().insert(Action::Rule(i));
                }
            }
        }
        if let Some(k) = &keys {
            for kw in &k.keywords {
                kw_actions.entry(kw.clone()).or_default().insert(Action::Key);
            }
        }
        if context.is_some() {
            for w in crate::context::WORDS {
                kw_actions.entry(w.to_string()).or_default().insert(Action::Context);
            }
        }
        let patterns: Vec<String> = kw_actions.keys().cloned().collect();
        let actions: Vec<Vec<Action>> = kw_actions.into_values().map(|a| a.into_iter().collect()).collect();
        let prefilter = (!patterns.is_empty()).then(|| Prefilter::new(&patterns));

        let digit_set = build_set(&rules, digit_rules)?;
        let whole_set = build_set(&rules, whole_rules)?;
        let max_len = rules
            .iter()
            .map(CompiledRule::reach)
            .chain(entropy.as_ref().map(EntropyLayer::max_len))
            .chain(keys.as_ref().map(KeysLayer::max_len))
            .chain(context.as_ref().map(ContextLayer::max_len))
            .max()
            .unwrap_or(0)
            + EDGE;
        Ok(Engine {
            inner: Arc::new(Compiled {
                rules,
                prefilter,
                actions,
                anchors: anchors.into_iter().collect(),
                digit_set,
                whole_set,
                entropy,
                keys,
                context,
                max_len,
            }),
            exact: ExactSet::empty(),
            detectors: Vec::new(),
        })
    }
}

/// Compile every rule, spread over the machine's cores: each rule's regexes
/// are independent, and compiling them is most of a policy activation.
/// Rules are dealt out round-robin (a few rules cost 20x the median, and they
/// sit together in the files), and the results keep the rules' order.
fn compile_all(specs: &[RuleSpec]) -> Result<Vec<(CompiledRule, bool)>, Error> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    if threads <= 1 || specs.len() < 16 {
        return specs.iter().map(compile_rule).collect();
    }
    let parts: Vec<Result<Vec<(CompiledRule, bool)>, Error>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|t| scope.spawn(move || specs.iter().skip(t).step_by(threads).map(compile_rule).collect()))
            .collect();
        handles.into_iter().map(|h| h.join().expect("rule compilation does not panic")).collect()
    });
    let mut parts: Vec<std::vec::IntoIter<(CompiledRule, bool)>> =
        parts.into_iter().map(|p| p.map(Vec::into_iter)).collect::<Result<_, _>>()?;
    let mut out = Vec::with_capacity(specs.len());
    for i in 0..specs.len() {
        out.push(parts[i % threads].next().expect("one result per rule"));
    }
    Ok(out)
}

fn syntax_config() -> syntax::Config {
    // Byte-oriented, ASCII-only classes: Unicode word boundaries would push
    // the regexes off the lazy DFA (see shared/perf-notes.md).
    syntax::Config::new().unicode(false).utf8(false)
}

fn meta_config() -> meta::Config {
    // PERF: no literal prefilters and no one-pass DFAs. Rules run anchored at
    // keyword hits or inside small windows, where a prefilter buys nothing,
    // and extracting literals from case-insensitive rules was most of the
    // compile time; captures are read only on confirmed matches. `cargo
    // bench -p warden-policy --bench redact -- compile`: 93 ms -> 72 ms for
    // the default rules, scans unchanged or faster (0%/64 KiB 91 -> 107 MiB/s).
    meta::Config::new().utf8_empty(false).onepass(false).auto_prefilter(false)
}

fn compile_rule(spec: &RuleSpec) -> Result<(CompiledRule, bool), Error> {
    let id = spec.id.as_str();
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
        return Err(Error::rule(id, "an id needs one or more of A-Z a-z 0-9 - _ ."));
    }
    if !valid_label(&spec.label) {
        return Err(Error::rule(id, format!("label {:?} must be A-Z, 0-9 and _", spec.label)));
    }
    if !matches!(spec.layer, Layer::Pattern | Layer::Entropy) {
        return Err(Error::rule(
            id,
            format!(
                "layer {} is not for rules: rules are `pattern` or `entropy`; the exact, keys and plugin layers are configured elsewhere",
                spec.layer
            ),
        ));
    }
    for kw in &spec.keywords {
        if kw.len() != 1 && kw.len() < MIN_KEYWORD_LEN {
            return Err(Error::rule(
                id,
                format!("keyword {kw:?} is too short: use one byte (an anchor) or {MIN_KEYWORD_LEN} or more"),
            ));
        }
        if !kw.is_ascii() {
            return Err(Error::rule(id, format!("keyword {kw:?} must be ASCII")));
        }
    }
    let hir =
        syntax::parse_with(&spec.regex, &syntax_config()).map_err(|e| Error::rule(id, format!("bad regex: {e}")))?;
    let max_len = hir.properties().maximum_len().ok_or_else(|| {
        Error::rule(id, "the regex can match unboundedly long text: bound every repetition, e.g. {1,256}")
    })?;
    let nested = nested_repetition(&hir);
    if nested > MAX_NESTED_REPETITION {
        return Err(Error::rule(
            id,
            format!(
                "nested repetitions multiply to {nested} (limit {MAX_NESTED_REPETITION}): such regexes scan slowly; bound the inner or outer repetition tighter"
            ),
        ));
    }
    if max_len > MAX_MATCH_LEN {
        return Err(Error::rule(
            id,
            format!("the regex can match {max_len} bytes; the limit is {MAX_MATCH_LEN}: lower the repetition bounds"),
        ));
    }
    let has_group = hir.properties().explicit_captures_len() >= 1;
    let lead = keyword_lead(&hir, &spec.keywords);
    let needs_digit = requires_digit(&hir) || spec.anchor == Some(crate::rule::Anchor::Digit);
    let regex = meta::Builder::new()
        .configure(meta_config())
        .build_from_hir(&hir)
        .map_err(|e| Error::rule(id, format!("regex does not compile: {e}")))?;
    let block_end = match &spec.block_end {
        None => None,
        Some(pat) => Some(
            meta::Builder::new()
                .configure(meta_config())
                .syntax(syntax_config())
                .build(pat)
                .map_err(|e| Error::rule(id, format!("bad block_end regex: {e}")))?,
        ),
    };
    let rule = CompiledRule {
        id: Arc::from(id),
        label: Arc::from(spec.label.as_str()),
        description: spec.description.clone(),
        layer: spec.layer,
        priority: spec.priority,
        keywords: spec.keywords.clone(),
        regex,
        source: spec.regex.clone(),
        has_group,
        max_len,
        lead,
        validator: spec.validator,
        allow_values: spec.allowlist.values.iter().map(|v| v.as_bytes().to_vec()).collect(),
        stopwords: spec.allowlist.stopwords.iter().map(|s| s.to_ascii_lowercase().into_bytes()).collect(),
        block_max: if block_end.is_some() { spec.block_max.unwrap_or(DEFAULT_BLOCK_MAX) } else { 0 },
        block_end,
        examples: spec.examples.clone(),
    };
    Ok((rule, needs_digit))
}

/// Whether `label` can name a placeholder: 1 to 48 of `A-Z 0-9 _`.
pub fn valid_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= 48
        && label.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// Whether every string the regex matches contains an ASCII digit. Sound,
/// not complete: `false` only means "not proved".
fn requires_digit(h: &Hir) -> bool {
    match h.kind() {
        HirKind::Empty | HirKind::Look(_) => false,
        HirKind::Literal(lit) => lit.0.iter().any(u8::is_ascii_digit),
        HirKind::Class(Class::Bytes(c)) => {
            !c.ranges().is_empty() && c.ranges().iter().all(|r| r.start() >= b'0' && r.end() <= b'9')
        }
        HirKind::Class(Class::Unicode(c)) => {
            !c.ranges().is_empty() && c.ranges().iter().all(|r| r.start() >= '0' && r.end() <= '9')
        }
        HirKind::Repetition(r) => r.min >= 1 && requires_digit(&r.sub),
        HirKind::Capture(c) => requires_digit(&c.sub),
        HirKind::Concat(hs) => hs.iter().any(requires_digit),
        HirKind::Alternation(hs) => hs.iter().all(requires_digit),
    }
}

/// The largest product of the upper bounds of repetitions nested in one
/// another (1 when no repetition holds another). A lone `x{1,8192}` is 1:
/// it is the nesting that multiplies automaton states.
fn nested_repetition(h: &Hir) -> u64 {
    /// Product of bounds along the deepest chain, counting this level.
    fn chain(h: &Hir) -> u64 {
        match h.kind() {
            HirKind::Repetition(r) => u64::from(r.max.unwrap_or(r.min).max(1)).saturating_mul(chain(&r.sub)),
            HirKind::Capture(c) => chain(&c.sub),
            HirKind::Concat(hs) | HirKind::Alternation(hs) => hs.iter().map(chain).max().unwrap_or(1),
            _ => 1,
        }
    }
    match h.kind() {
        HirKind::Repetition(r) => {
            let inner = chain(&r.sub);
            let here = if inner > 1 { u64::from(r.max.unwrap_or(r.min).max(1)).saturating_mul(inner) } else { 1 };
            here.max(nested_repetition(&r.sub))
        }
        HirKind::Capture(c) => nested_repetition(&c.sub),
        HirKind::Concat(hs) | HirKind::Alternation(hs) => hs.iter().map(nested_repetition).max().unwrap_or(1),
        _ => 1,
    }
}

/// Lowercased literal prefixes of every match, each marked complete (the
/// whole match) or not; `None` when they cannot be listed (a class wider
/// than one letter in two cases, too many alternatives).
fn prefixes(h: &Hir) -> Option<Vec<(Vec<u8>, bool)>> {
    const LIMIT: usize = 512;
    let one_letter = |bytes: Vec<u8>| -> Option<Vec<(Vec<u8>, bool)>> {
        let lower: BTreeSet<u8> = bytes.iter().map(|b| b.to_ascii_lowercase()).collect();
        (lower.len() == 1).then(|| vec![(lower.into_iter().collect(), true)])
    };
    match h.kind() {
        HirKind::Empty | HirKind::Look(_) => Some(vec![(Vec::new(), true)]),
        HirKind::Literal(lit) => Some(vec![(lit.0.to_ascii_lowercase(), true)]),
        HirKind::Class(Class::Bytes(c)) => {
            let n: usize = c.ranges().iter().map(|r| (r.end() - r.start()) as usize + 1).sum();
            if n > 2 {
                return None;
            }
            one_letter(c.iter().flat_map(|r| r.start()..=r.end()).collect())
        }
        HirKind::Class(Class::Unicode(c)) => {
            let n: u32 = c.ranges().iter().map(|r| r.end() as u32 - r.start() as u32 + 1).sum();
            if n > 2 || c.ranges().iter().any(|r| !r.end().is_ascii()) {
                return None;
            }
            one_letter(c.iter().flat_map(|r| r.start()..=r.end()).map(|ch| ch as u8).collect())
        }
        HirKind::Capture(c) => prefixes(&c.sub),
        HirKind::Alternation(hs) => {
            let mut all = Vec::new();
            for h in hs {
                all.extend(prefixes(h)?);
            }
            (all.len() <= LIMIT).then_some(all)
        }
        HirKind::Repetition(r) if r.max == Some(1) => {
            let mut all = prefixes(&r.sub)?;
            if r.min == 0 {
                all.push((Vec::new(), true));
            }
            Some(all)
        }
        HirKind::Repetition(r) if r.min >= 1 => Some(prefixes(&r.sub)?.into_iter().map(|(p, _)| (p, false)).collect()),
        HirKind::Repetition(_) => Some(vec![(Vec::new(), false)]),
        HirKind::Concat(hs) => {
            let mut acc = vec![(Vec::new(), true)];
            for h in hs {
                if acc.iter().all(|(_, done)| !done) {
                    break;
                }
                let Some(next) = prefixes(h) else {
                    acc.iter_mut().for_each(|(_, done)| *done = false);
                    break;
                };
                let mut grown = Vec::new();
                for (p, done) in acc {
                    if !done {
                        grown.push((p, false));
                        continue;
                    }
                    for (q, qdone) in &next {
                        grown.push(([p.as_slice(), q].concat(), *qdone));
                    }
                }
                if grown.len() > LIMIT {
                    return None;
                }
                acc = grown;
            }
            Some(acc)
        }
    }
}

/// `Some(n)` if every match of `hir` starts with one of `keywords` (ASCII
/// case-insensitively) at most `n` bytes in: either at once, or after one
/// leading byte or assertion such as `(?:^|[^A-Za-z0-9])`.
fn keyword_lead(hir: &Hir, keywords: &[String]) -> Option<usize> {
    let kws: Vec<Vec<u8>> = keywords.iter().map(|k| k.to_ascii_lowercase().into_bytes()).collect();
    if kws.is_empty() {
        return None;
    }
    let led = |h: &Hir| {
        prefixes(h).is_some_and(|ps| !ps.is_empty() && ps.iter().all(|(p, _)| kws.iter().any(|k| p.starts_with(k))))
    };
    if led(hir) {
        return Some(0);
    }
    let mut h = hir;
    while let HirKind::Capture(c) = h.kind() {
        h = &c.sub;
    }
    if let HirKind::Concat(hs) = h.kind() {
        if hs.len() >= 2
            && hs[0].properties().maximum_len().is_some_and(|n| n <= 1)
            && led(&Hir::concat(hs[1..].to_vec()))
        {
            return Some(1);
        }
    }
    None
}

fn build_set(rules: &[CompiledRule], mut members: Vec<u32>) -> Result<Option<RuleSet>, Error> {
    if members.is_empty() {
        return Ok(None);
    }
    // Leftmost-first: at one start, the higher-priority rule is preferred.
    members.sort_by_key(|&i| (-rules[i as usize].priority, i));
    let pats: Vec<&str> = members.iter().map(|&i| rules[i as usize].regex_str()).collect();
    let regex = meta::Builder::new()
        .configure(meta_config())
        .syntax(syntax_config())
        .build_many(&pats)
        .map_err(|e| Error::config("keyword-less rules", e.to_string()))?;
    let pad = members.iter().map(|&i| rules[i as usize].max_len).max().unwrap_or(0) + EDGE;
    Ok(Some(RuleSet { regex, rules: members, pad }))
}

// === impl CompiledRule ===

impl CompiledRule {
    fn regex_str(&self) -> &str {
        &self.source
    }

    /// How far from a finding this rule can look.
    fn reach(&self) -> usize {
        self.max_len + self.block_max
    }
}

/// Bytes a truncated block may run on with (PEM bodies, escaped newlines).
fn is_block_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"+/=:,.-_\\ \t\r\n".contains(&b)
}

impl CompiledRule {
    /// Check a regex match and, if it counts, report it. Returns where the
    /// reported finding ends, or `None` when the match was rejected.
    fn accept(&self, text: &[u8], ms: usize, me: usize, out: &mut Vec<Finding>) -> Option<usize> {
        let (mut s, mut e) = (ms, me);
        if self.has_group {
            let mut caps = self.regex.create_captures();
            let input = Input::new(text).range(ms..me).anchored(Anchored::Yes);
            self.regex.search_captures(&input, &mut caps);
            if let Some(g) = caps.get_group(1) {
                (s, e) = (g.start, g.end);
            }
        }
        if s == e {
            return None;
        }
        if let Some(v) = &self.validator {
            e = s + v.accept_len(&text[s..e])?;
        }
        let value = &text[s..e];
        if self.allow_values.iter().any(|a| a == value) {
            return None;
        }
        if !self.stopwords.is_empty() {
            let lower = value.to_ascii_lowercase();
            if self.stopwords.iter().any(|w| memchr::memmem::find(&lower, w).is_some()) {
                return None;
            }
        }
        if let Some(end_re) = &self.block_end {
            let cap = (e + self.block_max).min(text.len());
            e = match end_re.find(Input::new(text).range(e..cap)) {
                Some(m) => m.end(),
                // Truncated: cover the rest of the body, so no part leaks.
                None => e + text[e..cap].iter().take_while(|&&b| is_block_byte(b)).count(),
            };
        }
        out.push(Finding {
            start: s,
            end: e,
            layer: self.layer,
            rule: self.id.clone(),
            label: self.label.clone(),
            priority: self.priority,
        });
        Some(e)
    }

    /// Anchored attempts starting at each of `from..=to`; the first match
    /// that counts is reported. Cheap: on a near-miss the search stops within
    /// a few bytes instead of scanning a window.
    fn try_at(&self, text: &[u8], from: usize, to: usize, out: &mut Vec<Finding>) {
        for start in from..=to {
            let end = (start + self.max_len + EDGE).min(text.len());
            let input = Input::new(text).range(start..end).anchored(Anchored::Yes);
            if let Some(m) = self.regex.find(input) {
                if self.accept(text, m.start(), m.end(), out).is_some() {
                    return;
                }
            }
        }
    }

    /// This rule alone over the whole text.
    pub(crate) fn scan_all(&self, text: &[u8], out: &mut Vec<Finding>) {
        self.scan(text, 0, text.len(), out)
    }

    /// Run the regex over `text[s..e]` (look-around sees the whole text).
    fn scan(&self, text: &[u8], s: usize, e: usize, out: &mut Vec<Finding>) {
        let mut at = s;
        while at < e {
            let Some(m) = self.regex.find(Input::new(text).range(at..e)) else { break };
            // Resume where the *sensitive part* ended, not the match: rules
            // consume a context byte on each side (there is no look-around),
            // and the next match may need that byte as its own context. A
            // rejected match (bad checksum, allowlisted) must not hide a valid
            // one inside it: resume one byte later.
            at = match self.accept(text, m.start(), m.end(), out) {
                Some(end) => end.max(m.start() + 1),
                None => m.start() + 1,
            };
        }
    }
}

impl RuleSet {
    fn scan(&self, rules: &[CompiledRule], text: &[u8], s: usize, e: usize, out: &mut Vec<Finding>) {
        let mut at = s;
        while at < e {
            let Some(m) = self.regex.find(Input::new(text).range(at..e)) else { break };
            let first = self.rules[m.pattern().as_usize()];
            if let Some(end) = rules[first as usize].accept(text, m.start(), m.end(), out) {
                at = end.max(m.start() + 1);
                continue;
            }
            // The set reports one pattern per position; when its match is
            // rejected, give the others (in priority order) their turn here.
            let mut next = m.start() + 1;
            for &r in self.rules.iter().filter(|&&r| r != first) {
                let rule = &rules[r as usize];
                let input = Input::new(text).range(m.start()..e).anchored(Anchored::Yes);
                if let Some(alt) = rule.regex.find(input) {
                    if let Some(end) = rule.accept(text, alt.start(), alt.end(), out) {
                        next = end.max(next);
                        break;
                    }
                }
            }
            at = next;
        }
    }
}

/// Regions within `pad` of an ASCII digit, merged, in order.
fn digit_regions(text: &[u8], pad: usize, regions: &mut Vec<(usize, usize)>) {
    const CHUNK: usize = 32;
    regions.clear();
    let mut push = |s: usize, e: usize| {
        let (s, e) = (s.saturating_sub(pad), (e + pad).min(text.len()));
        match regions.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => regions.push((s, e)),
        }
    };
    // PERF: a branch-free OR over 32-byte chunks vectorises; only chunks with
    // a digit are looked at byte by byte. Prose has few digits, so most of it
    // is skipped at memory speed.
    let mut chunks = text.chunks_exact(CHUNK);
    let mut base = 0;
    for chunk in &mut chunks {
        let any = chunk.iter().fold(false, |acc, &b| acc | (b.wrapping_sub(b'0') < 10));
        if any {
            push(base, base + CHUNK);
        }
        base += CHUNK;
    }
    if chunks.remainder().iter().any(u8::is_ascii_digit) {
        push(base, text.len());
    }
}

// === impl Engine ===

impl Engine {
    /// A builder with no rules and the default layer settings.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// An engine over `rules` with default layer settings.
    pub fn new(rules: impl IntoIterator<Item = RuleSpec>) -> Result<Engine, Error> {
        Engine::builder().rules(rules).build()
    }

    /// This engine with `exact` as its exact layer (replacing any before).
    /// Rules are not recompiled.
    pub fn with_exact(&self, exact: ExactSet) -> Engine {
        Engine { inner: self.inner.clone(), exact, detectors: self.detectors.clone() }
    }

    /// This engine with one more external detector (the plugin layer).
    pub fn with_detector(&self, d: Arc<dyn Detector>) -> Engine {
        let mut e = self.clone();
        e.detectors.push(d);
        e
    }

    /// How far detection looks around a finding: the streaming hold-back.
    pub fn max_len(&self) -> usize {
        let plugins = self.detectors.iter().map(|d| d.max_len()).max().unwrap_or(0);
        self.inner.max_len.max(self.exact.max_len() + EDGE).max(plugins + EDGE)
    }

    /// Whether `key` is a sensitive JSON key for the keys layer (`false`
    /// when the layer is off). Lets a caller that walks parsed JSON redact
    /// a whole value under such a key, whatever its type: the layer itself
    /// only sees JSON text.
    pub fn is_sensitive_key(&self, key: &str) -> bool {
        self.inner.keys.as_ref().is_some_and(|k| k.is_sensitive(key))
    }

    /// The exact layer in force (the vault's values).
    pub fn exact(&self) -> &ExactSet {
        &self.exact
    }

    /// The compiled rules, in the order given.
    pub fn rules(&self) -> impl Iterator<Item = RuleInfo<'_>> {
        self.inner.rules.iter().map(|r| RuleInfo {
            id: &r.id,
            layer: r.layer,
            label: &r.label,
            description: &r.description,
            keywords: &r.keywords,
        })
    }

    pub(crate) fn compiled_rules(&self) -> &[CompiledRule] {
        &self.inner.rules
    }

    /// Findings in `text`, overlaps resolved, in order of start.
    ///
    /// Fails only when an external detector fails; the caller must then
    /// treat the text as unredactable.
    pub fn find(&self, text: &str) -> Result<Vec<Finding>, Error> {
        let raw = self.find_all(text)?;
        Ok(crate::resolve::resolve(raw))
    }

    /// Every finding of every layer, before overlaps are resolved.
    pub fn find_all(&self, text: &str) -> Result<Vec<Finding>, Error> {
        let mut out = Vec::new();
        self.find_builtin(text.as_bytes(), &mut out);
        self.run_detectors(text, &mut out)?;
        Ok(out)
    }

    /// The plugin layer: every detector, its findings checked; then all
    /// findings widened to character boundaries.
    fn run_detectors(&self, text: &str, out: &mut Vec<Finding>) -> Result<(), Error> {
        for d in &self.detectors {
            let found = d.detect(text).map_err(|msg| Error::detector(d.name(), msg))?;
            for f in &found {
                check_plugin_finding(d.name(), text, f)?;
            }
            out.extend(found);
        }
        for f in out.iter_mut() {
            snap_to_chars(text, f);
        }
        Ok(())
    }

    #[inline(never)]
    fn find_builtin(&self, text: &[u8], out: &mut Vec<Finding>) {
        let c = &*self.inner;
        self.exact.find(text, out);

        let mut scratch = SCRATCH.with(|s| s.take());
        // Keyword hits -> (rule, window) pairs and keys-layer checks.
        let windows = &mut scratch.windows;
        // A rule's keyword starts at `at`: a keyword-led rule is tried
        // anchored there, any other gets a window. The window is measured
        // from `at` on both sides, which covers every match containing the
        // keyword whatever its length.
        let mut trigger = |r: u32, at: usize, out: &mut Vec<Finding>| {
            let rule = &c.rules[r as usize];
            match rule.lead {
                Some(pre) => rule.try_at(text, at.saturating_sub(pre), at, out),
                None => {
                    let reach = rule.max_len + EDGE;
                    windows.push((r, at.saturating_sub(reach), (at + reach).min(text.len())));
                }
            }
        };
        if let Some(pf) = &c.prefilter {
            pf.find(text, |k, at| {
                let len = pf.keyword_len(k);
                for act in &c.actions[k as usize] {
                    match *act {
                        Action::Rule(r) => trigger(r, at, out),
                        Action::Key => {
                            if let Some(keys) = &c.keys {
                                keys.check_hit(text, at, at + len, out);
                            }
                        }
                        Action::Context => {
                            if let Some(cx) = &c.context {
                                cx.check_hit(text, at, out);
                            }
                        }
                    }
                }
            });
        }
        for (byte, rules) in &c.anchors {
            let (lo, up) = (byte.to_ascii_lowercase(), byte.to_ascii_uppercase());
            for p in memchr::memchr2_iter(lo, up, text) {
                for &r in rules {
                    trigger(r, p, out);
                }
            }
        }
        // Windows of one rule that touch are scanned once.
        windows.sort_unstable();
        let mut i = 0;
        while i < windows.len() {
            let (r, s, mut e) = windows[i];
            let mut j = i + 1;
            while j < windows.len() && windows[j].0 == r && windows[j].1 <= e {
                e = e.max(windows[j].2);
                j += 1;
            }
            c.rules[r as usize].scan(text, s, e, out);
            i = j;
        }
        if let Some(set) = &c.digit_set {
            digit_regions(text, set.pad, &mut scratch.regions);
            for &(s, e) in &scratch.regions {
                set.scan(&c.rules, text, s, e, out);
            }
        }
        if let Some(set) = &c.whole_set {
            set.scan(&c.rules, text, 0, text.len(), out);
        }
        if let Some(ent) = &c.entropy {
            ent.find(text, out);
        }
        scratch.recycle();
        SCRATCH.with(|s| s.replace(scratch));
    }
}

/// Buffers a search reuses, one set per thread, so that a search allocates
/// nothing but its result.
#[derive(Debug, Default)]
struct Scratch {
    windows: Vec<(u32, usize, usize)>,
    regions: Vec<(usize, usize)>,
}

impl Scratch {
    /// Empty, and not holding on to the memory of an outsized search.
    fn recycle(&mut self) {
        const KEEP: usize = 1 << 16;
        self.windows.clear();
        self.regions.clear();
        self.windows.shrink_to(KEEP);
        self.regions.shrink_to(KEEP);
    }
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::new(Scratch::default());
}

// === the naive reference ===

impl Engine {
    /// The same findings as [`Engine::find`], computed the slow, obvious way:
    /// every rule's regex over the whole text, every value searched for on
    /// its own, every token scored, every key-name occurrence checked. No
    /// keyword windows, digit regions, multi-pattern sets or strides.
    ///
    /// It exists to check the fast path (a differential test compares the
    /// two on random inputs) and as the benchmarks' baseline.
    pub fn find_naive(&self, text: &str) -> Result<Vec<Finding>, Error> {
        let bytes = text.as_bytes();
        let mut out = Vec::new();
        self.exact.find_naive(bytes, &mut out);
        for rule in &self.inner.rules {
            rule.scan_all(bytes, &mut out);
        }
        if let Some(k) = &self.inner.keys {
            let lower = bytes.to_ascii_lowercase();
            for kw in &k.keywords {
                for at in memchr::memmem::find_iter(&lower, kw.as_bytes()) {
                    k.check_hit(bytes, at, at + kw.len(), &mut out);
                }
            }
        }
        if let Some(cx) = &self.inner.context {
            let lower = bytes.to_ascii_lowercase();
            for w in crate::context::WORDS {
                for at in memchr::memmem::find_iter(&lower, w.as_bytes()) {
                    cx.check_hit(bytes, at, &mut out);
                }
            }
        }
        if let Some(ent) = &self.inner.entropy {
            ent.find_naive(bytes, &mut out);
        }
        self.run_detectors(text, &mut out)?;
        Ok(crate::resolve::resolve(out))
    }
}

/// Widen a finding to UTF-8 character boundaries (byte-oriented regexes can
/// stop inside a character), so offsets always slice the text.
fn snap_to_chars(text: &str, f: &mut Finding) {
    while !text.is_char_boundary(f.start) {
        f.start -= 1;
    }
    while !text.is_char_boundary(f.end) {
        f.end += 1;
    }
}

fn check_plugin_finding(name: &str, text: &str, f: &Finding) -> Result<(), Error> {
    let bad = |msg: String| Err(Error::invalid_finding(name, msg));
    if f.start >= f.end || f.end > text.len() {
        return bad(format!("span {}..{} is empty or outside the {}-byte input", f.start, f.end, text.len()));
    }
    if !text.is_char_boundary(f.start) || !text.is_char_boundary(f.end) {
        return bad(format!("span {}..{} is not on UTF-8 character boundaries", f.start, f.end));
    }
    if f.layer != Layer::Plugin {
        return bad(format!("layer {} is not plugin", f.layer));
    }
    if !valid_label(&f.label) {
        return bad(format!("label {:?} is not A-Z, 0-9 and _", &*f.label));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hir(p: &str) -> Hir {
        syntax::parse_with(p, &syntax_config()).unwrap()
    }

    #[test]
    fn digit_requirement_is_proved_only_when_true() {
        for p in [r"\d{3}-\d{2}-\d{4}", r"(?:\+|00)[1-9]\d{6,14}", r"[a-z]{2}[0-9]{2}", r"a(1|2b)"] {
            assert!(requires_digit(&hir(p)), "{p}");
        }
        for p in [r"[a-z0-9]{4}", r"\d*x", r"a|1", r"[0-9a-f]{2}"] {
            assert!(!requires_digit(&hir(p)), "{p}");
        }
    }

    #[test]
    fn keyword_led_rules_are_recognised() {
        let kw = |ks: &[&str]| ks.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(keyword_lead(&hir(r"ghp_[A-Za-z0-9]{36}"), &kw(&["ghp_"])), Some(0));
        assert_eq!(keyword_lead(&hir(r"(?:^|[^A-Za-z0-9])(AKIA[A-Z2-7]{16})"), &kw(&["AKIA"])), Some(1));
        assert_eq!(
            keyword_lead(&hir(r"(?i)(?:api_?key|token)\s?=\s?([a-z]{8})"), &kw(&["api_key", "apikey", "token"])),
            Some(0)
        );
        assert_eq!(keyword_lead(&hir(r"(?i)(?:api_?key|token)\s?=\s?([a-z]{8})"), &kw(&["api_key", "token"])), None);
        assert_eq!(keyword_lead(&hir(r"[a-z]{3}AZDO[a-z]{4}"), &kw(&["AZDO"])), None);
        assert_eq!(keyword_lead(&hir(r"x?ghp_[a-z]{4}"), &kw(&["ghp_"])), Some(1));
        assert_eq!(keyword_lead(&hir(r"xy?ghp_[a-z]{4}"), &kw(&["ghp_"])), None);
    }

    #[test]
    fn digit_regions_cover_every_digit() {
        let text = format!("{}7{}", "a".repeat(100), "b".repeat(100));
        let mut regions = Vec::new();
        digit_regions(text.as_bytes(), 10, &mut regions);
        assert_eq!(regions.len(), 1);
        let (s, e) = regions[0];
        assert!(s <= 90 && e >= 111);
        digit_regions(b"no digits here at all, none, not a single one", 5, &mut regions);
        assert!(regions.is_empty());
    }

    fn rule(id: &str, kw: &[&str], re: &str) -> RuleSpec {
        RuleSpec {
            id: id.into(),
            label: "X".into(),
            keywords: kw.iter().map(|s| s.to_string()).collect(),
            regex: re.into(),
            ..RuleSpec::minimal()
        }
    }

    #[test]
    fn bad_rules_are_refused_with_a_reason() {
        let unbounded = Engine::new([rule("a", &["abc"], "abc[0-9]+")]).unwrap_err();
        assert!(unbounded.to_string().contains("unboundedly"), "{unbounded}");
        let short = Engine::new([rule("a", &["ab"], "ab[0-9]{2}")]).unwrap_err();
        assert!(short.to_string().contains("too short"), "{short}");
        let dup = Engine::new([rule("a", &["abc"], "abc"), rule("a", &["abd"], "abd")]).unwrap_err();
        assert!(dup.to_string().contains("used twice"), "{dup}");
        let bad = Engine::new([rule("a", &["abc"], "abc(")]).unwrap_err();
        assert!(bad.to_string().starts_with("rule a: bad regex"), "{bad}");
    }

    /// Issue 14: a signed rule must not make scanning crawl or the windows
    /// huge; both are refused when the rule compiles, naming the limit.
    #[test]
    fn slow_or_huge_rules_are_refused() {
        let nested = Engine::builder().rules([rule("n", &["zzz"], r"zzz(?:[a-z]{1,200}[0-9]){1,200}q")]).build();
        let err = nested.expect_err("nested repetition refused").to_string();
        assert!(err.contains("nested repetitions multiply to 40000"), "{err}");
        let long = Engine::builder().rules([rule("l", &["zzz"], r"zzz[a-z]{1,40000}")]).build();
        let err = long.expect_err("long match refused").to_string();
        assert!(err.contains("limit is 32768"), "{err}");
        // The same shapes within the limits compile.
        Engine::builder().rules([rule("ok", &["zzz"], r"zzz(?:[a-z]{1,40}[0-9]){1,40}q")]).build().unwrap();
        Engine::builder().rules([rule("ok", &["zzz"], r"zzz[a-z]{1,16000}")]).build().unwrap();
        assert_eq!(nested_repetition(&syntax::parse(r"(a{2,3}b){4}|c{9}").unwrap()), 12);
    }

    #[test]
    fn keyword_inside_a_longer_keyword_still_triggers_its_rule() {
        let e = Engine::builder()
            .rules([rule("short", &["sk-"], r"sk-[a-z-]{6}"), rule("long", &["sk-ant-"], r"sk-ant-[0-9]{6}")])
            .build()
            .unwrap();
        let found = e.find_all("x sk-ant-abcdef y").unwrap();
        assert!(found.iter().any(|f| &*f.rule == "short"), "{found:?}");
    }

    /// A keyword inside a longer keyword's hit gets a window measured from
    /// its own position: here the match starts before the long hit and ends
    /// in it, which a window measured from the hit's end missed.
    #[test]
    fn window_of_an_inner_keyword_reaches_back_far_enough() {
        let e = Engine::builder()
            .rules([
                rule("inner", &["bcd"], r"[a-z]{3}bcd"),
                rule("outer", &["bcdxxxxxxxxxx"], r"bcdxxxxxxxxxx[0-9]{2}"),
            ])
            .build()
            .unwrap();
        let found = e.find_all("zaaabcdxxxxxxxxxxz").unwrap();
        assert!(found.iter().any(|f| &*f.rule == "inner" && (f.start, f.end) == (1, 7)), "{found:?}");
    }

    #[test]
    fn keywords_are_case_insensitive() {
        let e = Engine::new([rule("a", &["Token"], r"(?i)token=([a-z0-9]{8})")]).unwrap();
        assert_eq!(e.find("TOKEN=abcd1234").unwrap().len(), 1);
    }
}
