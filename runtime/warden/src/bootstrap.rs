//! One-shot bootstrap secrets (issue 17 point 5): the provisioner writes a
//! tenant's secrets once to a file on tmpfs, `warden secrets import
//! --consume FILE` stores them all in one vault transaction and destroys
//! the file: its bytes overwritten, fsynced, unlinked, the directory fsynced.
//!
//! Order, so that any failure leaves the vault unchanged and the file in
//! place: [`SecretFile::open`] checks the file (no symlink, a regular file,
//! not readable by group or others, on tmpfs or ramfs unless the disk is
//! allowed, writable so it can be wiped, in a directory where it can be
//! unlinked), [`parse`] reads every entry, the vault writes all or none
//! ([`warden_vault::Vault::set_all`]), and only then [`SecretFile::consume`]
//! wipes it. A wipe that fails after the commit is reported as such (the
//! secrets are stored; the file must be removed by hand).
//!
//! No message here carries a value: parse errors name the entry or line and
//! the field, never the text; JSON syntax errors give only line and column.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use serde_json::Value;
use warden_vault::{HostPattern, Injection, NewSecret};
use zeroize::Zeroizing;

/// `statfs` magic of tmpfs (`linux/magic.h`).
const TMPFS_MAGIC: u32 = 0x0102_1994;
/// `statfs` magic of ramfs.
const RAMFS_MAGIC: u32 = 0x8584_58f6;
/// Largest file accepted: a bootstrap set is a few kilobytes.
const MAX_FILE: u64 = 1 << 20;

/// Why an import failed.
#[derive(Debug, thiserror::Error)]
#[error("{msg}")]
pub struct ImportError {
    kind: ImportErrorKind,
    msg: String,
}

/// What kind of failure an [`ImportError`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImportErrorKind {
    /// The file was refused before it was read (symlink, mode, file system, access).
    Refused,
    /// The file's contents are not a valid set of secrets.
    Invalid,
    /// Reading the file failed.
    Io,
    /// The secrets are stored, but the file could not be wiped and removed.
    NotConsumed,
}

impl ImportError {
    fn new(kind: ImportErrorKind, msg: impl Into<String>) -> ImportError {
        ImportError { kind, msg: msg.into() }
    }

    /// What kind of failure it is.
    pub fn kind(&self) -> ImportErrorKind {
        self.kind
    }
}

/// How `NAME=value` lines are bound (JSON entries carry their own).
#[derive(Clone, Debug, Default)]
pub struct LineOptions {
    /// `--host`: hosts every line's secret may be sent to.
    pub hosts: Vec<String>,
    /// `--header`: inject as this header instead of in place.
    pub header: Option<String>,
}

/// A checked, open bootstrap file and its bytes.
pub struct SecretFile {
    file: File,
    path: PathBuf,
    id: (u64, u64),
    bytes: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for SecretFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretFile").field("path", &self.path).finish_non_exhaustive()
    }
}

fn refused(path: &Path, why: impl std::fmt::Display) -> ImportError {
    ImportError::new(ImportErrorKind::Refused, format!("{}: {why}", path.display()))
}

/// The `statfs` magic of the file system holding `file`.
#[allow(clippy::unnecessary_cast)] // `f_type`'s width differs by target
fn fs_magic(file: &File) -> std::io::Result<u32> {
    use std::os::fd::AsRawFd;
    let mut st = std::mem::MaybeUninit::<libc::statfs>::zeroed();
    // SAFETY: the descriptor is open for the whole call (borrowed from
    // `file`), and `st` is a writable statfs the kernel fills on success.
    let rc = unsafe { libc::fstatfs(file.as_raw_fd(), st.as_mut_ptr()) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: fstatfs returned 0, so it wrote the whole struct.
    let st = unsafe { st.assume_init() };
    // f_type is i64 on 64-bit glibc and i32 elsewhere: the magic is its low 32 bits.
    Ok(st.f_type as u32)
}

/// Whether this process may create and remove entries in `dir`.
fn dir_writable(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `c` is a NUL-terminated path that outlives the call.
    unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) == 0 }
}

