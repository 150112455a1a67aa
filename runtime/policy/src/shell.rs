//! Shell commands, parsed and judged: what each simple command can do, with
//! wrappers unwrapped and the flow between commands followed.
//!
//! # Why `brush-parser`
//!
//! The gate must read a command the way bash will run it, so it parses with a
//! real shell grammar instead of grepping. Two maintained Rust parsers were
//! weighed (`cargo info`, December 2026):
//!
//! - `yash-syntax` (POSIX, thorough) is GPL-3.0-or-later, which this crate's
//!   licence cannot take, and its parser is `async` (input is a future),
//!   which would drag an executor into a pure, synchronous crate.
//! - `brush-parser` (MIT, the parser of the brush shell) is synchronous, parses
//!   bash as well as POSIX sh (`[[ ]]`, `$'..'`, `<(..)`, `&>`, here-strings:
//!   what agents actually write), and exposes its word parser so quote
//!   removal and expansions are its work, not ours. Version 0.2 is pinned:
//!   0.3 adds `bon` and 0.4 takes `insta` as a normal dependency; 0.2 needs
//!   only `peg`, `cached`, `indenter`, `tracing` and `utf8-chars`.
//!
//! # What is judged
//!
//! Every simple command, wherever it sits (lists, pipelines, subshells,
//! functions, loops, `$(..)`, `<(..)`), looks its program up in the
//! capability table ([`crate::programs`]). Wrappers (`sudo`, `env`,
//! `timeout`, `xargs`, ...) are unwrapped, `sh -c`, `eval` and `su -c` code
//! is parsed again up to [`Limits::max_depth`], `find -exec` commands are
//! judged. Between commands: code piped into a shell or an interpreter
//! (echoed text is parsed again; downloaded or decoded code is opaque),
//! redirections (`>` truncates; `/dev/tcp`, `/dev/udp`; block devices), and
//! computed data (`$(..)`, `$VAR`) handed to a network program. A command
//! name that is computed, input that does not parse, or nesting beyond the
//! limits is opaque and takes the tier of the `code` capability (held).
//!
//! # Cost
//!
//! Input longer than [`Limits::max_len`] or nested deeper than
//! [`Limits::max_nesting`] brackets is refused before the parser sees it (a
//! recursive-descent parser's stack grows with nesting); at most
//! [`Limits::max_commands`] simple commands are judged per call. See
//! `benches/gate.rs` for the measured time per command.

use brush_parser::ast;
use brush_parser::word::WordPiece;
use brush_parser::{ParserOptions, SourceInfo};

use crate::programs::{flag_matches, Cap, Compiled, Programs};
use crate::Tier;

/// Bounds on the work done for one command.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Longest command judged, in bytes; longer ones are held. 64 KiB.
    pub max_len: usize,
    /// How deep `sh -c`, `eval` and `$(..)` are followed. 6.
    pub max_depth: u32,
    /// Deepest bracket nesting passed to the parser. 48.
    pub max_nesting: usize,
    /// Simple commands judged per call. 16384.
    pub max_commands: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_len: 64 * 1024, max_depth: 6, max_nesting: 48, max_commands: 16384 }
    }
}

/// One thing a command can do, with its tier.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// The tier it implies.
    pub tier: Tier,
    /// What was found: `deletes /srv recursively (rm -r)`.
    pub reason: String,
}

/// The verdict on one shell command.
#[derive(Clone, Debug, Default)]
pub struct Analysis {
    /// Everything found, in source order.
    pub findings: Vec<Finding>,
    /// Whether the input parsed.
    pub parsed: bool,
    /// How many simple commands named a program the table knows.
    pub known: usize,
}

impl Analysis {
    /// The highest tier found; GREEN when nothing was.
    pub fn tier(&self) -> Tier {
        self.findings.iter().map(|f| f.tier).max().unwrap_or(Tier::Green)
    }

    /// The reasons of the highest tier, distinct, at most three.
    pub fn reason(&self) -> String {
        let top = self.tier();
        let mut out: Vec<&str> = Vec::new();
        for f in self.findings.iter().filter(|f| f.tier == top) {
            if !out.contains(&f.reason.as_str()) {
                out.push(&f.reason);
            }
        }
        let more = out.len().saturating_sub(3);
        out.truncate(3);
        let mut s = out.join("; ");
        if more > 0 {
            s.push_str(&format!("; and {more} more"));
        }
        if s.is_empty() {
            s = "read-only command".into();
        }
        s
    }
}

/// Whether a run of digits right before `<` or `>` (a redirection's
/// descriptor number to the parser) is past `u32::MAX`.
fn huge_descriptor(text: &str) -> bool {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if !b[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i < b.len() && matches!(b[i], b'<' | b'>') {
            let digits = text[start..i].trim_start_matches('0');
            if digits.len() > 10 || (digits.len() == 10 && digits > "4294967295") {
                return true;
            }
        }
    }
    false
}

/// Run the parser, a panic in it counting as a parse failure. brush-parser
/// 0.2.20 panics on some inputs (a redirection's descriptor number past
/// u32::MAX, found by fuzzing): in the gate a panic would drop the request,
/// where a command that does not parse must be held.
fn unpanicked<T>(parse: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(parse))
        .unwrap_or_else(|_| Err("the shell parser failed on this input".to_string()))
}

