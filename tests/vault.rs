//! `warden secrets` on the real binary: values go in from stdin and never
//! come out, the identity is created 0600 on first use and refused when open.

#[path = "support/mod.rs"]
mod support;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use support::TempDir;

fn secrets(state: &Path, args: &[&str], stdin: &str) -> Output {
    let args: Vec<&str> = std::iter::once("secrets").chain(args.iter().copied()).collect();
    support::warden(state, &args, stdin)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const VALUE: &str = "sk-live/9f8e7d6c5b4a+39281706";

#[test]
fn secrets_go_in_and_never_come_out() {
    let dir = TempDir::new("secrets");
    let state = dir.join("state");
    let out = secrets(
        &state,
        &["set", "openai", "--host", "api.openai.com", "--header", "Authorization: Bearer {}"],
        &format!("{VALUE}\n"),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("created a new vault identity"), "{}", text(&out.stderr));
    let id = state.join("identity.txt");
    assert_eq!(std::fs::metadata(&id).unwrap().permissions().mode() & 0o777, 0o600);

    let out = secrets(
        &state,
        &[
            "set",
            "openai",
            "--host",
            "api.openai.com",
            "--host",
            "*.openai.azure.com",
            "--header",
            "Authorization: Bearer {}",
        ],
        VALUE,
    );
    assert!(text(&out.stdout).contains("version 2"), "{}", text(&out.stdout));
    assert!(!text(&out.stderr).contains("created"), "the identity is made once");

    for args in [&["list"][..], &["list", "--json"][..]] {
        let out = secrets(&state, args, "");
        let listed = text(&out.stdout);
        assert!(out.status.success());
        assert!(
            listed.contains("openai")
                && listed.contains("*.openai.azure.com")
                && listed.contains("Authorization: Bearer {}"),
            "{listed}"
        );
        assert!(!listed.contains(VALUE) && !text(&out.stderr).contains(VALUE));
    }
    // No plaintext anywhere in the state directory, WAL included.
    for f in std::fs::read_dir(&state).unwrap() {
        let bytes = std::fs::read(f.unwrap().path()).unwrap();
        assert!(!bytes.windows(VALUE.len()).any(|w| w == VALUE.as_bytes()));
    }

    // The exact layer catches the value in any shape, given the vault.
    let mut child = Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(["redact", "--vault", state.to_str().unwrap()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let escaped = VALUE.replace('/', "%2F").replace('+', "%2B");
    writeln!(child.stdin.take().unwrap(), "plain {VALUE} url {escaped}").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(text(&out.stdout), "plain [SECRET_OPENAI_1] url [SECRET_OPENAI_1]\n");

    let out = secrets(&state, &["rotate-identity"], "");
    assert!(text(&out.stdout).contains("re-encrypted 1 secret"), "{}", text(&out.stdout));
    let out = secrets(&state, &["rm", "openai"], "");
    assert!(out.status.success());
    let out = secrets(&state, &["rm", "openai"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("no secret named openai"));
}

#[test]
fn bad_input_and_an_open_identity_are_refused_with_reasons() {
    let dir = TempDir::new("secrets-bad");
    let state = dir.join("state");
    let cases: [(&[&str], &str, &str); 4] = [
        (&["set", "x", "--host", "http://a.com/v1"], VALUE, "expected a host name"),
        (&["set", "x", "--host", "a.com", "--header", "Authorization Bearer"], VALUE, "header template"),
        (&["set", "../x", "--host", "a.com"], VALUE, "secret name"),
        (&["set", "x", "--host", "a.com"], "", "the value is empty"),
    ];
    for (args, stdin, needle) in cases {
        let out = secrets(&state, args, stdin);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(text(&out.stderr).contains(needle), "{args:?}: {}", text(&out.stderr));
    }
    assert!(secrets(&state, &["set", "x", "--host", "a.com"], VALUE).status.success());
    std::fs::set_permissions(state.join("identity.txt"), std::fs::Permissions::from_mode(0o640)).unwrap();
    let out = secrets(&state, &["list"], "");
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("it must be 0600"), "{}", text(&out.stderr));
}

/// A private directory on tmpfs for bootstrap files.
fn shm_dir() -> tempfile::TempDir {
    let d = tempfile::Builder::new().prefix("warden-import-").tempdir_in("/dev/shm").expect("/dev/shm (tmpfs)");
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    d
}

fn write_private(path: &Path, body: &str, mode: u32) {
    std::fs::write(path, body).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn names(state: &Path) -> Vec<String> {
    let out = secrets(state, &["list", "--json"], "");
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    list.as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap().to_string()).collect()
}

const BOOT_A: &str = "sk-boot/1a2b3c4d5e6f7a8b9c0d";
const BOOT_B: &str = "pg-boot/0f9e8d7c6b5a49382716";

/// Issue 17 point 5: `warden secrets import --consume FILE` stores every
/// secret in one transaction and destroys the file; any refusal leaves the
/// vault as it was and the file in place, and never prints a value.
#[test]
fn issue_17_bootstrap_secrets_are_imported_once_and_the_file_destroyed() {
    let dir = TempDir::new("secrets-import");
    let state = dir.join("state");
    assert!(secrets(&state, &["set", "keep", "--host", "a.example"], VALUE).status.success());
    let shm = shm_dir();
    let file = shm.path().join("bootstrap.json");
    let good = format!(
        r#"[{{"name": "openai", "value": "{BOOT_A}", "hosts": ["api.openai.com"], "header": "Authorization: Bearer {{}}"}},
            {{"name": "db", "value": "{BOOT_B}", "hosts": ["db.internal.example"]}}]"#
    );
    let consume = |path: &Path, extra: &[&str]| {
        let mut args = vec!["import", "--consume", path.to_str().unwrap()];
        args.extend_from_slice(extra);
        secrets(&state, &args, "")
    };
    let refused = |out: &Output, needle: &str| {
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
        let all = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(all.contains(needle), "wanted {needle:?} in {all}");
        for v in [BOOT_A, BOOT_B] {
            assert!(!all.contains(v), "a value in the output: {all}");
        }
    };

    // Refused files: open to group, a symlink, on disk, a bad entry (after a
    // good one: the good one is not stored either).
    write_private(&file, &good, 0o640);
    refused(&consume(&file, &[]), "readable by group or others");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let link = shm.path().join("link.json");
    std::os::unix::fs::symlink(&file, &link).unwrap();
    refused(&consume(&link, &[]), "symbolic link");
    let on_disk = dir.join("bootstrap.json");
    write_private(&on_disk, &good, 0o600);
    refused(&consume(&on_disk, &[]), "not on tmpfs or ramfs");
    let bad = shm.path().join("bad.json");
    let half = good.replace(r#"["db.internal.example"]"#, "[]");
    write_private(&bad, &half, 0o600);
    refused(&consume(&bad, &[]), "entry 2 (db): `hosts` must be a non-empty array");
    let syntax = shm.path().join("syntax.env");
    write_private(&syntax, &format!("OPENAI={BOOT_A}\n{BOOT_B}\n"), 0o600);
    refused(&consume(&syntax, &["--host", "api.openai.com"]), "line 2: expected NAME=value");
    assert_eq!(names(&state), ["keep"], "nothing stored by a refused import");
    for (f, body) in [(&file, &good), (&on_disk, &good), (&bad, &half)] {
        assert_eq!(&std::fs::read_to_string(f).unwrap(), body, "a refused file is left as it was");
    }

    // The good file: both stored, bound as written; the file is gone.
    let out = consume(&file, &[]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("imported 2 secret(s): openai, db"), "{}", text(&out.stdout));
    assert!(!text(&out.stdout).contains(BOOT_A) && !text(&out.stderr).contains(BOOT_A));
    assert!(!file.exists(), "the file is removed");
    assert_eq!(names(&state), ["db", "keep", "openai"]);
    let list = text(&secrets(&state, &["list", "--json"], "").stdout);
    assert!(list.contains("api.openai.com") && list.contains("db.internal.example") && list.contains("Bearer"));

    // NAME=value lines with --host, on disk with --allow-disk; `db` gets version 2.
    write_private(&on_disk, &format!("# rotated\ndb={BOOT_A}\n"), 0o600);
    let out = consume(&on_disk, &["--host", "db.internal.example", "--allow-disk"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!on_disk.exists());
    let list: serde_json::Value =
        serde_json::from_str(&text(&secrets(&state, &["list", "--json"], "").stdout)).unwrap();
    let db = list.as_array().unwrap().iter().find(|s| s["name"] == "db").unwrap();
    assert_eq!(db["version"], 2, "{db}");
}
