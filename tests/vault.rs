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
