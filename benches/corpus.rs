//! Realistic text for benchmarks and tests, generated, deterministic.
//!
//! Four kinds of line, mixed evenly: chat prose, source code, JSON and logs.
//! Benign lines deliberately use the words that credential rules key on
//! (`token`, `key`, `secret`, `password`, `auth`) the way ordinary code and
//! prose do, plus numbers, dates, hashes and UUIDs, so a benchmark at 0%
//! density measures the cost of near-misses, not of an empty dictionary.
//! A chosen share of lines instead carries a sensitive value, taken from the
//! rules' own positive examples.

#![allow(dead_code)]

/// A small deterministic PRNG (xorshift64*), so no dependency is needed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
    pub fn hex(&mut self, n: usize) -> String {
        (0..n).map(|_| b"0123456789abcdef"[self.below(16)] as char).collect()
    }
}

const WORDS: &[&str] = &[
    "the",
    "a",
    "we",
    "should",
    "deploy",
    "service",
    "after",
    "review",
    "token",
    "limit",
    "budget",
    "team",
    "meeting",
    "notes",
    "customer",
    "asked",
    "about",
    "invoice",
    "schedule",
    "key",
    "idea",
    "performance",
    "regression",
    "release",
    "branch",
    "merge",
    "conflict",
    "password",
    "reset",
    "flow",
    "works",
    "now",
    "secret",
    "santa",
    "party",
    "on",
    "friday",
    "auth",
    "module",
    "needs",
    "tests",
    "please",
    "check",
    "dashboard",
    "latency",
    "spike",
    "yesterday",
    "around",
    "noon",
    "migration",
    "database",
    "index",
    "cache",
    "warm",
    "cold",
    "start",
    "queue",
    "backlog",
    "is",
    "and",
    "to",
    "of",
    "in",
    "for",
    "with",
    "that",
    "this",
    "it",
    "be",
    "are",
    "was",
];

const CODE: &[&str] = &[
    "let token = lexer.next_token()?;",
    "    if retries > 3 { return Err(Error::Timeout(elapsed)); }",
    "def parse_config(path):\n    return json.load(open(path))",
    "const apiKey = process.env.API_KEY;",
    "api_key = os.environ[\"API_KEY\"]",
    "for (int i = 0; i < count; i++) { total += items[i].price * 100; }",
    "password_field.clear(); // reset the form on logout",
    "    self.secret_store = SecretStore(backend=\"vault\")",
    "fn verify_key(key: &PublicKey, msg: &[u8]) -> bool {",
    "import { useAuth } from \"./hooks/useAuth\";",
    "#[derive(Debug, Clone, PartialEq, Eq, Hash)]",
    "    match self.state { State::Idle => 0, State::Busy(n) => n * 2 }",
    "SELECT id, name, created_at FROM users WHERE tenant_id = $1 LIMIT 50;",
    "git commit -m \"fix: handle empty token list in parser\"",
    "export PATH=\"$HOME/.cargo/bin:$PATH\"",
    "docker run --rm -p 8080:8080 -v \"$PWD:/src\" builder:1.4.2",
    "    assert_eq!(hash(b\"abc\"), 0x1f2e3d4c);",
    "const MAX_TOKENS: usize = 4096; // per request",
];

const LOGS: &[&str] = &[
    "INFO  [worker-{n}] handled GET /api/v1/items in {n}ms status=200 request_id={hex8}",
    "WARN  [scheduler] job {uuid} retried attempt={n} backoff={n}ms",
    "DEBUG [auth] token refreshed for session {hex8} ttl=3600s",
    "ERROR [db] query timeout after {n}ms on table orders (rows={n})",
    "INFO  [deploy] commit {hex40} rolled out to {n} pods",
    "INFO  [cache] hit ratio 0.{n} evictions={n} size={n}MiB",
];

