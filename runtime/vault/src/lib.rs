//! The vault: secrets encrypted with [age] to the tenant's X25519 identity,
//! stored as rows of the state database, each bound to the hosts it may be
//! sent to and to how it is injected.
//!
//! - **Rows cannot be swapped.** The encrypted payload carries the secret's
//!   name and version, and both are checked after decrypting: a ciphertext
//!   copied onto another row, or an old version restored over a new one, does
//!   not decrypt to a usable value.
//! - **Plaintext is short-lived.** Values live in [`Zeroizing`] buffers and
//!   are wiped when dropped; `Debug` never prints them.
//! - **The identity** is a file that must be mode 0600 (Warden refuses to
//!   start otherwise). It is created on first need. Rotation re-encrypts every
//!   row in one transaction and then replaces the file; a crash in between is
//!   recovered on the next open (see [`Vault::open`]).
//! - **Write-only from outside.** Nothing here returns a value to a caller
//!   that is not the egress path: listing shows names, hosts, versions, dates.
//!
//! [age]: https://age-encryption.org

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, RwLock};

pub mod encodings;

use age::secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use warden_redact::ExactSet;
use warden_store::{SecretRow, Store, StoreError};
use zeroize::Zeroizing;

/// A vault error. Never carries a secret value.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The state database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The identity file is missing, unreadable, or too open.
    #[error("vault identity {path}: {msg}")]
    Identity {
        /// The file.
        path: String,
        /// What is wrong.
        msg: String,
    },
    /// Bad input (name, host, header template, value).
    #[error("{0}")]
    Invalid(String),
    /// A row does not decrypt, or decrypts to another name or version.
    #[error("secret {name}: {msg}")]
    Corrupt {
        /// The secret.
        name: String,
        /// What is wrong (never the value).
        msg: String,
    },
    /// No such secret.
    #[error("no secret named {0}")]
    NotFound(String),
}

/// How a secret goes into a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Injection {
    /// Set a header: `template` is `Name: text with {} for the value`.
    Header {
        /// E.g. `Authorization: Bearer {}`.
        template: String,
    },
    /// Replace `SECRET_REF(name)` where the agent wrote it.
    Substitute,
}

impl Injection {
    /// A header template, checked: a valid header name, a colon, one `{}`.
    pub fn header(template: &str) -> Result<Injection, VaultError> {
        let bad = |why: &str| VaultError::Invalid(format!("header template {template:?}: {why}"));
        let (name, value) = template.split_once(':').ok_or_else(|| bad("expected 'Name: value with {}'"))?;
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)) {
            return Err(bad("not a valid header name"));
        }
        if value.matches("{}").count() != 1 {
            return Err(bad("must contain {} exactly once"));
        }
        if value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0) {
            return Err(bad("must be one line"));
        }
        Ok(Injection::Header { template: format!("{}: {}", name, value.trim()) })
    }

    /// The header (name, value) for `secret`, for a header injection.
    pub fn render(&self, secret: &str) -> Option<(String, Zeroizing<String>)> {
        match self {
            Injection::Header { template } => {
                let (name, value) = template.split_once(':')?;
                Some((name.trim().to_string(), Zeroizing::new(value.trim().replacen("{}", secret, 1))))
            }
            Injection::Substitute => None,
        }
    }
}

impl std::fmt::Display for Injection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Injection::Header { template } => write!(f, "header {template}"),
            Injection::Substitute => f.write_str("substitute SECRET_REF"),
        }
    }
}

/// Where a secret may go: a host (`api.example.com` exactly, or
/// `*.example.com` for any subdomain, not the apex), optionally with a
/// scheme and port (`http://127.0.0.1:8080`). Lowercase, punycode.
///
/// A bare host is bound for **https only** (any port: TLS proves the host);
/// plain `http` needs the scheme and port spelled out, so a value bound to a
/// host's TLS API never travels in the clear or to another service on the
/// same machine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct HostPattern(String);