impl SecretFile {
    /// Open and check `path`, and read it. Refused: a symlink, anything but
    /// a regular file, a file readable by group or others, one not on tmpfs
    /// or ramfs unless `allow_disk`, one this process cannot wipe or unlink.
    pub fn open(path: &Path, allow_disk: bool) -> Result<SecretFile, ImportError> {
        let meta = std::fs::symlink_metadata(path).map_err(|e| refused(path, e))?;
        if meta.file_type().is_symlink() {
            return Err(refused(path, "is a symbolic link; give the file itself"));
        }
        // O_NOFOLLOW: a symlink swapped in after the check is refused too.
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NOCTTY)
            .open(path)
            .map_err(|e| refused(path, format!("cannot open it to read and wipe it: {e}")))?;
        let meta = file.metadata().map_err(|e| refused(path, e))?;
        if !meta.is_file() {
            return Err(refused(path, "is not a regular file"));
        }
        if meta.mode() & 0o044 != 0 {
            return Err(refused(
                path,
                format!("is readable by group or others (mode {:o}); chmod 600 it", meta.mode() & 0o777),
            ));
        }
        if meta.len() > MAX_FILE {
            return Err(refused(path, format!("is larger than {MAX_FILE} bytes")));
        }
        let magic = fs_magic(&file).map_err(|e| refused(path, format!("statfs: {e}")))?;
        if !allow_disk && magic != TMPFS_MAGIC && magic != RAMFS_MAGIC {
            return Err(refused(
                path,
                "is not on tmpfs or ramfs, so its bytes may outlive the wipe on disk; \
                 write it to tmpfs (e.g. /dev/shm or /run) or pass --allow-disk",
            ));
        }
        let dir = parent(path);
        if !dir_writable(dir) {
            return Err(refused(
                path,
                format!("cannot remove it from {}: the directory is not writable", dir.display()),
            ));
        }
        let mut bytes = Zeroizing::new(Vec::with_capacity(meta.len() as usize));
        file.read_to_end(&mut bytes)
            .map_err(|e| ImportError::new(ImportErrorKind::Io, format!("{}: {e}", path.display())))?;
        Ok(SecretFile { file, path: path.to_path_buf(), id: (meta.dev(), meta.ino()), bytes })
    }

    /// The file's contents.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Overwrite the file's bytes with zeros, fsync, unlink it (if the path
    /// still names this file) and fsync its directory.
    pub fn consume(self) -> Result<(), ImportError> {
        let path = self.path.clone();
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            ImportError::new(
                ImportErrorKind::NotConsumed,
                format!("the secrets are stored, but {} could not be {what}: {e}; remove it by hand", path.display()),
            )
        };
        let len = self.file.metadata().map_err(|e| fail("wiped", &e))?.len().max(self.bytes.len() as u64);
        let zeros = [0u8; 4096];
        let mut at = 0;
        while at < len {
            let n = (len - at).min(zeros.len() as u64) as usize;
            self.file.write_all_at(&zeros[..n], at).map_err(|e| fail("wiped", &e))?;
            at += n as u64;
        }
        self.file.sync_all().map_err(|e| fail("wiped", &e))?;
        let now = std::fs::symlink_metadata(&path).map_err(|e| fail("removed", &e))?;
        if (now.dev(), now.ino()) != self.id {
            return Err(fail("removed", &"the path names another file now (its bytes were wiped)"));
        }
        std::fs::remove_file(&path).map_err(|e| fail("removed", &e))?;
        warden_util::fs::sync_dir(parent(&path)).map_err(|e| fail("removed durably", &e))
    }
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

fn invalid(msg: impl Into<String>) -> ImportError {
    ImportError::new(ImportErrorKind::Invalid, msg)
}

/// The secrets in a bootstrap file: a JSON array of `{name, value, hosts,
/// header?}`, or `NAME=value` lines (blank lines and `#` comments skipped)
/// bound by `lines`. Every entry is checked as the vault would.
pub fn parse(bytes: &[u8], lines: &LineOptions) -> Result<Vec<NewSecret>, ImportError> {
    let text =
        std::str::from_utf8(bytes).map_err(|e| invalid(format!("not UTF-8 text (at byte {})", e.valid_up_to())))?;
    let secrets = if text.trim_start().starts_with('[') {
        if !lines.hosts.is_empty() || lines.header.is_some() {
            return Err(invalid("--host and --header are for NAME=value lines; JSON entries carry hosts and header"));
        }
        parse_json(bytes)?
    } else {
        parse_lines(text, lines)?
    };
    if secrets.is_empty() {
        return Err(invalid("the file holds no secrets"));
    }
    let mut seen = std::collections::HashSet::new();
    for s in &secrets {
        s.check().map_err(|e| invalid(e.to_string()))?;
        if !seen.insert(s.name.as_str()) {
            return Err(invalid(format!("secret {}: named twice", s.name)));
        }
    }
    Ok(secrets)
}