const JSON: &[&str] = &[
    "{\"id\": {n}, \"name\": \"widget\", \"price\": 19.99, \"tags\": [\"blue\", \"large\"], \"created_at\": \"2026-11-22T10:{n2}:00Z\"}",
    "{\"model\": \"gpt-4o\", \"max_tokens\": {n}, \"temperature\": 0.2, \"stream\": true}",
    "{\"event\": \"login\", \"user_id\": {n}, \"auth_method\": \"sso\", \"success\": true}",
    "{\"commit\": \"{hex40}\", \"author\": \"ci\", \"files_changed\": {n}}",
    "{\"trace_id\": \"{uuid}\", \"span\": \"render\", \"duration_ms\": {n}}",
];

fn fill(rng: &mut Rng, template: &str) -> String {
    let mut s = template.to_string();
    while let Some(i) = s.find("{n}") {
        let v = rng.below(5000).to_string();
        s.replace_range(i..i + 3, &v);
    }
    while let Some(i) = s.find("{n2}") {
        let v = format!("{:02}", rng.below(60));
        s.replace_range(i..i + 4, &v);
    }
    while let Some(i) = s.find("{hex8}") {
        let v = rng.hex(8);
        s.replace_range(i..i + 6, &v);
    }
    while let Some(i) = s.find("{hex40}") {
        let v = rng.hex(40);
        s.replace_range(i..i + 7, &v);
    }
    while let Some(i) = s.find("{uuid}") {
        let v = format!("{}-{}-4{}-a{}-{}", rng.hex(8), rng.hex(4), rng.hex(3), rng.hex(3), rng.hex(12));
        s.replace_range(i..i + 6, &v);
    }
    s
}

fn prose(rng: &mut Rng) -> String {
    let n = 8 + rng.below(16);
    let mut s = String::new();
    for i in 0..n {
        let w = *rng.pick(WORDS);
        if i == 0 {
            let mut c = w.chars();
            s.extend(c.next().map(|c| c.to_ascii_uppercase()));
            s.push_str(c.as_str());
        } else {
            s.push(' ');
            s.push_str(w);
        }
    }
    s.push_str(if rng.below(4) == 0 { "?" } else { "." });
    s
}

/// One benign line of a random kind.
pub fn benign_line(rng: &mut Rng) -> String {
    match rng.below(4) {
        0 => prose(rng),
        1 => rng.pick(CODE).to_string(),
        2 => {
            let t = *rng.pick(JSON);
            fill(rng, t)
        }
        _ => {
            let t = *rng.pick(LOGS);
            format!(
                "2026-11-22T{:02}:{:02}:{:02}.{:03}Z {}",
                rng.below(24),
                rng.below(60),
                rng.below(60),
                rng.below(1000),
                fill(rng, t)
            )
        }
    }
}

/// A line carrying one sensitive value from `secrets`.
pub fn secret_line(rng: &mut Rng, secrets: &[String]) -> String {
    let s = rng.pick(secrets);
    match rng.below(3) {
        0 => format!("{} {s}", prose(rng)),
        1 => s.to_string(),
        _ => format!("config: {s} # {}", rng.hex(6)),
    }
}

/// About `size` bytes of text in which `density` of the lines carry a
/// secret. Returns the text and the number of secret lines.
pub fn generate(size: usize, density: f64, secrets: &[String], seed: u64) -> (String, usize) {
    let mut rng = Rng::new(seed);
    let mut out = String::with_capacity(size + 256);
    let mut secret_lines = 0;
    let mut lines = 0usize;
    while out.len() < size {
        lines += 1;
        // Deterministic spacing: a secret line whenever the running share
        // falls below the target.
        if !secrets.is_empty() && (secret_lines as f64) < density * lines as f64 {
            out.push_str(&secret_line(&mut rng, secrets));
            secret_lines += 1;
        } else {
            out.push_str(&benign_line(&mut rng));
        }
        out.push('\n');
    }
    (out, secret_lines)
}

/// A chat message of about `size` bytes: prose with a little code.
pub fn chat_message(size: usize, seed: u64) -> String {
    let mut rng = Rng::new(seed);
    let mut out = String::with_capacity(size + 128);
    while out.len() < size {
        if rng.below(5) == 0 {
            let code: &&str = rng.pick(CODE);
            out.push_str(code);
        } else {
            out.push_str(&prose(&mut rng));
        }
        out.push('\n');
    }
    out
}
