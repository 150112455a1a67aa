//! A deterministic generator of labelled redaction cases.
//!
//! From a seed it builds:
//! - **context** positives: a credential named by its context (`FOO_API_KEY=`,
//!   `service_token:`, `password =>`, `-p<pw>`, `Password=...;`, prose) in
//!   many host formats, with random values of realistic alphabets and lengths
//!   and service names made up from syllables, so no rule list knows them;
//! - **provider** positives: tokens of documented formats standing alone;
//! - **url** positives: userinfo of any scheme, credential query parameters,
//!   webhook paths, and ADO.NET/JDBC/ODBC connection strings;
//! - **pii** cases: emails, phones in national and international formats,
//!   cards of every issuer (12-19 digits, with and without separators),
//!   IBANs in any case and grouping, SSNs, IP addresses, with spans;
//! - **negative** near misses: the same contexts holding placeholders,
//!   templates, variable references, docs prose, and hashes/uuids in benign
//!   contexts.
//!
//! Two seeds give two disjoint draws of the same distributions; the syllable
//! lists are split so that the held-out draw (odd seeds) names services the
//! tuning draw (even seeds) never saw.

use super::{Case, Span};

/// A small, fast, deterministic PRNG (SplitMix64): the corpus must not
/// change with a dependency's version.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }
    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi - lo + 1)
    }
    /// One element.
    pub fn pick<'a, T: ?Sized>(&mut self, xs: &[&'a T]) -> &'a T {
        xs[self.below(xs.len())]
    }
    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
    /// `lo..=hi` bytes drawn from `alphabet`.
    pub fn string_in(&mut self, alphabet: &[u8], lo: usize, hi: usize) -> String {
        let n = self.range(lo, hi);
        self.string(alphabet, n)
    }
    /// `n` bytes drawn from `alphabet`.
    pub fn string(&mut self, alphabet: &[u8], n: usize) -> String {
        (0..n).map(|_| alphabet[self.below(alphabet.len())] as char).collect()
    }
}

const HEX: &[u8] = b"0123456789abcdef";
const HEX_UP: &[u8] = b"0123456789ABCDEF";
const B62: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B64URL: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const LOWER_NUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
const UPPER_NUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const PW: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!#%^*-_+.~@";

/// Syllables for made-up service names; even seeds use the first half,
/// odd seeds the second.
const SYLLABLES: [&[&str]; 2] = [
    &["zen", "pay", "flux", "ora", "nimb", "quik", "tera", "vox", "lum", "kor", "sync", "dash", "mint", "jet"],
    &["bri", "hex", "nova", "pulse", "strat", "yon", "gal", "cirr", "opt", "wisp", "trel", "mav", "quo", "fyr"],
];
const SUFFIXES: &[&str] = &["", "", "", "io", "ly", "hub", "cloud", "api", "pay", "mail", "db", "ai", "ops"];

/// Real services without a documented token prefix (their keys are plain
/// hex/base62 next to the name).
const REAL_SERVICES: [&[&str]; 2] = [
    &["mailgun", "pagerduty", "contentful", "algolia", "mixpanel", "segment", "zendesk", "freshdesk", "hubspot"],
    &["pusher", "bugsnag", "rollbar", "sendinblue", "mapbox", "airtable", "typeform", "calendly", "trello"],
];

fn service(rng: &mut Rng, half: usize) -> String {
    if rng.chance(0.25) {
        return rng.pick(REAL_SERVICES[half]).to_string();
    }
    let n = rng.range(1, 2);
    let mut s = String::new();
    for _ in 0..n {
        s += rng.pick(SYLLABLES[half]);
    }
    s += rng.pick(SUFFIXES);
    s
}

/// Credential words as they appear in names (snake form).
const CRED_WORDS: &[&str] = &[
    "api_key",
    "apikey",
    "secret",
    "secret_key",
    "token",
    "access_token",
    "auth_token",
    "password",
    "passwd",
    "pwd",
    "pass",
    "client_secret",
    "private_key",
    "signing_secret",
    "webhook_secret",
    "credentials",
    "access_key",
    "app_key",
    "app_secret",
    "license_key",
    "session_token",
    "refresh_token",
    "master_key",
    "encryption_key",
    "api_secret",
    "consumer_secret",
    "key",
    "auth",
    "bearer_token",
    "api_token",
    "secret_access_key",
];

/// How a name is written.
#[derive(Clone, Copy)]
enum Case_ {
    UpperSnake,
    LowerSnake,
    Camel,
    Pascal,
    Kebab,
    Dotted,
}