fn parse_json(bytes: &[u8]) -> Result<Vec<NewSecret>, ImportError> {
    // serde_json's typed errors can quote the input: parse untyped and say
    // only where the syntax broke.
    let doc: Value = serde_json::from_slice(bytes).map_err(|e| {
        invalid(format!("not valid JSON ({:?} error at line {}, column {})", e.classify(), e.line(), e.column()))
    })?;
    let Value::Array(entries) = doc else {
        return Err(invalid("JSON must be an array of {name, value, hosts, header?}"));
    };
    let mut out = Vec::with_capacity(entries.len());
    for (i, entry) in entries.into_iter().enumerate() {
        let n = i + 1;
        let Value::Object(mut fields) = entry else {
            return Err(invalid(format!("entry {n}: not an object")));
        };
        if let Some(k) = fields.keys().find(|k| !matches!(k.as_str(), "name" | "value" | "hosts" | "header")) {
            return Err(invalid(format!("entry {n}: unknown field `{k}` (name, value, hosts, header)")));
        }
        let name = match fields.remove("name") {
            Some(Value::String(s)) => s,
            _ => return Err(invalid(format!("entry {n}: `name` must be a string"))),
        };
        // Taken out of the JSON tree into a buffer that is zeroed on drop.
        let value = match fields.get_mut("value") {
            Some(Value::String(s)) => Zeroizing::new(std::mem::take(s)),
            _ => return Err(invalid(format!("entry {n} ({name}): `value` must be a string"))),
        };
        let hosts = match fields.remove("hosts") {
            Some(Value::Array(hs)) if !hs.is_empty() => hs
                .iter()
                .map(|h| match h {
                    Value::String(h) => HostPattern::parse(h).map_err(|e| invalid(format!("entry {n} ({name}): {e}"))),
                    _ => Err(invalid(format!("entry {n} ({name}): `hosts` must hold strings"))),
                })
                .collect::<Result<Vec<_>, _>>()?,
            _ => return Err(invalid(format!("entry {n} ({name}): `hosts` must be a non-empty array"))),
        };
        let inject = match fields.remove("header") {
            None | Some(Value::Null) => Injection::Substitute,
            Some(Value::String(t)) => Injection::header(&t).map_err(|e| invalid(format!("entry {n} ({name}): {e}")))?,
            Some(_) => return Err(invalid(format!("entry {n} ({name}): `header` must be a string"))),
        };
        out.push(NewSecret { name, value, hosts, inject });
    }
    Ok(out)
}

