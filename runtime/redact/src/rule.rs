//! The rule schema: what a detection rule says, as data.
//!
//! Rules are written in TOML (`policies/*/rules/*.toml`) and deserialised into
//! [`RuleSpec`]. This module only describes them; [`crate::Engine`] compiles
//! them. Keeping the schema here (and not in the policy crate) lets the engine
//! check every field it relies on, in one place.

use serde::{Deserialize, Serialize};

/// The pipeline layer a finding comes from. Each is counted separately.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Layer {
    /// Literal values registered at run time (vault secrets, deny-lists).
    Exact,
    /// Secret and PII rules: keywords, then a regex near each hit.
    Pattern,
    /// High-entropy tokens, and rules whose evidence is entropy in context.
    Entropy,
    /// String values under sensitive JSON keys.
    Keys,
    /// Values named by a credential word in any host format
    /// (`FOO_API_KEY=...`, `--password x`, `Password=...;`).
    Context,
    /// External detectors such as Wasm plugins.
    Plugin,
}

impl Layer {
    /// The name used in findings, metrics and the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            Layer::Exact => "exact",
            Layer::Pattern => "pattern",
            Layer::Entropy => "entropy",
            Layer::Keys => "keys",
            Layer::Context => "context",
            Layer::Plugin => "plugin",
        }
    }
}

impl std::fmt::Display for Layer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A check run on the sensitive part of a regex match before it counts.
///
/// In TOML: `validator = "luhn"`, or `validator = { entropy = 3.5 }`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Validator {
    /// Payment card numbers: the Luhn checksum over the digits.
    Luhn,
    /// IBANs: the ISO 13616 mod-97 check and the country's length.
    IbanMod97,
    /// US social security numbers: no 000/666/9xx area, 00 group, 0000 serial.
    UsSsn,
    /// Bitcoin legacy addresses: base58 with a double-SHA-256 checksum.
    Base58check,
    /// UK National Insurance number: two prefix letters outside the ones
    /// HMRC never issues (D F I Q U V, O second, BG GB KN NK NT TN ZZ), six
    /// digits, suffix A-D. No checksum exists, so the prefix is the evidence.
    UkNino,
    /// US ITIN: 9XX-YY-ZZZZ with the group YY in 50-65, 70-88, 90-92, 94-99.
    UsItin,
    /// German tax id (Steuer-IdNr): 11 digits, first not 0, one digit twice
    /// or three times in the first ten, ISO 7064 MOD 11,10 check digit.
    DeSteuerId,
    /// French NIR (INSEE number): 13 characters (2A/2B for Corsica) and a
    /// key of 97 - (number mod 97).
    FrNir,
    /// Spanish DNI (8 digits + letter) or NIE (X/Y/Z + 7 digits + letter),
    /// the letter being the number mod 23 in TRWAGMYFPDXBNJZSQVHLCKE.
    EsDni,
    /// Italian codice fiscale: 16 characters whose last is the check
    /// character over the odd/even position tables.
    ItCodiceFiscale,
    /// Dutch BSN: 9 digits passing the 11-proof (weights 9..2 and -1).
    NlBsn,
    /// Indian Aadhaar: 12 digits, first not 0 or 1, Verhoeff check digit.
    Aadhaar,
    /// At least this many bits of Shannon entropy per character.
    Entropy(f64),
    /// Looks generated: at least this many bits per character, and both a
    /// letter and a digit (so `my_secret_variable_name` is not reported).
    Secret(f64),
}

/// Values a rule must not report, although its regex matches them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Allowlist {
    /// Exact values that are known fakes (e.g. `AKIAIOSFODNN7EXAMPLE`).
    #[serde(default)]
    pub values: Vec<String>,
    /// Case-insensitive substrings that mark a placeholder, not a secret
    /// (e.g. `example`, `xxxxxxxx`, `your_api_key`).
    #[serde(default)]
    pub stopwords: Vec<String>,
}

/// Examples that ship with a rule; `warden rules test` checks every one.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Examples {
    /// Texts in which this rule must report a finding.
    #[serde(default)]
    pub positive: Vec<String>,
    /// Texts in which this rule must report nothing.
    #[serde(default)]
    pub negative: Vec<String>,
}