fn name(rng: &mut Rng, svc: &str, word: &str) -> String {
    let parts: Vec<String> = if svc.is_empty() { vec![] } else { vec![svc.to_string()] }
        .into_iter()
        .chain(word.split('_').map(str::to_string))
        .collect();
    let style =
        [Case_::UpperSnake, Case_::LowerSnake, Case_::Camel, Case_::Pascal, Case_::Kebab, Case_::Dotted][rng.below(6)];
    match style {
        Case_::UpperSnake => parts.join("_").to_ascii_uppercase(),
        Case_::LowerSnake => parts.join("_"),
        Case_::Kebab => parts.join("-"),
        Case_::Dotted => parts.join("."),
        Case_::Camel | Case_::Pascal => {
            let mut s = String::new();
            for (i, p) in parts.iter().enumerate() {
                if i == 0 && matches!(style, Case_::Camel) {
                    s += p;
                } else {
                    let mut c = p.chars();
                    if let Some(f) = c.next() {
                        s.push(f.to_ascii_uppercase());
                        s += c.as_str();
                    }
                }
            }
            s
        }
    }
}

/// A random credential value of a realistic shape.
fn value(rng: &mut Rng, word: &str) -> String {
    let passwordish = word.contains("pass") || word == "pwd";
    if passwordish && rng.chance(0.6) {
        return password(rng);
    }
    match rng.below(10) {
        0 => {
            let n = [24, 32, 40, 48, 64][rng.below(5)];
            rng.string(HEX, n)
        }
        1 => rng.string_in(HEX_UP, 20, 40),
        2 | 3 => rng.string_in(B62, 20, 64),
        4 => {
            let n = 4 * rng.range(6, 16);
            let mut s = rng.string(B64, n);
            if rng.chance(0.5) {
                s.pop();
                s.push('=');
            }
            s
        }
        5 => rng.string_in(B64URL, 22, 60),
        6 => uuid(rng),
        7 => rng.string_in(LOWER_NUM, 20, 40),
        8 => rng.string_in(UPPER_NUM, 16, 32),
        _ => format!("{}.{}", rng.string_in(B62, 8, 16), rng.string_in(B64URL, 20, 40)),
    }
}

/// A human password: words, digits, symbols; or a random one.
fn password(rng: &mut Rng) -> String {
    const WORDS: &[&str] = &[
        "Summer", "winter", "Dragon", "monkey", "Sunshine", "tiger", "Falcon", "maple", "Orion", "pepper", "Rocket",
        "violet",
    ];
    match rng.below(3) {
        0 => format!("{}{}{}", rng.pick(WORDS), rng.range(10, 9999), rng.pick(&["!", "#", "$", "@", "", "?", "*"])),
        1 => format!("{}-{}-{}", rng.pick(WORDS), rng.pick(WORDS), rng.range(1, 99)),
        _ => rng.string_in(PW, 10, 24),
    }
}

fn uuid(rng: &mut Rng) -> String {
    let h = rng.string(HEX, 32);
    format!("{}-{}-{}-{}-{}", &h[..8], &h[8..12], &h[12..16], &h[16..20], &h[20..])
}

/// Put `name` and `val` in a host format. Returns the text.
fn host(rng: &mut Rng, kind: usize, name: &str, val: &str, svc: &str) -> (String, &'static str) {
    let q = if rng.chance(0.5) { '"' } else { '\'' };
    match kind {
        0 => (if rng.chance(0.5) { format!("{name}={val}") } else { format!("export {name}=\"{val}\"") }, "env"),
        1 => (format!("{svc}:\n  {name}: {}\n  timeout: 30", maybe_quote(rng, val, q)), "yaml"),
        2 => (format!("{{\n  \"{name}\": \"{val}\",\n  \"region\": \"us-east-1\"\n}}"), "json"),
        3 => (format!("[{svc}]\n{name} = \"{val}\""), "toml"),
        4 => (format!("[{svc}]\n{name}={val}\nretries=3"), "ini"),
        5 => (
            if rng.chance(0.5) {
                format!("<config>\n  <{name}>{val}</{name}>\n</config>")
            } else {
                format!("<add key=\"{name}\" value=\"{val}\" />")
            },
            "xml",
        ),
        6 => (format!("{name} = {q}{val}{q}\nclient = Client({name})"), "python"),
        7 => (
            if rng.chance(0.5) {
                format!("const {name} = {q}{val}{q};")
            } else {
                format!("const client = new Client({{ {name}: {q}{val}{q} }});")
            },
            "js",
        ),
        8 => (format!("{name} := \"{val}\""), "go"),
        9 => (format!("private static final String {name} = \"{val}\";"), "java"),
        10 => {
            (if rng.chance(0.5) { format!("config.{name} = '{val}'") } else { format!(":{name} => '{val}',") }, "ruby")
        }
        11 => (if rng.chance(0.5) { format!("'{name}' => '{val}',") } else { format!("${name} = \"{val}\";") }, "php"),
        12 => (format!("var {name} = \"{val}\";"), "csharp"),
        13 => {
            (format!("2024-05-0{} 12:0{}:11 INFO {svc}: using {name}={val}", rng.range(1, 9), rng.range(0, 9)), "log")
        }
        14 => (format!("| {svc} | {name} | `{val}` |"), "markdown"),
        15 => (
            match rng.below(3) {
                0 => format!("The {svc} {} is {val}", name.replace(['_', '-', '.'], " ")),
                1 => format!(
                    "{} {} {val}",
                    svc.to_ascii_uppercase(),
                    name.replace(['_', '-', '.'], " ").to_ascii_uppercase()
                ),
                _ => format!("here is my {svc} {}: {val} please keep it safe", name.replace(['_', '-', '.'], " ")),
            },
            "prose",
        ),
        16 => (format!("{name}: {val}"), "header"),
        _ => (format!("docker run -e {name}={val} {svc}/server:latest"), "shell"),
    }
}