fn parse_lines(text: &str, opts: &LineOptions) -> Result<Vec<NewSecret>, ImportError> {
    if opts.hosts.is_empty() {
        return Err(invalid("NAME=value lines need at least one --host to bind them to"));
    }
    let hosts = opts.hosts.iter().map(|h| HostPattern::parse(h)).collect::<Result<Vec<_>, _>>();
    let hosts = hosts.map_err(|e| invalid(e.to_string()))?;
    let inject = match &opts.header {
        Some(t) => Injection::header(t).map_err(|e| invalid(e.to_string()))?,
        None => Injection::Substitute,
    };
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let Some((name, value)) = line.split_once('=') else {
            return Err(invalid(format!("line {}: expected NAME=value", i + 1)));
        };
        let name = name.trim();
        warden_vault::check_name(name).map_err(|e| invalid(format!("line {}: {e}", i + 1)))?;
        out.push(NewSecret {
            name: name.to_string(),
            value: Zeroizing::new(value.to_string()),
            hosts: hosts.clone(),
            inject: inject.clone(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    const V1: &str = "sk-live-4f9a7c2e1b8d6a3f";
    const V2: &str = "pg-pass-9e8d7c6b5a4f3e2d";

    fn lines(hosts: &[&str]) -> LineOptions {
        LineOptions { hosts: hosts.iter().map(|h| h.to_string()).collect(), header: None }
    }

    fn err(bytes: &str, opts: &LineOptions) -> String {
        let e = parse(bytes.as_bytes(), opts).unwrap_err();
        assert_eq!(e.kind(), ImportErrorKind::Invalid);
        let msg = e.to_string();
        for v in [V1, V2] {
            assert!(!msg.contains(v), "a value in the message: {msg}");
        }
        msg
    }

    #[test]
    fn json_entries_carry_their_hosts_and_header() {
        let doc = format!(
            r#"[{{"name": "openai", "value": "{V1}", "hosts": ["api.openai.com"], "header": "Authorization: Bearer {{}}"}},
               {{"name": "db", "value": "{V2}", "hosts": ["db.internal", "*.example.com"]}}]"#
        );
        let s = parse(doc.as_bytes(), &LineOptions::default()).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].name.as_str(), s[0].value.as_str()), ("openai", V1));
        assert!(matches!(s[0].inject, Injection::Header { .. }));
        assert_eq!(s[1].hosts.len(), 2);
        assert_eq!(s[1].inject, Injection::Substitute);
    }

    #[test]
    fn lines_take_the_hosts_from_the_options() {
        let text = format!("# bootstrap\nOPENAI={V1}\r\n\nDB_PASS={V2}=with-equals\n");
        let s = parse(text.as_bytes(), &lines(&["api.openai.com"])).unwrap();
        assert_eq!(s.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["OPENAI", "DB_PASS"]);
        assert_eq!(s[0].value.as_str(), V1);
        assert_eq!(s[1].value.as_str(), format!("{V2}=with-equals"));
        assert_eq!(s[1].hosts[0].as_str(), "api.openai.com");
    }

    #[test]
    fn bad_input_is_named_without_its_values() {
        assert!(err(&format!("OPENAI={V1}\n"), &lines(&[])).contains("--host"));
        assert!(err(&format!("OPENAI={V1}\n{V2}\n"), &lines(&["a.example"])).contains("line 2: expected NAME=value"));
        assert!(err(&format!(r#"[{{"name": "x", "value": "{V1}", "hosts": "a.example"}}]"#), &lines(&[]))
            .contains("entry 1 (x): `hosts`"));
        assert!(err(&format!(r#"[{{"name": "x", "value": ["{V1}"], "hosts": ["a"]}}]"#), &lines(&[]))
            .contains("`value` must be a string"));
        assert!(err(&format!(r#"[{{"name": "x", "valu": "{V1}", "hosts": ["a"]}}]"#), &lines(&[]))
            .contains("unknown field `valu`"));
        // A syntax error right after a value: only where, never what.
        assert!(err(&format!(r#"[{{"name": "x", "value": "{V1}" "hosts": ["a"]}}]"#), &lines(&[]))
            .contains("line 1, column"));
        assert!(err(&format!(r#"[{{"name": "x", "value": "{V1}", "hosts": ["a"]}}]"#), &lines(&["a.example"]))
            .contains("--host and --header are for NAME=value lines"));
        let empty = err("   \n# nothing\n", &lines(&["a.example"]));
        assert!(empty.contains("no secrets"), "{empty}");
        assert!(err(&format!("A={V1}\nA={V2}\n"), &lines(&["a.example"])).contains("secret A: named twice"));
        // What the vault refuses is refused before anything is stored.
        assert!(err("SHORT=abc\n", &lines(&["a.example"])).contains("shorter than"));
        assert!(err(&format!("bad name={V1}\n"), &lines(&["a.example"])).contains("line 1"));
    }

    fn shm_dir() -> Option<tempfile::TempDir> {
        let d = tempfile::Builder::new().prefix("warden-bootstrap-").tempdir_in("/dev/shm").ok()?;
        (fs_magic(&File::open(d.path()).ok()?).ok()? == TMPFS_MAGIC).then_some(d)
    }

    fn write(path: &Path, text: &str, mode: u32) {
        std::fs::write(path, text).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn the_file_is_checked_then_wiped_and_removed() {
        let dir = shm_dir().expect("/dev/shm is tmpfs on this machine");
        let p = dir.path().join("secrets.env");
        write(&p, &format!("A={V1}\n"), 0o644);
        let e = SecretFile::open(&p, false).unwrap_err();
        assert_eq!(e.kind(), ImportErrorKind::Refused);
        assert!(e.to_string().contains("readable by group or others"), "{e}");
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        let link = dir.path().join("link.env");
        std::os::unix::fs::symlink(&p, &link).unwrap();
        assert!(SecretFile::open(&link, false).unwrap_err().to_string().contains("symbolic link"));

        let f = SecretFile::open(&p, false).unwrap();
        assert_eq!(f.bytes(), format!("A={V1}\n").as_bytes());
        // A second name for the inode sees the wipe: the bytes are gone, not just the name.
        let other = dir.path().join("hardlink");
        std::fs::hard_link(&p, &other).unwrap();
        f.consume().unwrap();
        assert!(!p.exists());
        let left = std::fs::read(&other).unwrap();
        assert!(left.iter().all(|b| *b == 0) && left.len() == V1.len() + 3, "{left:?}");
    }

    #[test]
    fn a_file_on_disk_needs_allow_disk() {
        let on_tmpfs = |d: &Path| fs_magic(&File::open(d).unwrap()).unwrap() == TMPFS_MAGIC;
        let mut dir = tempfile::tempdir().unwrap();
        if on_tmpfs(dir.path()) {
            dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR")).unwrap();
        }
        assert!(!on_tmpfs(dir.path()), "no disk-backed directory to test with");
        let p = dir.path().join("secrets.json");
        write(&p, "[]", 0o600);
        let e = SecretFile::open(&p, false).unwrap_err();
        assert!(e.to_string().contains("not on tmpfs or ramfs"), "{e}");
        assert!(SecretFile::open(&p, true).is_ok());
        assert!(p.exists(), "a refused or unconsumed file stays");
    }
}