/// Judge a shell command.
pub fn analyze(command: &str, programs: &Programs, unknown_tier: Tier, limits: &Limits) -> Analysis {
    let mut w = Walker { programs, unknown_tier, limits, out: Analysis::default(), functions: Vec::new(), steps: 0 };
    w.out.parsed = true;
    w.script(command, 0);
    w.out
}

/// What a pipeline stage hands the next one.
#[derive(Clone, Debug, Default)]
struct Stage {
    /// `curl http://x/a.sh`, shortened.
    desc: String,
    /// Downloads (its output comes from the network).
    downloads: bool,
    /// Decodes (base64 -d, xxd -r).
    decodes: bool,
    /// Static text it prints (`echo`, `printf`).
    text: Option<String>,
    /// An interactive shell (`bash -i`).
    shell: bool,
    /// The files it names (for "sends /etc/passwd to ...").
    files: Vec<String>,
}

/// A word after quote removal.
#[derive(Clone, Debug, Default)]
struct Arg {
    text: String,
    /// Holds `$VAR`, `$(..)` or arithmetic: its value is not known here.
    dynamic: bool,
    /// A process substitution `<(..)`.
    procsub: bool,
}

impl Arg {
    fn lit(s: &str) -> Arg {
        Arg { text: s.to_string(), ..Default::default() }
    }
}

struct Walker<'a> {
    programs: &'a Programs,
    unknown_tier: Tier,
    limits: &'a Limits,
    out: Analysis,
    functions: Vec<String>,
    steps: usize,
}

fn short(s: &str, max: usize) -> String {
    let s = s.trim();
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut t: String = s.chars().take(max).collect();
    t.push('…');
    t
}