fn maybe_quote(rng: &mut Rng, v: &str, q: char) -> String {
    if rng.chance(0.5) {
        format!("{q}{v}{q}")
    } else {
        v.to_string()
    }
}

const HOSTS: usize = 18;

/// Command lines and strings whose credential is named by a flag or a
/// position, not by an assignment.
fn command(rng: &mut Rng, svc: &str) -> (String, String, &'static str) {
    let pw = password(rng);
    let tok = value(rng, "token");
    let user = rng.pick(&["admin", "root", "deploy", "svc_app", "jenkins"]).to_string();
    match rng.below(9) {
        0 => (format!("mysql -h db.{svc}.internal -u {user} -p{pw} app"), pw, "shell"),
        1 => (format!("pg_dump --password {pw} --username {user} {svc}"), pw, "shell"),
        2 => (format!("curl -u {user}:{pw} https://{svc}.example.net/api"), pw, "shell"),
        3 => (format!("curl -H \"Authorization: Bearer {tok}\" https://api.{svc}.com/v1/me"), tok, "shell"),
        4 => (format!("docker login -u {user} -p {pw} registry.{svc}.io"), pw, "shell"),
        5 => (format!("{svc}-cli login --token {tok}"), tok, "shell"),
        6 => (format!("curl https://api.{svc}.com/v2/items -H 'X-Api-Key: {tok}'"), tok, "shell"),
        7 => (format!("sshpass -p '{pw}' ssh {user}@{svc}.internal"), pw, "shell"),
        _ => (format!("{svc} --api-key={tok} --verbose"), tok, "shell"),
    }
}

const SCHEMES: &[&str] = &[
    "amqp",
    "amqps",
    "redis",
    "rediss",
    "smtp",
    "smtps",
    "ftp",
    "sftp",
    "mongodb",
    "mongodb+srv",
    "postgres",
    "postgresql",
    "mysql",
    "https",
    "http",
    "ldap",
    "mqtt",
    "nats",
    "sqlserver",
    "couchbase",
    "clickhouse",
    "memcached",
    "imap",
    "git+https",
];

fn url_case(rng: &mut Rng, svc: &str) -> (String, String) {
    let user = rng.pick(&["admin", "app", "guest", "deploy", "u_reader", "service-account"]).to_string();
    let pw = if rng.chance(0.5) { password(rng) } else { rng.string_in(B62, 12, 32) };
    let pw_url = pw.replace('%', "%25").replace('@', "%40").replace('#', "%23");
    let host = format!("{svc}.{}", rng.pick(&["internal", "example.com", "prod.local", "cloud.net"]));
    match rng.below(16) {
        10 => {
            // Only a password in the userinfo: the whole userinfo is the secret.
            let scheme = rng.pick(&["redis", "rediss", "amqp", "memcached", "nats", "https"]);
            (format!("REDIS_URL={scheme}://:{pw_url}@{host}:6379/0"), pw_url)
        }
        11 => {
            let kind = rng.pick(&["mysql", "postgresql", "sqlserver", "oracle:thin", "mariadb"]);
            (format!("spring.datasource.url=jdbc:{kind}://{user}:{pw_url}@{host}:3306/app"), pw_url)
        }
        12 => {
            let t = format!("{}@{}/IncomingWebhook/{}/{}", uuid(rng), uuid(rng), rng.string(HEX, 32), uuid(rng));
            (format!("TEAMS_WEBHOOK_URL=https://{svc}.webhook.office.com/webhookb2/{t}"), t)
        }
        13 => {
            let t = rng.string(B64URL, 22);
            let event = rng.pick(&["deploy_done", "alert", "backup"]);
            (format!("curl -X POST https://maker.ifttt.com/trigger/{event}/with/key/{t}"), t)
        }
        14 => {
            let (t, base) = if rng.chance(0.5) {
                (rng.string(LOWER_NUM, 26), format!("https://mattermost.{svc}.io"))
            } else {
                (format!("{}/{}", rng.string(B62, 17), rng.string(B62, 48)), format!("https://rocket.{svc}.io"))
            };
            (format!("notify_url: {base}/hooks/{t}"), t)
        }
        15 => {
            let t = format!("{}/{}", rng.string(b"0123456789", 18), rng.string(B62, 32));
            let ws = format!("T{}/A{}", rng.string(UPPER_NUM, 10), rng.string(UPPER_NUM, 10));
            (format!("url = \"https://hooks.slack.com/workflows/{ws}/{t}\""), t)
        }
        0..=3 => {
            let scheme = rng.pick(SCHEMES);
            let u = format!(
                "{scheme}://{user}:{pw_url}@{host}:{}/{}",
                rng.range(1000, 65000),
                rng.pick(&["db", "vhost", "0", ""])
            );
            let text = match rng.below(4) {
                0 => format!("DATABASE_URL={u}"),
                1 => format!("connecting to {u} ..."),
                2 => format!("url: \"{u}\""),
                _ => format!("conn = connect(\"{u}\")"),
            };
            (text, pw_url)
        }
        4 | 5 => {
            let p = rng.pick(&[
                "access_token",
                "api_key",
                "key",
                "sig",
                "token",
                "client_secret",
                "signature",
                "apikey",
                "auth",
                "password",
                "secret",
            ]);
            let v = value(rng, "token").replace('+', "%2B").replace('/', "%2F").replace('=', "%3D");
            (format!("GET https://api.{svc}.com/v1/data?limit=10&{p}={v}&fmt=json"), v)
        }
        6 => {
            let t = format!("T{}/B{}/{}", rng.string(UPPER_NUM, 10), rng.string(UPPER_NUM, 10), rng.string(B62, 24));
            (format!("SLACK_WEBHOOK=https://hooks.slack.com/services/{t}"), t)
        }
        7 => {
            let id = rng.string(b"0123456789", 18);
            let t = rng.string(B64URL, 68);
            let domain = rng.pick(&["discord.com", "discordapp.com"]);
            (format!("webhook: https://{domain}/api/webhooks/{id}/{t}"), t)
        }
        8 => {
            let t = rng.string(B64URL, 43);
            let k = format!("AIzaSy{}", rng.string(B64URL, 33));
            (
                format!(
                    "POST https://chat.googleapis.com/v1/spaces/AAAA{}/messages?key={k}&token={t}",
                    rng.string(B62, 7)
                ),
                t,
            )
        }
        _ => {
            let t = format!("{}/{}", rng.range(100000, 9999999), rng.string(LOWER_NUM, 6));
            (format!("zap = \"https://hooks.zapier.com/hooks/catch/{t}/\""), t)
        }
    }
}