/// One detection rule, as written in a rules file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Stable identifier, e.g. `github-pat`. Shown in findings and metrics.
    pub id: String,
    /// What the rule finds and where the format is documented.
    #[serde(default)]
    pub description: String,
    /// `pattern` (default) or `entropy` (a context regex whose evidence is
    /// the entropy validator, such as `API_KEY=...` assignments).
    #[serde(default = "default_layer")]
    pub layer: Layer,
    /// Placeholder type: findings become `[LABEL_N]`.
    pub label: String,
    /// Literals (ASCII case-insensitive) of which every match contains one.
    /// The regex runs only in a window around their hits. A one-byte keyword
    /// such as `@` is an anchor found with memchr. With no keywords the rule
    /// joins the keyword-less multi-pattern pass.
    #[serde(default)]
    pub keywords: Vec<String>,
    /// The regex. Capture group 1, when present, is the sensitive part.
    /// Every repetition must be bounded: the longest match bounds the
    /// windows and the streaming hold-back.
    pub regex: String,
    /// Optional check on the sensitive part.
    #[serde(default)]
    pub validator: Option<Validator>,
    /// Known fakes and placeholder words.
    #[serde(default)]
    pub allowlist: Allowlist,
    /// Overlaps between findings go to the higher priority, then the longer.
    /// Default 100; generic rules use less so specific ones win.
    #[serde(default = "default_priority")]
    pub priority: i32,
    /// For keyword-less rules: `digit` runs the rule only near ASCII digits
    /// (a match without a digit is then not reported). Set automatically
    /// when the regex provably needs a digit.
    #[serde(default)]
    pub anchor: Option<Anchor>,
    /// For blocks (PEM keys): after the regex match, the finding extends to
    /// the end of the first line containing this literal, or `block_max`
    /// bytes when it never comes, so a truncated key is still covered.
    #[serde(default)]
    pub block_end: Option<String>,
    /// The longest block, in bytes (default 16 KiB).
    #[serde(default)]
    pub block_max: Option<usize>,
    /// Examples checked by `warden rules test`.
    #[serde(default)]
    pub examples: Examples,
}

/// Where a keyword-less rule runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Anchor {
    /// Only in regions around ASCII digits.
    Digit,
}

fn default_layer() -> Layer {
    Layer::Pattern
}

fn default_priority() -> i32 {
    100
}

/// Settings of the entropy layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EntropyConfig {
    /// Off switch.
    pub enabled: bool,
    /// Shortest token scored (default 32).
    pub min_len: usize,
    /// Longest token scored (default 1024): longer runs are blobs (data URIs,
    /// embedded files) and are left to the other layers. The bound keeps the
    /// layer local, which streaming needs.
    pub max_len: usize,
    /// Bits per character at or above which a token is reported (default 4.5).
    pub min_bits: f64,
    /// A token directly preceded by one of these literals is allowed
    /// (e.g. `sha512-` in subresource-integrity strings).
    pub allow_prefixes: Vec<String>,
}

impl Default for EntropyConfig {
    fn default() -> Self {
        EntropyConfig {
            enabled: true,
            min_len: 32,
            max_len: 1024,
            min_bits: 4.5,
            allow_prefixes: ["sha1-", "sha256-", "sha384-", "sha512-", "sha256:", "sha512:"].map(String::from).to_vec(),
        }
    }
}

/// Settings of the context layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ContextConfig {
    /// Off switch (default: on).
    pub enabled: bool,
}

impl Default for ContextConfig {
    fn default() -> Self {
        ContextConfig { enabled: true }
    }
}

/// Settings of the keys layer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KeysConfig {
    /// Off switch.
    pub enabled: bool,
    /// Key names, as written (ASCII case-insensitive). A JSON key is
    /// sensitive when, with `_`, `-` and `.` removed, it ends with one of
    /// them: `db_password` and `X-Api-Key` count, `password_hint` does not.
    pub names: Vec<String>,
    /// How far a streaming redactor looks ahead for a value's end (default
    /// 16 KiB). Values are redacted whole whatever their length; a streamed
    /// value longer than this holds the output until its closing quote.
    pub max_value_len: usize,
}

impl Default for KeysConfig {
    fn default() -> Self {
        KeysConfig {
            enabled: true,
            names: [
                "password",
                "passwd",
                "passphrase",
                "secret",
                "token",
                "api_key",
                "apikey",
                "api-key",
                "access_key",
                "accesskey",
                "private_key",
                "privatekey",
                "authorization",
                "credential",
                "credentials",
                "cookie",
                "session_id",
                "sessionid",
            ]
            .map(String::from)
            .to_vec(),
            max_value_len: 16 * 1024,
        }
    }
}