impl HostPattern {
    /// Parse and normalise (`*.Bücher.example` -> `*.xn--bcher-kva.example`,
    /// `HTTP://Host:80` -> `http://host`).
    pub fn parse(text: &str) -> Result<HostPattern, VaultError> {
        let bad = |why: &str| VaultError::Invalid(format!("host {text:?}: {why}"));
        let (scheme, rest) = match text.split_once("://") {
            Some((s, r)) => {
                let s = s.to_ascii_lowercase();
                if s != "http" && s != "https" {
                    return Err(bad("the scheme must be http or https"));
                }
                (Some(s), r.trim_end_matches('/'))
            }
            None => (None, text),
        };
        let (host, port) = match (&scheme, rest.rsplit_once(':')) {
            (Some(_), Some((h, p))) => {
                (h, Some(p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| bad("the port must be 1-65535"))?))
            }
            _ => (rest, None),
        };
        let (wild, host) = match host.strip_prefix("*.") {
            Some(rest) => (true, rest),
            None => (false, host),
        };
        if host.is_empty() || host.contains(['/', ':', '*', '@', ' ']) {
            return Err(bad("expected a host name such as api.example.com, *.example.com or http://127.0.0.1:8080"));
        }
        let ascii = idna::domain_to_ascii(host).map_err(|_| bad("not a valid domain name"))?;
        if ascii.is_empty() || ascii.ends_with('.') || !ascii.contains('.') && !wild && ascii != "localhost" {
            return Err(bad("expected a fully qualified host name"));
        }
        let host = if wild { format!("*.{ascii}") } else { ascii };
        Ok(HostPattern(match scheme {
            None => host,
            Some(s) => {
                let default = if s == "https" { 443 } else { 80 };
                match port.filter(|p| *p != default) {
                    Some(p) => format!("{s}://{host}:{p}"),
                    None => format!("{s}://{host}"),
                }
            }
        }))
    }

    /// (scheme, host pattern, port) with the defaults filled in.
    fn parts(&self) -> (Option<&str>, &str, Option<u16>) {
        match self.0.split_once("://") {
            None => (None, &self.0, None),
            Some((scheme, rest)) => {
                let default = if scheme == "https" { 443 } else { 80 };
                match rest.rsplit_once(':') {
                    Some((h, p)) => (Some(scheme), h, p.parse().ok()),
                    None => (Some(scheme), rest, Some(default)),
                }
            }
        }
    }

    /// Whether `host` (already lowercase ASCII/punycode) matches, whatever
    /// the scheme and port (the egress allowlist pairs hosts with ports
    /// itself).
    pub fn matches(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.');
        let pattern = self.parts().1;
        match pattern.strip_prefix("*.") {
            Some(suffix) => {
                host.len() > suffix.len() + 1
                    && host.ends_with(suffix)
                    && host.as_bytes()[host.len() - suffix.len() - 1] == b'.'
            }
            None => host == pattern,
        }
    }

    /// Whether a request to `scheme://host:port` may carry the secret: the
    /// host matches, and the scheme and port are the bound ones (a bare
    /// host: https on any port).
    pub fn matches_url(&self, scheme: &str, host: &str, port: u16) -> bool {
        let (s, _, p) = self.parts();
        let scheme_ok = match s {
            None => scheme.eq_ignore_ascii_case("https"),
            Some(s) => scheme.eq_ignore_ascii_case(s) && p == Some(port),
        };
        scheme_ok && self.matches(host)
    }

    /// The pattern's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A secret's public facts: everything but the value.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SecretInfo {
    /// Name.
    pub name: String,
    /// Version, from 1.
    pub version: u64,
    /// Bound hosts.
    pub hosts: Vec<HostPattern>,
    /// How it is injected.
    pub inject: Injection,
    /// Created (ms since epoch).
    pub created_at: i64,
    /// Last written (ms since epoch).
    pub updated_at: i64,
}

/// A decrypted secret. `Debug` shows no value.
pub struct Secret {
    /// Its public facts.
    pub info: SecretInfo,
    /// The value, wiped on drop.
    pub value: Zeroizing<String>,
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Secret").field("info", &self.info).field("value", &"<redacted>").finish()
    }
}

impl Secret {
    /// Whether this secret's host list names `host` (any scheme or port).
    pub fn bound_to(&self, host: &str) -> bool {
        self.info.hosts.iter().any(|h| h.matches(host))
    }