fn conn_string(rng: &mut Rng, svc: &str) -> (String, String) {
    let pw = password(rng).replace(';', "");
    let acct = rng.string(B64, 86) + "==";
    match rng.below(6) {
        0 => (
            format!(
                "Server=tcp:{svc}.database.windows.net,1433;Initial Catalog=app;User ID=sa;Password={pw};Encrypt=True;"
            ),
            pw,
        ),
        1 => (
            format!("\"ConnectionStrings\": {{ \"Default\": \"Data Source={svc};Database=app;Uid=app;Pwd={pw};\" }}"),
            pw,
        ),
        2 => (format!("jdbc:mysql://{svc}:3306/app?user=app&password={pw}&useSSL=true"), pw),
        3 => (format!("jdbc:sqlserver://{svc}:1433;databaseName=app;user=app;password={pw};"), pw),
        4 => (format!("Driver={{PostgreSQL Unicode}};Server={svc};Port=5432;Database=app;Uid=app;Pwd={pw};"), pw),
        _ => (
            format!(
                "DefaultEndpointsProtocol=https;AccountName={svc};AccountKey={acct};EndpointSuffix=core.windows.net"
            ),
            acct,
        ),
    }
}

/// Documented token formats: (prefix, alphabet, body length).
fn provider_token(rng: &mut Rng) -> String {
    match rng.below(24) {
        0 => format!("ghp_{}", rng.string(B62, 36)),
        1 => format!("github_pat_{}_{}", rng.string(B62, 22), rng.string(B62, 59)),
        2 => format!("AKIA{}", rng.string(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16)),
        3 => format!("sk-ant-api03-{}-{}AA", rng.string(B64URL, 80), rng.string(B64URL, 12)),
        4 => format!("sk-proj-{}", rng.string(B64URL, 120)),
        5 => format!(
            "xoxb-{}-{}-{}",
            rng.range(1000000000, 9999999999),
            rng.range(1000000000, 9999999999),
            rng.string(B62, 24)
        ),
        6 => format!("glpat-{}", rng.string(B64URL, 20)),
        7 => format!("sk_live_{}", rng.string(B62, 24)),
        8 => format!("rk_live_{}", rng.string(B62, 24)),
        9 => format!("SG.{}.{}", rng.string(B64URL, 22), rng.string(B64URL, 43)),
        10 => format!("AIza{}", rng.string(B64URL, 35)),
        11 => format!("npm_{}", rng.string(B62, 36)),
        12 => format!("pypi-AgEIcHlwaS5vcmc{}", rng.string(B64URL, 60)),
        13 => format!("hf_{}", rng.string(B62, 34)),
        14 => format!("dop_v1_{}", rng.string(HEX, 64)),
        15 => format!("shpat_{}", rng.string(HEX, 32)),
        16 => format!(
            "xapp-1-A{}-{}-{}",
            rng.string(UPPER_NUM, 10),
            rng.range(1000000000, 9999999999),
            rng.string(HEX, 64)
        ),
        17 => format!("glsa_{}_{}", rng.string(B62, 32), rng.string(HEX, 8)),
        18 => format!("lin_api_{}", rng.string(B62, 40)),
        19 => format!("SK{}", rng.string(HEX, 32)),
        20 => format!("dapi{}", rng.string(HEX, 32)),
        21 => format!("pk_live_{}", rng.string(B62, 24)),
        22 => format!("gsk_{}", rng.string(B62, 52)),
        _ => format!("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ{}.{}", rng.string(B64URL, 40), rng.string(B64URL, 43)),
    }
}