fn nesting(text: &str) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    for b in text.bytes() {
        match b {
            b'(' | b'{' | b'`' => {
                depth += 1;
                max = max.max(depth);
            }
            b')' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

// === impl Walker: structure ===

impl Walker<'_> {
    fn find(&mut self, cap: Cap, reason: String) {
        let tier = self.programs.tier(cap);
        self.out.findings.push(Finding { tier, reason });
    }

    fn opaque(&mut self, reason: String) {
        self.find(Cap::Code, reason);
    }

    fn script(&mut self, text: &str, depth: u32) {
        if depth > self.limits.max_depth {
            return self.opaque(format!("shell code nested more than {} levels deep", self.limits.max_depth));
        }
        if text.len() > self.limits.max_len {
            self.out.parsed = depth > 0 && self.out.parsed;
            return self.opaque(format!("command longer than {} bytes", self.limits.max_len));
        }
        if nesting(text) > self.limits.max_nesting {
            return self.opaque(format!("command nested more than {} brackets deep", self.limits.max_nesting));
        }
        if huge_descriptor(text) {
            // brush-parser panics on these (see `unpanicked`); under a fuzzer
            // a caught panic still aborts, so they never reach it.
            if depth == 0 {
                self.out.parsed = false;
            }
            return self.opaque(format!(
                "cannot parse shell code {:?}: a redirection's descriptor number is out of range",
                short(text, 40)
            ));
        }
        let options = ParserOptions::default();
        let parsed = unpanicked(|| {
            brush_parser::uncached_tokenize_str(text, &options.tokenizer_options()).map_err(|e| e.to_string()).and_then(
                |tokens| {
                    brush_parser::parse_tokens(&tokens, &options, &SourceInfo::default()).map_err(|e| e.to_string())
                },
            )
        });
        match parsed {
            Ok(program) => {
                for cc in &program.complete_commands {
                    self.list(cc, depth);
                }
            }
            Err(_) => {
                if depth == 0 {
                    self.out.parsed = false;
                }
                self.opaque(format!("cannot parse shell code {:?}", short(text, 40)));
            }
        }
    }

    fn list(&mut self, l: &ast::CompoundList, depth: u32) {
        for item in &l.0 {
            self.and_or(&item.0, depth);
        }
    }

    fn and_or(&mut self, a: &ast::AndOrList, depth: u32) {
        self.pipeline(&a.first, depth);
        for x in &a.additional {
            match x {
                ast::AndOr::And(p) | ast::AndOr::Or(p) => self.pipeline(p, depth),
            }
        }
    }

    fn pipeline(&mut self, p: &ast::Pipeline, depth: u32) {
        let mut upstream: Option<Stage> = None;
        for cmd in &p.seq {
            upstream = Some(self.command(cmd, upstream.as_ref(), depth));
        }
    }

    fn command(&mut self, cmd: &ast::Command, stdin: Option<&Stage>, depth: u32) -> Stage {
        match cmd {
            ast::Command::Simple(sc) => self.simple(sc, stdin, depth),
            ast::Command::Compound(c, redirects) => {
                self.compound(c, depth);
                let stage = Stage { desc: "a compound command".into(), ..Default::default() };
                if let Some(r) = redirects {
                    for r in &r.0 {
                        self.redirect(r, &stage, depth);
                    }
                }
                stage
            }
            ast::Command::Function(f) => {
                let body = f.body.0.to_string();
                let calls_itself = body
                    .split(|c: char| c.is_whitespace() || matches!(c, '|' | '&' | ';' | '{' | '}'))
                    .filter(|w| *w == f.fname)
                    .count()
                    >= 1;
                if calls_itself && (body.contains('&') || body.contains('|')) {
                    self.find(Cap::Destroy, format!("defines {:?}, a function that forks itself (fork bomb)", f.fname));
                }
                self.functions.push(f.fname.clone());
                self.compound(&f.body.0, depth);
                Stage { desc: format!("function {}", f.fname), ..Default::default() }
            }
            ast::Command::ExtendedTest(_) => Stage { desc: "[[ test ]]".into(), ..Default::default() },
        }
    }

    fn compound(&mut self, c: &ast::CompoundCommand, depth: u32) {
        match c {
            ast::CompoundCommand::BraceGroup(ast::BraceGroupCommand(l))
            | ast::CompoundCommand::Subshell(ast::SubshellCommand(l)) => self.list(l, depth),
            ast::CompoundCommand::ForClause(f) => {
                for w in f.values.iter().flatten() {
                    self.expand(&w.value, depth);
                }
                self.list(&f.body.0, depth);
            }
            ast::CompoundCommand::ArithmeticForClause(f) => self.list(&f.body.0, depth),
            ast::CompoundCommand::CaseClause(c) => {
                self.expand(&c.value.value, depth);
                for item in &c.cases {
                    if let Some(l) = &item.cmd {
                        self.list(l, depth);
                    }
                }
            }
            ast::CompoundCommand::IfClause(i) => {
                self.list(&i.condition, depth);
                self.list(&i.then, depth);
                for e in i.elses.iter().flatten() {
                    if let Some(c) = &e.condition {
                        self.list(c, depth);
                    }
                    self.list(&e.body, depth);
                }
            }
            ast::CompoundCommand::WhileClause(w) | ast::CompoundCommand::UntilClause(w) => {
                self.list(&w.0, depth);
                self.list(&w.1 .0, depth);
            }
            ast::CompoundCommand::Arithmetic(_) => {}
        }
    }
}

// === impl Walker: words ===

impl Walker<'_> {
    fn expand(&mut self, word: &str, depth: u32) -> Arg {
        // PERF: most words are plain text and need no quote removal;
        // brush's word parser runs a peg grammar behind a global mutex-guarded
        // cache. `cargo bench -p warden-policy --bench gate` on a 2-core host
        // at load average ~11: classify/typical 18.3 µs before, 19.2 µs
        // after (noise at that load); kept to stay off the shared lock.
        if !word.bytes().any(|b| {
            matches!(
                b,
                b'\'' | b'"' | b'\\' | b'$' | b'`' | b'~' | b'{' | b'*' | b'?' | b'[' | b'(' | b'!' | b'@' | b'+'
            )
        }) {
            return Arg::lit(word);
        }
        let mut arg = Arg::default();
        match unpanicked(|| brush_parser::word::parse(word, &ParserOptions::default()).map_err(|e| e.to_string())) {
            Ok(pieces) => {
                for p in &pieces {
                    self.piece(word, p, &mut arg, depth);
                }
            }
            Err(_) => {
                arg.text = word.to_string();
                arg.dynamic = true;
            }
        }
        arg
    }

    fn piece(&mut self, word: &str, p: &brush_parser::word::WordPieceWithSource, arg: &mut Arg, depth: u32) {
        let source = word.get(p.start_index..p.end_index).unwrap_or("");
        match &p.piece {
            WordPiece::Text(s) | WordPiece::SingleQuotedText(s) => arg.text.push_str(s),
            WordPiece::AnsiCQuotedText(s) => arg.text.push_str(&ansi_c(s)),
            WordPiece::DoubleQuotedSequence(v) | WordPiece::GettextDoubleQuotedSequence(v) => {
                for q in v {
                    self.piece(word, q, arg, depth);
                }
            }
            WordPiece::TildePrefix(s) => {
                arg.text.push('~');
                arg.text.push_str(s);
            }
            WordPiece::EscapeSequence(s) => arg.text.push_str(s.strip_prefix('\\').unwrap_or(s)),
            WordPiece::CommandSubstitution(s) | WordPiece::BackquotedCommandSubstitution(s) => {
                self.script(s, depth + 1);
                arg.dynamic = true;
                arg.text.push_str(source);
            }
            WordPiece::ParameterExpansion(_) | WordPiece::ArithmeticExpression(_) => {
                arg.dynamic = true;
                arg.text.push_str(source);
            }
        }
    }
}

/// Decode the body of `$'...'`.
fn ansi_c(s: &str) -> String {
    let mut out = String::new();
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(e) = it.next() else { break };
        let mut num = |radix: u32, max: usize, first: Option<char>| {
            let mut v = first.and_then(|c| c.to_digit(radix)).unwrap_or(0);
            let mut n = usize::from(first.is_some());
            while n < max {
                match it.peek().and_then(|c| c.to_digit(radix)) {
                    Some(d) => {
                        v = v * radix + d;
                        it.next();
                        n += 1;
                    }
                    None => break,
                }
            }
            char::from_u32(v).unwrap_or('?')
        };
        let ch = match e {
            'n' => '\n',
            't' => '\t',
            'r' => '\r',
            'a' => '\x07',
            'b' => '\x08',
            'e' | 'E' => '\x1b',
            'f' => '\x0c',
            'v' => '\x0b',
            'x' => num(16, 2, None),
            'u' => num(16, 4, None),
            'U' => num(16, 8, None),
            '0'..='7' => num(8, 3, Some(e)),
            other => other,
        };
        out.push(ch);
    }
    out
}