    /// Whether this secret may be sent to `scheme://host:port` (see
    /// [`HostPattern::matches_url`]).
    pub fn bound_to_url(&self, scheme: &str, host: &str, port: u16) -> bool {
        self.info.hosts.iter().any(|h| h.matches_url(scheme, host, port))
    }
}

const PAYLOAD_MAGIC: &str = "warden-secret-v1";

/// A secret name: 1-64 of `A-Z a-z 0-9 _ - .`, starting with a letter or digit.
pub fn check_name(name: &str) -> Result<(), VaultError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(VaultError::Invalid(format!(
            "secret name {name:?}: use 1-64 letters, digits, '_', '-' or '.', starting with a letter or digit"
        )))
    }
}

/// A secret to store: [`Vault::set_all`].
pub struct NewSecret {
    /// Its name.
    pub name: String,
    /// Its value.
    pub value: Zeroizing<String>,
    /// The hosts it may be sent to (at least one).
    pub hosts: Vec<HostPattern>,
    /// How it goes into a request.
    pub inject: Injection,
}

impl std::fmt::Debug for NewSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSecret").field("name", &self.name).field("hosts", &self.hosts).finish_non_exhaustive()
    }
}

impl NewSecret {
    /// Whether it can be stored; the error names the secret, never its value.
    pub fn check(&self) -> Result<(), VaultError> {
        let (name, value) = (self.name.as_str(), &self.value);
        check_name(name)?;
        if value.is_empty() {
            return Err(VaultError::Invalid(format!("secret {name}: the value is empty")));
        }
        if value.len() < warden_redact::MIN_EXACT_LEN {
            return Err(VaultError::Invalid(format!(
                "secret {name}: values shorter than {} bytes would be caught in ordinary text",
                warden_redact::MIN_EXACT_LEN
            )));
        }
        if value.contains(['\r', '\n', '\0']) && matches!(self.inject, Injection::Header { .. }) {
            return Err(VaultError::Invalid(format!("secret {name}: a header value must be one line")));
        }
        if self.hosts.is_empty() {
            return Err(VaultError::Invalid(format!("secret {name}: bind it to at least one --host")));
        }
        Ok(())
    }
}

/// The vault.
pub struct Vault {
    store: Arc<Store>,
    path: PathBuf,
    identity: RwLock<age::x25519::Identity>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault").field("identity", &self.path).finish_non_exhaustive()
    }
}

impl Vault {
    /// Open the vault with the identity at `identity_path`, creating the
    /// identity (mode 0600) when there is none; the flag says whether it did.
    ///
    /// An identity file readable by group or others is refused. A rotation
    /// that crashed after its database commit left `IDENTITY.new`: whichever
    /// of the two decrypts the rows wins, and the other is removed.
    pub fn open(store: Arc<Store>, identity_path: &Path) -> Result<(Vault, bool), VaultError> {
        let pending = pending_path(identity_path);
        let mut created = false;
        if pending.exists() {
            let new = read_identity(&pending)?;
            let rows = store.secret_rows()?;
            let new_works = rows.first().is_none_or(|r| age::decrypt(&new, &r.ciphertext).is_ok());
            if new_works {
                std::fs::rename(&pending, identity_path).map_err(|e| id_err(identity_path, e.to_string()))?;
            } else {
                std::fs::remove_file(&pending).map_err(|e| id_err(&pending, e.to_string()))?;
            }
        }
        let identity = if identity_path.exists() {
            read_identity(identity_path)?
        } else {
            let id = age::x25519::Identity::generate();
            write_identity(identity_path, &id)?;
            created = true;
            id
        };
        Ok((Vault { store, path: identity_path.to_path_buf(), identity: RwLock::new(identity) }, created))
    }

    /// The identity file.
    pub fn identity_path(&self) -> &Path {
        &self.path
    }

    fn recipient(&self) -> age::x25519::Recipient {
        self.identity.read().unwrap_or_else(|e| e.into_inner()).to_public()
    }

    /// Store `value` under `name` (a new version if it exists).
    pub fn set(
        &self,
        name: &str,
        value: Zeroizing<String>,
        hosts: Vec<HostPattern>,
        inject: Injection,
        actor: &str,
    ) -> Result<u64, VaultError> {
        let versions = self.set_all(&[NewSecret { name: name.to_string(), value, hosts, inject }], actor)?;
        Ok(versions[0])
    }