/// Near misses: credential contexts holding something that is not a secret.
fn not_a_secret(rng: &mut Rng, name: &str, svc: &str) -> String {
    let upper = name.to_ascii_uppercase().replace(['-', '.'], "_");
    match rng.below(22) {
        0 => format!("${{{upper}}}"),
        1 => format!("${upper}"),
        2 => format!("{{{{ .Values.{svc}.{name} }}}}"),
        3 => format!("{{{{ {name} }}}}"),
        4 => format!("<your-{svc}-api-key>"),
        5 => "xxxxxxxxxxxxxxxxxxxxxxxx".to_string(),
        6 => "your_api_key_here".to_string(),
        7 => "********".to_string(),
        8 => format!("os.environ[\"{upper}\"]"),
        9 => format!("process.env.{upper}"),
        10 => format!("os.getenv(\"{upper}\")"),
        11 => format!("config.get(\"{name}\")"),
        12 => format!("settings.{upper}"),
        13 => "None".to_string(),
        14 => "null".to_string(),
        15 => "changeme".to_string(),
        16 => "REPLACE_ME".to_string(),
        17 => format!("get_{}()", name.replace(['-', '.'], "_").to_ascii_lowercase()),
        18 => "<redacted>".to_string(),
        19 => format!("%({name})s"),
        20 => format!("ENV['{upper}']"),
        _ => format!("System.getenv(\"{upper}\")"),
    }
}

/// Docs prose and benign identifiers around credential words.
fn docs_negative(rng: &mut Rng, svc: &str) -> String {
    let sha = rng.string(HEX, 40);
    let digest = rng.string(HEX, 64);
    let id = uuid(rng);
    match rng.below(24) {
        16 => format!("DATABASE_URL=postgres://{svc}@db.internal:5432/app"),
        17 => format!("AMQP_URL=amqp://app:${{AMQP_PASSWORD}}@{svc}:5672/"),
        18 => format!("# e.g. redis://user:password@{svc}:6379/0"),
        19 => format!("git clone ssh://git@{svc}.example.com:2222/org/repo.git"),
        20 => format!("url: mongodb+srv://{{{{ user }}}}:{{{{ pass }}}}@{svc}.mongodb.net/"),
        21 => "SLACK_WEBHOOK=https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX".to_string(),
        22 => format!("See https://{svc}.example.com/hooks/ for the list of hooks."),
        23 => format!("jdbc:mysql://{svc}:3306/app?user=app&password=$DB_PASS"),
        0 => format!("Set the {svc} API key in the environment before running the tests."),
        1 => "token: the access token used to authenticate requests (string, required)".to_string(),
        2 => format!("password_min_length = {}", rng.range(8, 16)),
        3 => format!("max_tokens={}", rng.range(256, 8192)),
        4 => format!("commit {sha}\nAuthor: dev <dev@users.noreply.github.com>"),
        5 => format!("sha256sum: {digest}  {svc}-1.2.3.tar.gz"),
        6 => format!("request_id={id} status=200 duration_ms={}", rng.range(1, 900)),
        7 => format!("\"integrity\": \"sha512-{}==\"", rng.string(B64, 86)),
        8 => "If the token has expired, call refresh() to obtain a new one.".to_string(),
        9 => format!("def get_api_key(self) -> str:\n    return self._{svc}_api_key"),
        10 => format!("auth = OAuthHandler(consumer_key, consumer_secret)  # {svc}"),
        11 => format!("The password must contain at least {} characters.", rng.range(8, 12)),
        12 => format!("secret_name: {svc}-db-credentials"),
        13 => format!("token_count: {}", rng.range(10, 100000)),
        14 => format!("key: {svc}.settings.timeout"),
        _ => format!("| token | string | The {svc} access token. |"),
    }
}