// === impl Walker: simple commands ===

impl Walker<'_> {
    fn simple(&mut self, sc: &ast::SimpleCommand, stdin: Option<&Stage>, depth: u32) -> Stage {
        let mut argv: Vec<Arg> = Vec::new();
        let mut redirects: Vec<&ast::IoRedirect> = Vec::new();
        let items = sc.prefix.iter().flat_map(|p| p.0.iter());
        let mut prefix_items: Vec<&ast::CommandPrefixOrSuffixItem> = items.collect();
        let suffix: Vec<&ast::CommandPrefixOrSuffixItem> = sc.suffix.iter().flat_map(|s| s.0.iter()).collect();
        for item in &prefix_items {
            if let ast::CommandPrefixOrSuffixItem::AssignmentWord(a, _) = item {
                self.assignment(a, depth);
            }
        }
        if let Some(w) = &sc.word_or_name {
            let first = self.expand(&w.value, depth);
            argv.extend(brace_split(&w.value, first));
        }
        prefix_items.extend(suffix);
        for item in prefix_items {
            match item {
                ast::CommandPrefixOrSuffixItem::IoRedirect(r) => redirects.push(r),
                ast::CommandPrefixOrSuffixItem::Word(w) => {
                    let a = self.expand(&w.value, depth);
                    argv.push(a);
                }
                ast::CommandPrefixOrSuffixItem::AssignmentWord(_, w) if sc.word_or_name.is_some() => {
                    // After the command name an assignment is an operand (`dd of=x`).
                    let a = self.expand(&w.value, depth);
                    if !sc.prefix.iter().flat_map(|p| p.0.iter()).any(|i| std::ptr::eq(i, item)) {
                        argv.push(a);
                    }
                }
                ast::CommandPrefixOrSuffixItem::AssignmentWord(..) => {}
                ast::CommandPrefixOrSuffixItem::ProcessSubstitution(_, sub) => {
                    self.list(&sub.0, depth + 1);
                    argv.push(Arg {
                        text: format!("<({})", short(&sub.0.to_string(), 40)),
                        dynamic: true,
                        procsub: true,
                    });
                }
            }
        }
        let mut heredoc = None;
        for r in &redirects {
            match r {
                ast::IoRedirect::HereDocument(_, doc) => heredoc = Some(doc.doc.value.clone()),
                ast::IoRedirect::HereString(_, w) => heredoc = Some(self.expand(&w.value, depth).text),
                _ => {}
            }
        }
        let stage = self.argv(&argv, stdin, heredoc.as_deref(), depth);
        for r in redirects {
            self.redirect(r, &stage, depth);
        }
        stage
    }

    fn assignment(&mut self, a: &ast::Assignment, depth: u32) {
        let name = match &a.name {
            ast::AssignmentName::VariableName(n) | ast::AssignmentName::ArrayElementName(n, _) => n.as_str(),
        };
        let value = match &a.value {
            ast::AssignmentValue::Scalar(w) => self.expand(&w.value, depth).text,
            ast::AssignmentValue::Array(v) => {
                v.iter().map(|(_, w)| self.expand(&w.value, depth).text).collect::<Vec<_>>().join(" ")
            }
        };
        const LOADS_CODE: &[&str] = &[
            "LD_PRELOAD",
            "LD_LIBRARY_PATH",
            "LD_AUDIT",
            "BASH_ENV",
            "ENV",
            "PROMPT_COMMAND",
            "GIT_SSH_COMMAND",
            "GIT_SSH",
            "GIT_EXTERNAL_DIFF",
            "PYTHONSTARTUP",
            "NODE_OPTIONS",
            "PERL5OPT",
            "RUBYOPT",
        ];
        if LOADS_CODE.contains(&name) {
            self.opaque(format!("sets {name}={}, which makes programs load or run it", short(&value, 40)));
        }
    }

    fn redirect(&mut self, r: &ast::IoRedirect, stage: &Stage, depth: u32) {
        let (target, write, append) = match r {
            ast::IoRedirect::File(_, kind, target) => {
                let w = match target {
                    ast::IoFileRedirectTarget::Filename(w) | ast::IoFileRedirectTarget::Duplicate(w) => w,
                    ast::IoFileRedirectTarget::ProcessSubstitution(_, sub) => {
                        self.list(&sub.0, depth + 1);
                        return;
                    }
                    ast::IoFileRedirectTarget::Fd(_) => return,
                };
                let write = !matches!(kind, ast::IoFileRedirectKind::Read | ast::IoFileRedirectKind::DuplicateInput);
                (self.expand(&w.value, depth), write, matches!(kind, ast::IoFileRedirectKind::Append))
            }
            ast::IoRedirect::OutputAndError(w, append) => (self.expand(&w.value, depth), true, *append),
            _ => return,
        };
        let path = target.text.as_str();
        if let Some(rest) = path.strip_prefix("/dev/tcp/").or_else(|| path.strip_prefix("/dev/udp/")) {
            let proto = if path.starts_with("/dev/tcp") { "/dev/tcp" } else { "/dev/udp" };
            let to = rest.replacen('/', ":", 1);
            let what = if stage.shell {
                "a shell".to_string()
            } else if !stage.files.is_empty() {
                stage.files.join(" ")
            } else {
                format!("the output of {}", stage.desc)
            };
            let reason = if write {
                format!("sends {what} to {to} over {proto}")
            } else {
                format!("feeds {} from {to} over {proto}", if stage.shell { "a shell" } else { &stage.desc })
            };
            return self.find(Cap::Egress, reason);
        }
        if !write || path.chars().all(|c| c.is_ascii_digit() || c == '-') {
            return;
        }
        const HARMLESS: &[&str] = &["/dev/null", "/dev/stdout", "/dev/stderr", "/dev/tty", "/dev/zero"];
        if HARMLESS.contains(&path) || path.starts_with("/dev/fd/") || path.starts_with("/proc/self/fd/") {
            return;
        }
        if path.starts_with("/dev/") {
            return self.find(Cap::Disk, format!("writes the device {path}"));
        }
        if sensitive(path) {
            self.opaque(format!("changes {path}, which runs code or grants access"));
        }
        if append {
            self.find(Cap::Write, format!("appends to {path}"));
        } else if target.dynamic {
            self.find(Cap::Destroy, format!("truncates a computed path {path} (>)"));
        } else {
            self.find(Cap::Destroy, format!("truncates {path} (>)"));
        }
    }
}