    /// Store several secrets in one transaction: every one is checked
    /// first, then all are written or none (a bootstrap import must not
    /// leave half a set behind). The versions written, in order. A name
    /// may appear once.
    pub fn set_all(&self, secrets: &[NewSecret], actor: &str) -> Result<Vec<u64>, VaultError> {
        let mut seen = std::collections::HashSet::new();
        for s in secrets {
            s.check()?;
            if !seen.insert(s.name.as_str()) {
                return Err(VaultError::Invalid(format!("secret {}: named twice", s.name)));
            }
        }
        let recipient = self.recipient();
        let names: Vec<&str> = secrets.iter().map(|s| s.name.as_str()).collect();
        self.store.secret_put_all(&names, actor, |name, version| {
            let s = secrets.iter().find(|s| s.name == name).expect("names come from secrets");
            let payload = payload(name, version, &s.value);
            let ct = age::encrypt(&recipient, &payload)
                .map_err(|e| VaultError::Corrupt { name: name.into(), msg: format!("encrypt: {e}") })?;
            let hosts_json = serde_json::to_string(&s.hosts).expect("hosts serialise");
            let inject_json = serde_json::to_string(&s.inject).expect("injection serialises");
            Ok((hosts_json, inject_json, ct))
        })?
    }

    /// Every secret's public facts.
    pub fn list(&self) -> Result<Vec<SecretInfo>, VaultError> {
        self.store.secret_rows()?.iter().map(info).collect()
    }

    /// Delete `name`.
    pub fn remove(&self, name: &str, actor: &str) -> Result<(), VaultError> {
        if self.store.secret_delete(name, actor)? {
            Ok(())
        } else {
            Err(VaultError::NotFound(name.into()))
        }
    }

    /// Decrypt one secret, for the egress path.
    pub fn get(&self, name: &str) -> Result<Secret, VaultError> {
        let row = self.store.secret_row(name)?.ok_or_else(|| VaultError::NotFound(name.into()))?;
        self.decrypt(&row)
    }

    /// Decrypt every secret (for the exact layer and injection).
    pub fn all(&self) -> Result<Vec<Secret>, VaultError> {
        self.store.secret_rows()?.iter().map(|r| self.decrypt(r)).collect()
    }

    /// The exact-layer set of every value.
    pub fn exact_set(&self) -> Result<ExactSet, VaultError> {
        let all = self.all()?;
        // Every value with the shapes it travels in (see [`encodings`]);
        // all forms of one secret share its name, so one placeholder.
        let forms: Vec<(&str, Vec<Zeroizing<String>>)> =
            all.iter().map(|s| (s.info.name.as_str(), encodings::forms(&s.value))).collect();
        ExactSet::new(forms.iter().flat_map(|(name, fs)| fs.iter().map(move |f| (*name, f.as_str()))))
            .map_err(|e| VaultError::Invalid(e.to_string()))
    }

    fn decrypt(&self, row: &SecretRow) -> Result<Secret, VaultError> {
        let corrupt = |msg: String| VaultError::Corrupt { name: row.name.clone(), msg };
        let plain = {
            let id = self.identity.read().unwrap_or_else(|e| e.into_inner());
            Zeroizing::new(age::decrypt(&*id, &row.ciphertext).map_err(|e| corrupt(format!("does not decrypt: {e}")))?)
        };
        let value = parse_payload(&plain, &row.name, row.version).map_err(corrupt)?;
        Ok(Secret { info: info(row)?, value })
    }