fn luhn_complete(digits: &mut Vec<u8>) {
    // Append the check digit to `digits`.
    let mut sum = 0u32;
    for (i, d) in digits.iter().rev().enumerate() {
        let mut v = *d as u32;
        if i % 2 == 0 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    digits.push(((10 - sum % 10) % 10) as u8);
}

/// A card number of a real issuer range and length, Luhn-valid.
fn card(rng: &mut Rng) -> String {
    let (prefix, len): (String, usize) = match rng.below(11) {
        0 => ("4".into(), *[13, 16, 16, 19].get(rng.below(4)).unwrap()),
        1 => (format!("5{}", rng.range(1, 5)), 16),
        2 => (format!("{}", rng.range(2221, 2720)), 16),
        3 => (format!("3{}", rng.pick(&["4", "7"])), 15),
        4 => (rng.pick(&["6011", "644", "65"]).to_string(), 16),
        5 => (format!("35{}", rng.range(28, 89)), *[16, 17, 18, 19].get(rng.below(4)).unwrap()),
        6 => (rng.pick(&["300", "305", "36", "38"]).to_string(), 14),
        7 => (format!("62{}", rng.range(10, 99)), *[16, 17, 18, 19].get(rng.below(4)).unwrap()),
        8 => {
            (rng.pick(&["5018", "5020", "5038", "5893", "6304", "6759", "6761", "6763"]).to_string(), rng.range(12, 19))
        }
        9 => (format!("{}", rng.range(2200, 2204)), 16),
        _ => (rng.pick(&["6062", "6370"]).to_string(), 16),
    };
    let mut d: Vec<u8> = prefix.bytes().map(|b| b - b'0').collect();
    while d.len() < len - 1 {
        d.push(rng.below(10) as u8);
    }
    luhn_complete(&mut d);
    let s: String = d.iter().map(|x| (b'0' + x) as char).collect();
    match rng.below(3) {
        0 => s,
        _ => {
            let sep = if rng.chance(0.5) { " " } else { "-" };
            let groups: &[usize] = match len {
                15 => &[4, 6, 5],
                14 => &[4, 6, 4],
                _ => &[4, 4, 4, 4, 4],
            };
            let mut out = String::new();
            let mut at = 0;
            for g in groups {
                if at >= s.len() {
                    break;
                }
                let end = (at + g).min(s.len());
                if at > 0 {
                    out += sep;
                }
                out += &s[at..end];
                at = end;
            }
            if at < s.len() {
                out += &s[at..];
            }
            out
        }
    }
}

/// A phone number in one of many national and international formats.
fn phone(rng: &mut Rng) -> String {
    let f = rng.pick(PHONE_FORMATS);
    phone_in_format(rng, f)
}

/// The phone formats drawn from (`#` is a digit), for per-format figures.
pub const PHONE_FORMATS: &[&str] = &[
    "###-###-####",
    "(###) ###-####",
    "(###)###-####",
    "###.###.####",
    "+1-###-###-####",
    "001-###-###-####x###",
    "###-###-####x####",
    "+1 (###) ###-####",
    "+44 20 #### ####",
    "+44 (0)#### ######",
    "07### ######",
    "0#### ######",
    "+33 # ## ## ## ##",
    "0# ## ## ## ##",
    "+49 ### #######",
    "+49 (0)### ########",
    "0### #######",
    "+91 ##### #####",
    "+61 # #### ####",
    "(0#) #### ####",
    "+34 ### ### ###",
    "+39 ### ### ####",
    "(##) ###-###",
    "0### ### ## ##",
    "+7 ### ###-##-##",
    "+81 ##-####-####",
    "+55 (##) #####-####",
    "+31 6 ########",
    "+###########",
    // Added after the phone rules were last changed: not tuned on.
    "##########",
    "+1.###.###.####",
    "(###) ###.####",
    "0##-####-####",
    "(0###) ######",
    "0##/#######",
    "+353 ## ### ####",
    "###/###-####",
];

/// A phone number in format `f` (`#` is a digit; an area code after `(`
/// or at the start does not begin with 0 or 1).
pub fn phone_in_format(rng: &mut Rng, f: &str) -> String {
    let mut out = String::new();
    let mut first = true;
    for ch in f.chars() {
        if ch == '#' {
            // Area codes do not start with 0 or 1 right after a paren or at the start.
            let d = if first { rng.range(2, 9) } else { rng.below(10) };
            out.push((b'0' + d as u8) as char);
            first = false;
        } else {
            out.push(ch);
            if ch == '(' || ch == ' ' && out.len() <= 1 {
                first = true;
            }
        }
    }
    out
}

const IBAN_SPECS: &[(&str, &str)] = &[
    ("DE", "nnnnnnnnnnnnnnnnnn"),
    ("GB", "aaaannnnnnnnnnnnnn"),
    ("FR", "nnnnnnnnnncccccccccccnn"),
    ("ES", "nnnnnnnnnnnnnnnnnnnn"),
    ("IT", "annnnnnnnnncccccccccccc"),
    ("NL", "aaaannnnnnnnnn"),
    ("BE", "nnnnnnnnnnnn"),
    ("CH", "nnnnncccccccccccc"),
    ("PL", "nnnnnnnnnnnnnnnnnnnnnnnn"),
    ("AT", "nnnnnnnnnnnnnnnn"),
    ("SE", "nnnnnnnnnnnnnnnnnnnn"),
    ("IE", "aaaannnnnnnnnnnnnn"),
    ("PT", "nnnnnnnnnnnnnnnnnnnnn"),
    ("NO", "nnnnnnnnnnn"),
];

fn iban(rng: &mut Rng) -> String {
    let (cc, spec) = IBAN_SPECS[rng.below(IBAN_SPECS.len())];
    let bban: String = spec
        .chars()
        .map(|c| match c {
            'n' => (b'0' + rng.below(10) as u8) as char,
            'a' => (b'A' + rng.below(26) as u8) as char,
            _ => UPPER_NUM[rng.below(36)] as char,
        })
        .collect();
    // Check digits: 98 - (bban + cc + "00") mod 97.
    let rearranged = format!("{bban}{cc}00");
    let mut rem = 0u32;
    for ch in rearranged.chars() {
        let v = if ch.is_ascii_digit() { ch as u32 - '0' as u32 } else { ch as u32 - 'A' as u32 + 10 };
        rem = if v >= 10 { (rem * 100 + v) % 97 } else { (rem * 10 + v) % 97 };
    }
    let check = 98 - rem;
    let raw = format!("{cc}{check:02}{bban}");
    let grouped = if rng.chance(0.5) {
        raw.as_bytes().chunks(4).map(|c| std::str::from_utf8(c).unwrap()).collect::<Vec<_>>().join(" ")
    } else {
        raw
    };
    if rng.chance(0.3) {
        grouped.to_ascii_lowercase()
    } else {
        grouped
    }
}

fn ssn(rng: &mut Rng) -> String {
    let area = loop {
        let a = rng.range(1, 899);
        if a != 666 {
            break a;
        }
    };
    let sep = if rng.chance(0.8) { "-" } else { " " };
    format!("{area:03}{sep}{:02}{sep}{:04}", rng.range(1, 99), rng.range(1, 9999))
}

fn ip(rng: &mut Rng) -> String {
    if rng.chance(0.8) {
        format!("{}.{}.{}.{}", rng.range(11, 223), rng.range(0, 255), rng.range(0, 255), rng.range(1, 254))
    } else {
        format!("2001:db8:{:x}:{:x}::{:x}", rng.range(1, 0xffff), rng.range(1, 0xffff), rng.range(1, 0xffff))
    }
}

fn email(rng: &mut Rng) -> String {
    const FIRST: &[&str] = &["jane", "li.wei", "o.brien", "mario", "a.kumar", "sven", "chloe", "t.nguyen"];
    const DOMAINS: &[&str] = &["gmail.com", "acme-corp.com", "mail.example.co.uk", "uni-heidelberg.de", "yahoo.fr"];
    format!("{}{}@{}", rng.pick(FIRST), rng.range(1, 99), rng.pick(DOMAINS))
}

/// A PII case: a line of prose, CSV, JSON or a form with one or two items.
fn pii_case(rng: &mut Rng) -> Case {
    let kinds = ["email", "phone", "phone", "card", "card", "iban", "ssn", "ip"];
    let n = rng.range(1, 2);
    let mut text = String::new();
    let mut spans = Vec::new();
    const LEAD: &[&str] = &[
        "Customer record: ",
        "Please call me at ",
        "name,contact\nJohn Smith,",
        "{\"customer\": {\"value\": \"",
        "Pay with ",
        "Kontakt: ",
        "- ",
        "Notes: reach the client on ",
    ];
    text += rng.pick(LEAD);
    for i in 0..n {
        let kind = kinds[rng.below(kinds.len())];
        let v = match kind {
            "email" => email(rng),
            "phone" => phone(rng),
            "card" => card(rng),
            "iban" => iban(rng),
            "ssn" => ssn(rng),
            _ => ip(rng),
        };
        if i > 0 {
            text += rng.pick(&[" or ", ", ", " / ", "; alt: "]);
        }
        let start = text.len();
        text += &v;
        spans.push(Span { start, end: text.len(), kind: kind.to_string() });
    }
    text += rng.pick(&[" today.", "\"}}", "", " (verified)", ".\n"]);
    Case { text, spans, group: "pii".into(), ..Case::default() }
}

/// Non-PII numbers that look a little like PII: dates, versions, ids, prices.
fn pii_negative(rng: &mut Rng) -> String {
    match rng.below(10) {
        0 => format!(
            "released 2024-{:02}-{:02} as v{}.{}.{}",
            rng.range(1, 12),
            rng.range(1, 28),
            rng.range(0, 9),
            rng.range(0, 30),
            rng.range(0, 99)
        ),
        1 => format!("order #{} total ${}.{:02}", rng.range(100000, 999999), rng.range(1, 999), rng.range(0, 99)),
        2 => format!("timestamp={}", rng.range(1600000000, 1800000000)),
        3 => format!("port {} pid {} uid {}", rng.range(1024, 65535), rng.range(100, 99999), rng.range(1000, 60000)),
        4 => format!(
            "lat {}.{} lon -{}.{}",
            rng.range(10, 60),
            rng.range(100000, 999999),
            rng.range(10, 120),
            rng.range(100000, 999999)
        ),
        5 => format!("build {} took {} ms", rng.range(1000, 99999), rng.range(10, 99999)),
        6 => format!("x = np.zeros(({}, {}, {}))", rng.range(1, 512), rng.range(1, 512), rng.range(1, 4)),
        7 => format!(
            "ISBN 978-{}-{}-{}-{}",
            rng.range(0, 9),
            rng.range(10, 99),
            rng.range(100000, 999999),
            rng.range(0, 9)
        ),
        8 => {
            format!("the loop ran {} times in {}.{} s", rng.range(1000, 10000000), rng.range(0, 59), rng.range(0, 999))
        }
        _ => format!("Version {}.{}.{}.{}", rng.range(1, 20), rng.range(0, 20), rng.range(0, 200), rng.range(0, 9999)),
    }
}

/// How many of each family one draw has.
#[derive(Clone, Copy, Debug)]
pub struct Sizes {
    /// Context-named credentials.
    pub context: usize,
    /// Command lines.
    pub command: usize,
    /// Provider tokens.
    pub provider: usize,
    /// URLs and connection strings.
    pub url: usize,
    /// PII documents.
    pub pii: usize,
    /// Near-miss negatives.
    pub negative: usize,
}

impl Default for Sizes {
    fn default() -> Sizes {
        Sizes { context: 1200, command: 200, provider: 300, url: 500, pii: 800, negative: 1500 }
    }
}

/// One draw of the corpus.
pub fn generate(seed: u64, sizes: Sizes) -> Vec<Case> {
    let mut rng = Rng::new(seed);
    let half = (seed % 2) as usize;
    let mut out = Vec::new();
    for _ in 0..sizes.context {
        let svc = service(&mut rng, half);
        let word = rng.pick(CRED_WORDS);
        let with_svc = rng.chance(0.8);
        let n = name(&mut rng, if with_svc { &svc } else { "" }, word);
        let v = value(&mut rng, word);
        let kind = rng.below(HOSTS);
        let (text, fmt) = host(&mut rng, kind, &n, &v, &svc);
        out.push(Case { text, secrets: vec![v], group: format!("context/{fmt}"), ..Case::default() });
    }
    for _ in 0..sizes.command {
        let svc = service(&mut rng, half);
        let (text, secret, fmt) = command(&mut rng, &svc);
        out.push(Case { text, secrets: vec![secret], group: format!("command/{fmt}"), ..Case::default() });
    }
    for _ in 0..sizes.provider {
        let t = provider_token(&mut rng);
        let text = match rng.below(5) {
            0 => format!("here you go: {t}"),
            1 => format!("echo {t} | base64"),
            2 => format!("[\"{t}\"]"),
            3 => format!("Using {t} for the deploy"),
            _ => t.clone(),
        };
        out.push(Case { text, secrets: vec![t], group: "provider".into(), ..Case::default() });
    }
    for i in 0..sizes.url {
        let svc = service(&mut rng, half);
        let (text, secret) = if i % 3 == 2 { conn_string(&mut rng, &svc) } else { url_case(&mut rng, &svc) };
        out.push(Case { text, secrets: vec![secret], group: "url".into(), ..Case::default() });
    }
    for _ in 0..sizes.pii {
        out.push(pii_case(&mut rng));
    }
    for i in 0..sizes.negative {
        let svc = service(&mut rng, half);
        let (text, group) = match i % 4 {
            0 | 1 => {
                let word = rng.pick(CRED_WORDS);
                let n = name(&mut rng, &svc, word);
                let v = not_a_secret(&mut rng, &n, &svc);
                let kind = rng.below(HOSTS);
                let (t, fmt) = host(&mut rng, kind, &n, &v, &svc);
                (t, format!("negative/placeholder-{fmt}"))
            }
            2 => (docs_negative(&mut rng, &svc), "negative/docs".to_string()),
            _ => (pii_negative(&mut rng), "negative/numbers".to_string()),
        };
        out.push(Case { text, group, ..Case::default() });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_labelled() {
        let a = generate(7, Sizes::default());
        let b = generate(7, Sizes::default());
        assert_eq!(a, b);
        for c in &a {
            for s in &c.secrets {
                assert!(c.text.contains(s.as_str()), "{c:?}");
            }
            for s in &c.spans {
                assert!(c.text.is_char_boundary(s.start) && s.end <= c.text.len());
            }
        }
        assert_ne!(generate(8, Sizes::default()), a);
    }

    #[test]
    fn generated_cards_and_ibans_validate() {
        let mut rng = Rng::new(1);
        for _ in 0..200 {
            assert!(crate::validate::luhn(card(&mut rng).as_bytes()));
            let i = iban(&mut rng).to_ascii_uppercase();
            assert!(crate::validate::iban_mod97(i.as_bytes()), "{i}");
        }
    }
}