/// Files whose change runs code later or grants access.
fn sensitive(path: &str) -> bool {
    const NAMES: &[&str] = &[
        ".bashrc",
        ".bash_profile",
        ".profile",
        ".zshrc",
        "authorized_keys",
        "/etc/",
        "crontab",
        "/cron",
        ".ssh/config",
        "sudoers",
        "/etc/ld.so.preload",
    ];
    NAMES.iter().any(|n| path.contains(n))
}

/// `{rm,-rf,/x}` in command position: bash's brace expansion makes words of it.
fn brace_split(raw: &str, expanded: Arg) -> Vec<Arg> {
    if !expanded.dynamic
        && raw.starts_with('{')
        && raw.ends_with('}')
        && raw.contains(',')
        && !raw.contains(['\'', '"'])
    {
        return raw[1..raw.len() - 1].split(',').map(Arg::lit).collect();
    }
    vec![expanded]
}

// === impl Walker: programs ===

impl Walker<'_> {
    fn argv(&mut self, args: &[Arg], stdin: Option<&Stage>, heredoc: Option<&str>, depth: u32) -> Stage {
        self.steps += 1;
        if self.steps > self.limits.max_commands {
            if self.steps == self.limits.max_commands + 1 {
                self.opaque(format!("more than {} commands", self.limits.max_commands));
            }
            return Stage::default();
        }
        let Some(name) = args.first() else { return Stage::default() };
        let desc = short(&args.iter().map(|a| a.text.as_str()).collect::<Vec<_>>().join(" "), 60);
        if name.dynamic {
            self.opaque(format!("runs a command whose name is computed ({})", short(&name.text, 40)));
            return Stage { desc, ..Default::default() };
        }
        if self.functions.contains(&name.text) {
            return Stage { desc, ..Default::default() };
        }
        let Some((prog, c)) = self.programs.lookup(&name.text) else {
            let tier = self.unknown_tier;
            self.out.findings.push(Finding {
                tier,
                reason: format!("runs {}, a program the policy does not know", short(&name.text, 40)),
            });
            return Stage { desc, ..Default::default() };
        };
        self.out.known += 1;
        let prog = prog.to_string();
        self.judge(&prog, c, &args[1..], stdin, heredoc, depth, desc)
    }

    #[allow(clippy::too_many_arguments)]
    fn judge(
        &mut self,
        prog: &str,
        c: &Compiled,
        rest: &[Arg],
        stdin: Option<&Stage>,
        heredoc: Option<&str>,
        depth: u32,
        desc: String,
    ) -> Stage {
        let spec = &c.spec;
        if spec.wrap.is_some() {
            return self.wrapper(prog, c, rest, stdin, heredoc, depth, desc);
        }
        // Operands, the subcommand chain, and the specs that apply.
        let mut specs: Vec<&Compiled> = vec![c];
        let mut sub_names: Vec<&str> = Vec::new();
        let mut operands: Vec<&Arg> = Vec::new();
        let mut options_done = false;
        let mut i = 0;
        while i < rest.len() {
            let a = &rest[i];
            let t = a.text.as_str();
            i += 1;
            if !options_done && t == "--" {
                options_done = true;
                continue;
            }
            if !options_done && t.starts_with('-') && t.len() > 1 && !a.procsub {
                if specs.iter().any(|s| s.spec.value_flags.iter().any(|f| f == t)) {
                    i += 1;
                }
                continue;
            }
            let cur = specs[specs.len() - 1];
            if !options_done {
                if let Some(s) = cur.sub.get(t) {
                    if s.spec.wrap.is_some() {
                        // `docker exec CONTAINER cmd`, `kubectl exec POD -- cmd`.
                        let name = format!("{prog} {t}");
                        return self.wrapper(&name, s, &rest[i..], stdin, heredoc, depth, desc);
                    }
                    specs.push(s);
                    sub_names.push(t);
                    continue;
                }
            }
            operands.push(a);
        }
        let sub = sub_names.join(" ");
        let args_text = short(&operands.iter().map(|a| a.text.as_str()).collect::<Vec<_>>().join(" "), 60);
        let mut caps: Vec<Cap> = Vec::new();
        let mut what: Option<String> = None;
        let end = rest.iter().position(|a| a.text == "--").unwrap_or(rest.len());
        // The most specific entry that says what it does decides the base
        // capabilities (`git log` is read-only though `git` writes).
        if let Some(s) = specs.iter().rev().find(|s| !s.spec.caps.is_empty() || s.spec.what.is_some()) {
            // Exact spellings only: a cluster like `-KILL` must not read as `-L`.
            let exact = |k: &String, t: &str| t == k || t.strip_prefix(k.as_str()).is_some_and(|r| r.starts_with('='));
            if s.spec.readonly_flags.iter().any(|k| rest[..end].iter().any(|a| exact(k, &a.text))) {
                caps.push(Cap::Read);
            } else {
                caps.extend(&s.spec.caps);
                what.clone_from(&s.spec.what);
            }
        }
        let mut extra: Vec<(Cap, String)> = Vec::new();
        for s in &specs {
            for (key, f) in &s.spec.flags {
                if rest[..end].iter().any(|a| flag_matches(key, &a.text)) {
                    caps.extend(&f.caps);
                    if let Some(w) = &f.what {
                        what = Some(w.clone());
                    }
                }
            }
        }
        let mut joined = rest.iter().map(|a| a.text.as_str()).collect::<Vec<_>>().join(" ");
        if let Some(h) = heredoc {
            joined.push('\n');
            joined.push_str(h);
        }
        if let Some(text) = stdin.and_then(|s| s.text.as_deref()) {
            joined.push('\n');
            joined.push_str(text);
        }
        if let Some(a) = rest.iter().find(|a| a.text.contains("/dev/tcp/") || a.text.contains("/dev/udp/")) {
            extra.push((Cap::Egress, format!("{prog} names a network socket {}", short(&a.text, 40))));
        }
        for s in &specs {
            for (m, re) in s.spec.matches.iter().zip(&s.matches) {
                let Some(caps_found) = captures(re, &joined) else { continue };
                let w = m.what.clone().map(|w| w.replace("{1}", &short(&caps_found, 40)));
                for cap in &m.caps {
                    match &w {
                        Some(w) => extra.push((*cap, render(w, prog, &sub, &args_text))),
                        None => caps.push(*cap),
                    }
                }
            }
        }

        // Shells, eval, inline code, embedded commands.
        let lang = spec.lang.clone().unwrap_or_else(|| prog.to_string());
        let mut stage = Stage { desc: desc.clone(), ..Default::default() };
        if specs.iter().any(|s| s.spec.shell) {
            self.shell(prog, rest, &operands, stdin, heredoc, depth, &mut stage);
        }
        if spec.eval {
            let code = Arg {
                text: rest.iter().map(|a| a.text.as_str()).collect::<Vec<_>>().join(" "),
                dynamic: rest.iter().any(|a| a.dynamic),
                procsub: false,
            };
            self.code(&code, prog, depth);
        }
        for (k, a) in rest.iter().enumerate() {
            if spec.command_flags.contains(&a.text) {
                if let Some(code) = rest.get(k + 1) {
                    self.code(code, prog, depth);
                }
            }
        }
        if !spec.code_flags.is_empty() {
            self.interpreter(prog, &lang, c, rest, &operands, stdin, heredoc);
        }
        if !spec.exec_flags.is_empty() {
            let mut k = 0;
            while k < rest.len() {
                if spec.exec_flags.iter().any(|f| *f == rest[k].text) {
                    let start = k + 1;
                    let mut end = start;
                    while end < rest.len() && rest[end].text != ";" && rest[end].text != "+" {
                        end += 1;
                    }
                    // `{}` is each file found: a computed operand.
                    let inner: Vec<Arg> = rest[start..end]
                        .iter()
                        .map(|a| Arg { dynamic: a.dynamic || a.text.contains("{}"), ..a.clone() })
                        .collect();
                    self.argv(&inner, None, None, depth + 1);
                    k = end;
                }
                k += 1;
            }
        }

        // Computed data handed to a network program leaves with it.
        let networked = caps.iter().any(|c| matches!(c, Cap::Fetch | Cap::Egress));
        if networked {
            if let Some(d) = rest.iter().find(|a| a.dynamic && !a.procsub) {
                extra.push((
                    Cap::Egress,
                    format!("sends computed data ({}) over the network with {prog}", short(&d.text, 40)),
                ));
            }
        }

        caps.sort();
        caps.dedup();
        let top = caps.iter().copied().max_by_key(|c| self.programs.tier(*c));
        if let Some(top) = top {
            let reason = match &what {
                Some(w) => render(w, prog, &sub, &args_text),
                None => default_reason(top, prog, &sub, &args_text),
            };
            let reason = match stdin {
                Some(up) if top == Cap::Egress && !up.desc.is_empty() => {
                    format!("{reason} (the output of {})", up.desc)
                }
                _ => reason,
            };
            for cap in &caps {
                if self.programs.tier(*cap) == self.programs.tier(top) {
                    self.find(*cap, reason.clone());
                    break;
                }
            }
            // Lower capabilities still count for the record.
            for cap in caps.iter().filter(|c| self.programs.tier(**c) < self.programs.tier(top)) {
                self.find(*cap, default_reason(*cap, prog, &sub, &args_text));
            }
        }
        for (cap, reason) in extra {
            self.find(cap, reason);
        }
        stage.downloads = caps.iter().any(|c| matches!(c, Cap::Fetch | Cap::Egress));
        stage.decodes = caps.contains(&Cap::Decode);
        stage.files = operands
            .iter()
            .filter(|a| a.text.starts_with('/') || a.text.starts_with('~'))
            .map(|a| a.text.clone())
            .take(3)
            .collect();
        if matches!(prog, "echo" | "printf") && !rest.iter().any(|a| a.dynamic) {
            stage.text = Some(printed(prog, rest));
        }
        stage
    }

    /// A wrapper: its own capabilities, then the command it runs.
    #[allow(clippy::too_many_arguments)]
    fn wrapper(
        &mut self,
        prog: &str,
        c: &Compiled,
        rest: &[Arg],
        stdin: Option<&Stage>,
        heredoc: Option<&str>,
        depth: u32,
        desc: String,
    ) -> Stage {
        let spec = &c.spec;
        let skip = spec.wrap.as_ref().map_or(0, |w| w.skip);
        let assignments = spec.wrap.as_ref().is_some_and(|w| w.assignments);
        for cap in &spec.caps {
            let what = spec.what.clone().unwrap_or_else(|| format!("runs a command through {prog}"));
            self.find(*cap, render(&what, prog, "", &desc));
        }
        let mut i = 0;
        while i < rest.len() {
            let t = rest[i].text.as_str();
            if t == "--" {
                i += 1;
                break;
            }
            if spec.command_flags.iter().any(|f| f == t) {
                if let Some(code) = rest.get(i + 1) {
                    self.code(code, prog, depth);
                }
                return Stage { desc, ..Default::default() };
            }
            if t.starts_with('-') && t.len() > 1 {
                i += if spec.value_flags.iter().any(|f| f == t) { 2 } else { 1 };
                continue;
            }
            if assignments && t.contains('=') && !t.starts_with('=') {
                i += 1;
                continue;
            }
            break;
        }
        let mut start = (i + skip).min(rest.len());
        if spec.wrap.as_ref().is_some_and(|w| w.after_dashdash) {
            if let Some(k) = rest.iter().position(|a| a.text == "--") {
                start = k + 1;
            }
        }
        let mut inner = &rest[start..];
        if inner.first().is_some_and(|a| a.text == "--") {
            inner = &inner[1..];
        }
        if inner.is_empty() {
            return Stage { desc, ..Default::default() };
        }
        if spec.feeds_args {
            let mut fed = inner.to_vec();
            fed.push(Arg { text: format!("(input of {prog})"), dynamic: true, procsub: false });
            return self.argv(&fed, stdin, heredoc, depth);
        }
        self.argv(inner, stdin, heredoc, depth)
    }

    /// Shell code held in a word: parsed again, or opaque when computed.
    fn code(&mut self, code: &Arg, prog: &str, depth: u32) {
        if code.dynamic {
            let reason = format!("runs computed shell code through {prog} ({})", short(&code.text, 40));
            self.opaque(reason);
            // What is static in it is judged as well.
            self.script(&code.text, depth + 1);
        } else {
            self.script(&code.text, depth + 1);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn shell(
        &mut self,
        prog: &str,
        rest: &[Arg],
        operands: &[&Arg],
        stdin: Option<&Stage>,
        heredoc: Option<&str>,
        depth: u32,
        stage: &mut Stage,
    ) {
        let dash_c = rest.iter().take_while(|a| a.text.starts_with('-')).any(|a| {
            let t = a.text.as_str();
            !t.starts_with("--") && t.len() >= 2 && t[1..].contains('c')
        });
        if dash_c {
            if let Some(code) = rest.iter().find(|a| !a.text.starts_with('-') || a.procsub) {
                self.code(code, prog, depth);
            }
            return;
        }
        match operands.first() {
            Some(a) if a.procsub => {
                self.opaque(format!("runs code from a process substitution {} in {prog}", a.text));
            }
            Some(a) if a.text != "-" => {
                self.find(Cap::Write, format!("runs the shell script {}", short(&a.text, 40)));
            }
            _ => {
                if let Some(doc) = heredoc {
                    self.script(doc, depth + 1);
                } else if let Some(up) = stdin {
                    match &up.text {
                        Some(text) => self.script(text, depth + 1),
                        None => self.piped(prog, up),
                    }
                } else {
                    stage.shell = true;
                }
            }
        }
    }

    fn piped(&mut self, into: &str, up: &Stage) {
        let reason = if up.downloads {
            format!("runs code downloaded by {} in {into}", up.desc)
        } else if up.decodes {
            format!("runs decoded code ({}) in {into}", up.desc)
        } else {
            format!("runs code piped from {} in {into}", up.desc)
        };
        self.opaque(reason);
    }

    #[allow(clippy::too_many_arguments)]
    fn interpreter(
        &mut self,
        prog: &str,
        lang: &str,
        c: &Compiled,
        rest: &[Arg],
        operands: &[&Arg],
        stdin: Option<&Stage>,
        heredoc: Option<&str>,
    ) {
        let spec = &c.spec;
        let inline = rest.iter().take_while(|a| a.text.starts_with('-') || a.procsub).position(|a| {
            let t = a.text.as_str();
            spec.code_flags.iter().any(|f| {
                t == f
                    || (f.len() == 2 && !t.starts_with("--") && t.len() > 2 && t[1..].contains(&f[1..]))
                    || (f.starts_with("--") && t.starts_with(&format!("{f}=")))
            })
        });
        if let Some(at) = inline {
            let code = rest.get(at + 1).filter(|a| !a.dynamic && at + 2 == rest.len());
            if let (Some(code), Some(unsafe_re)) = (code, &c.inline_unsafe) {
                if !unsafe_re.is_match(code.text.as_str()) && imports_only(&code.text, &spec.inline_safe_imports) {
                    return self.find(Cap::Read, format!("runs inline {lang} code that only computes"));
                }
            }
            return self.opaque(format!("runs inline {lang} code"));
        }
        if !spec.runs_script || rest.iter().any(|a| a.text == "-m" || a.text.starts_with("-m")) {
            return;
        }
        match operands.first() {
            Some(a) if a.procsub => self.opaque(format!("runs {lang} code from a process substitution {}", a.text)),
            Some(a) if a.text != "-" => self.find(Cap::Write, format!("runs the {lang} script {}", short(&a.text, 40))),
            _ => {
                if heredoc.is_some() {
                    self.opaque(format!("runs {lang} code from a here-document"));
                } else if let Some(up) = stdin {
                    self.piped(prog, up);
                }
            }
        }
    }
}

/// What `echo` or `printf` with static operands prints (closely enough to
/// parse it again when it is piped into a shell).
fn printed(prog: &str, rest: &[Arg]) -> String {
    let words: Vec<&str> =
        rest.iter().map(|a| a.text.as_str()).filter(|t| !matches!(*t, "-e" | "-n" | "-ne" | "-en" | "-E")).collect();
    if prog == "printf" {
        let Some((format, args)) = words.split_first() else { return String::new() };
        let mut out = ansi_c(format);
        for a in args {
            match out.find("%s").or_else(|| out.find("%b")) {
                Some(at) => out.replace_range(at..at + 2, a),
                None => {
                    out.push(' ');
                    out.push_str(a);
                }
            }
        }
        return out;
    }
    let text = words.join(" ");
    if rest.iter().any(|a| a.text.starts_with("-e")) {
        ansi_c(&text)
    } else {
        text
    }
}

/// Whether every `import x` / `from x import` of the code names a module in
/// `safe` (python syntax; `import a, b as c` too).
fn imports_only(code: &str, safe: &[String]) -> bool {
    let ok = |m: &str| {
        let root = m.trim().split(['.', ' ']).next().unwrap_or("");
        safe.iter().any(|s| s == root)
    };
    for stmt in code.split([';', '\n']) {
        let words: Vec<&str> = stmt.split_whitespace().collect();
        match words.as_slice() {
            ["import", ..] => {
                let list = stmt.trim_start().trim_start_matches("import");
                if !list.split(',').all(&ok) {
                    return false;
                }
            }
            ["from", module, ..] => {
                if !ok(module) {
                    return false;
                }
            }
            _ => {
                if words.contains(&"import") {
                    return false;
                }
            }
        }
    }
    true
}

fn captures(re: &regex_automata::meta::Regex, hay: &str) -> Option<String> {
    let mut caps = re.create_captures();
    re.captures(hay, &mut caps);
    if !caps.is_match() {
        return None;
    }
    Some(caps.get_group(1).map(|s| hay[s.range()].to_string()).unwrap_or_default())
}

fn render(template: &str, prog: &str, sub: &str, args: &str) -> String {
    let args = if args.is_empty() { "(no operands)" } else { args };
    template.replace("{prog}", prog).replace("{sub}", sub).replace("{args}", args)
}

fn default_reason(cap: Cap, prog: &str, sub: &str, args: &str) -> String {
    let name = if sub.is_empty() { prog.to_string() } else { format!("{prog} {sub}") };
    let args = if args.is_empty() { String::new() } else { format!(" {args}") };
    match cap {
        Cap::Read | Cap::Decode => format!("{name} only reads"),
        Cap::Fetch => format!("{name} reads from the network{args}"),
        Cap::Write => format!("{name} changes local files or state{args}"),
        Cap::Egress => format!("{name} sends data to another machine{args}"),
        Cap::Code => format!("{name} runs code the gate cannot see{args}"),
        Cap::Destroy => format!("{name} destroys data{args}"),
        Cap::Privileged => format!("{name} runs with privilege{args}"),
        Cap::Disk => format!("{name} writes disks or devices{args}"),
    }
}