    /// Re-encrypt every row to a new identity, then replace the identity
    /// file. Returns how many secrets were re-encrypted.
    pub fn rotate_identity(&self, actor: &str) -> Result<usize, VaultError> {
        let new = age::x25519::Identity::generate();
        let pending = pending_path(&self.path);
        // 1. The new identity is durable before any row depends on it.
        write_identity(&pending, &new)?;
        let recipient = new.to_public();
        // 2. All rows in one transaction.
        let result = self.store.secret_rewrite_all(actor, |row| {
            let secret = self.decrypt(row).map_err(|e| e.to_string())?;
            let payload = payload(&row.name, row.version, &secret.value);
            age::encrypt(&recipient, &payload).map_err(|e| format!("encrypt: {e}"))
        });
        let count = match result {
            Ok(Ok(n)) => n,
            Ok(Err(e)) => {
                let _ = std::fs::remove_file(&pending);
                return Err(VaultError::Invalid(format!("rotation aborted: {e}")));
            }
            Err(e) => {
                let _ = std::fs::remove_file(&pending);
                return Err(e.into());
            }
        };
        // 3. Only now replace the file (a crash before this is recovered by `open`).
        std::fs::rename(&pending, &self.path).map_err(|e| id_err(&self.path, e.to_string()))?;
        if let Some(dir) = self.path.parent() {
            let _ = std::fs::File::open(dir).and_then(|d| d.sync_all());
        }
        *self.identity.write().unwrap_or_else(|e| e.into_inner()) = new;
        Ok(count)
    }
}

fn info(row: &SecretRow) -> Result<SecretInfo, VaultError> {
    let corrupt = |what: &str| VaultError::Corrupt { name: row.name.clone(), msg: format!("bad {what} column") };
    Ok(SecretInfo {
        name: row.name.clone(),
        version: row.version,
        hosts: serde_json::from_str(&row.hosts).map_err(|_| corrupt("hosts"))?,
        inject: serde_json::from_str(&row.inject).map_err(|_| corrupt("inject"))?,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

/// `warden-secret-v1 \n name \n version \n value`.
fn payload(name: &str, version: u64, value: &str) -> Zeroizing<Vec<u8>> {
    let mut p = Zeroizing::new(Vec::with_capacity(value.len() + name.len() + 32));
    p.extend_from_slice(format!("{PAYLOAD_MAGIC}\n{name}\n{version}\n").as_bytes());
    p.extend_from_slice(value.as_bytes());
    p
}

fn parse_payload(plain: &[u8], name: &str, version: u64) -> Result<Zeroizing<String>, String> {
    let mut parts = plain.splitn(4, |b| *b == b'\n');
    let (magic, n, v, value) = (parts.next(), parts.next(), parts.next(), parts.next());
    if magic != Some(PAYLOAD_MAGIC.as_bytes()) {
        return Err("not a Warden secret payload".into());
    }
    if n != Some(name.as_bytes()) {
        return Err("the payload belongs to another secret (rows swapped?)".into());
    }
    if v != Some(version.to_string().as_bytes()) {
        return Err("the payload is of another version (an old row restored?)".into());
    }
    let value = value.ok_or("the payload has no value")?;
    let value = std::str::from_utf8(value).map_err(|_| "the value is not UTF-8".to_string())?;
    Ok(Zeroizing::new(value.to_string()))
}

fn pending_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".new");
    PathBuf::from(p)
}

fn id_err(path: &Path, msg: String) -> VaultError {
    VaultError::Identity { path: path.display().to_string(), msg }
}

fn read_identity(path: &Path) -> Result<age::x25519::Identity, VaultError> {
    let meta = std::fs::metadata(path).map_err(|e| id_err(path, e.to_string()))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(id_err(
            path,
            format!("mode {mode:04o} lets other users read it; it must be 0600 (chmod 600 {})", path.display()),
        ));
    }
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| id_err(path, e.to_string()))?);
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .ok_or_else(|| id_err(path, "no AGE-SECRET-KEY-1... line".into()))?;
    age::x25519::Identity::from_str(line).map_err(|e| id_err(path, format!("not an age X25519 identity: {e}")))
}

fn write_identity(path: &Path, id: &age::x25519::Identity) -> Result<(), VaultError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| id_err(path, e.to_string()))?;
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o600))
        .map_err(|e| id_err(path, e.to_string()))?;
    let body = Zeroizing::new(format!(
        "# Warden vault identity (age X25519). Without it the vault cannot be read: back it up.\n# public key: {}\n{}\n",
        id.to_public(),
        id.to_string().expose_secret()
    ));
    tmp.write_all(body.as_bytes()).map_err(|e| id_err(path, e.to_string()))?;
    tmp.as_file().sync_all().map_err(|e| id_err(path, e.to_string()))?;
    tmp.persist(path).map_err(|e| id_err(path, e.error.to_string()))?;
    Ok(())
}

#[cfg(test)]
mod tests;
