//! Policy bundles end to end on the real binary: `warden keygen`, `bundle
//! build|sign|verify|test`, `policy activate|status|rollback`, and `warden
//! serve` polling a hub on loopback.

#[path = "support/mod.rs"]
mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use support::{policy_with_plugins, raw_tar_gz, signed_archive, small_policy, write_dir, Raw, TempDir};
use warden_policy::bundle::{self, archive, Keyring, SecretKey, VerifyOptions};

fn warden(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_warden")).args(args).output().expect("warden runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `warden keygen` into `dir`; returns (key file, public key text).
fn keygen(dir: &Path, name: &str) -> (PathBuf, String) {
    let key = dir.join(name);
    let out = warden(&["keygen", "--out", key.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let public = stdout.lines().find_map(|l| l.strip_prefix("public key: ")).unwrap().to_string();
    (key, public)
}

fn secret(key: &Path) -> SecretKey {
    SecretKey::parse(&std::fs::read_to_string(key).unwrap()).unwrap()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Build and sign `files` with the CLI; extra build flags in `flags`.
fn cli_bundle(dir: &TempDir, name: &str, files: &warden_policy::Files, key: &Path, flags: &[&str]) -> PathBuf {
    let src = dir.join(&format!("{name}-src"));
    write_dir(&src, files);
    let out_file = dir.join(&format!("{name}.tar.gz"));
    let mut args = vec!["bundle", "build", p(&src), "--out", p(&out_file)];
    args.extend_from_slice(flags);
    let out = warden(&args);
    assert!(out.status.success(), "build: {}", text(&out.stderr));
    let out = warden(&["bundle", "sign", p(&out_file), "--key", p(key)]);
    assert!(out.status.success(), "sign: {}", text(&out.stderr));
    out_file
}

fn verify(file: &Path, trust: &str) -> Output {
    warden(&["bundle", "verify", p(file), "--trust", trust])
}

fn digest_of(bytes: &[u8], public: &str) -> String {
    let ring = Keyring::new([bundle::PublicKey::parse(public).unwrap()]);
    let files = archive::read_tar_gz(bytes, &Default::default()).unwrap();
    let opts = VerifyOptions { allow_expired: true, ..VerifyOptions::now() };
    bundle::verify(files, &ring, &opts).unwrap().digest
}

#[test]
fn keygen_writes_a_0600_key_and_prints_the_public_key_and_id() {
    let dir = TempDir::new("keygen");
    let key = dir.join("op.key");
    let out = warden(&["keygen", "--out", p(&key)]);
    assert!(out.status.success());
    let stdout = text(&out.stdout);
    assert!(stdout.contains("public key: ed25519:"), "{stdout}");
    let id = stdout.lines().find_map(|l| l.strip_prefix("key id: ")).unwrap();
    assert_eq!(id.len(), 16);
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    let body = std::fs::read_to_string(&key).unwrap();
    assert!(!stdout.contains(body.trim()), "the secret key must not be printed");
    // Never overwritten by accident.
    let again = warden(&["keygen", "--out", p(&key)]);
    assert!(!again.status.success());
    assert_eq!(std::fs::read_to_string(&key).unwrap(), body);
}

#[test]
fn the_default_policy_builds_signs_verifies_and_passes_its_self_tests() {
    let dir = TempDir::new("roundtrip");
    let (key, public) = keygen(dir.path(), "k");
    let file = dir.join("b.tar.gz");
    let out = warden(&["bundle", "build", "../../policies/default", "--out", p(&file), "--revision", "7"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Unsigned: refused, and the message says why.
    let out = verify(&file, &public);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("missing signature"), "{}", text(&out.stderr));
    assert!(warden(&["bundle", "sign", p(&file), "--key", p(&key)]).status.success());
    let out = verify(&file, &public);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("revision 7"), "{}", text(&out.stdout));
    // The public key file works as --trust too.
    assert!(verify(&file, &format!("{}.pub", p(&key))).status.success());
    let out = warden(&["bundle", "test", p(&file)]);
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    assert!(text(&out.stdout).contains("self-tests: all passed"), "{}", text(&out.stdout));
}

#[test]
fn verify_names_each_failed_check() {
    let dir = TempDir::new("verify");
    let (key, public) = keygen(dir.path(), "k");
    let (_, other) = keygen(dir.path(), "other");
    let good = cli_bundle(&dir, "good", &small_policy("TOK"), &key, &["--revision", "2"]);
    let good_files = archive::read_path(&good, &Default::default()).unwrap();
    let write = |name: &str, files: &warden_policy::Files| {
        let f = dir.join(name);
        std::fs::write(&f, archive::write_tar_gz(files)).unwrap();
        f
    };
    let expect = |file: &Path, trust: &str, needle: &str| {
        let out = verify(file, trust);
        let err = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{file:?} should fail with {needle}");
        assert!(err.contains(needle), "{file:?}: expected {needle:?} in {err:?}");
    };

    let mut t = good_files.clone();
    t.insert("rules/tok.toml".into(), b"[[rule]]\nid = \"x\"\nlabel = \"X\"\nregex = 'x'\n".to_vec());
    expect(&write("tampered-file.tar.gz", &t), &public, "hash mismatch for rules/tok.toml");

    let mut t = good_files.clone();
    let m = text(&t["manifest.json"]).replace("\"revision\": 2", "\"revision\": 9");
    t.insert("manifest.json".into(), m.into_bytes());
    expect(&write("tampered-manifest.tar.gz", &t), &public, "bad signature");

    expect(&good, &other, "unknown key");

    let mut t = good_files.clone();
    t.remove("manifest.sig");
    expect(&write("unsigned.tar.gz", &t), &public, "missing signature");

    let mut t = good_files.clone();
    t.insert("rules/extra.toml".into(), b"".to_vec());
    expect(&write("extra.tar.gz", &t), &public, "unlisted file: rules/extra.toml");

    let expired = cli_bundle(
        &dir,
        "expired",
        &small_policy("TOK"),
        &key,
        &["--not-before", "2020-01-01T00:00:00Z", "--expires-at", "2021-01-01T00:00:00Z"],
    );
    expect(&expired, &public, "expired");
    let future = cli_bundle(&dir, "future", &small_policy("TOK"), &key, &["--not-before", "2099-01-01T00:00:00Z"]);
    expect(&future, &public, "not yet valid");

    // A signature by a trusted key is required whoever else signed: a
    // bundle signed by both is fine, one signed only by an untrusted key is not.
    let both = dir.join("both.tar.gz");
    std::fs::copy(&good, &both).unwrap();
    assert!(warden(&["bundle", "sign", p(&both), "--key", p(&dir.join("other"))]).status.success());
    assert!(verify(&both, &public).status.success());
    assert!(verify(&both, &other).status.success());
    assert!(verify(&good, &public).status.success());
}

#[test]
fn corrupt_archives_are_refused_with_the_reason() {
    let dir = TempDir::new("corrupt");
    let (key, public) = keygen(dir.path(), "k");
    let good = std::fs::read(cli_bundle(&dir, "good", &small_policy("TOK"), &key, &[])).unwrap();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("truncated", good[..good.len() / 2].to_vec(), "corrupt archive"),
        ("not-gzip", b"PK\x03\x04 this is a zip".to_vec(), "corrupt archive"),
        ("traversal", raw_tar_gz(&[Raw::File(b"../../etc/cron.d/x", b"boom")]), "refused path \"../../etc/cron.d/x\""),
        ("absolute", raw_tar_gz(&[Raw::File(b"/etc/passwd", b"x")]), "refused path \"/etc/passwd\""),
        ("symlink", raw_tar_gz(&[Raw::Symlink(b"rules/x.toml", "/etc/shadow")]), "symlink entries are not allowed"),
    ];
    for (name, bytes, needle) in cases {
        let f = dir.join(&format!("{name}.tar.gz"));
        std::fs::write(&f, bytes).unwrap();
        let out = verify(&f, &public);
        assert_eq!(out.status.code(), Some(1), "{name}");
        assert!(text(&out.stderr).contains(needle), "{name}: {}", text(&out.stderr));
    }
}

/// A 2 GiB decompression bomb, both ways: one entry that says it is 2 GiB,
/// and 2 GiB of zeros spread over entries that are each under the per-file
/// cap. Both stop at a cap, without inflating the whole thing.
#[test]
fn a_two_gib_decompression_bomb_stops_at_the_size_cap() {
    let dir = TempDir::new("bomb");
    let (_, public) = keygen(dir.path(), "k");
    const GIB2: u64 = 2 << 30;
    let zeros = vec![0u8; 1 << 20];
    let bomb = |entries: u64| {
        let per = GIB2 / entries;
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut tar = tar::Builder::new(gz);
        for i in 0..entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(per);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            h.set_path(format!("rules/bomb{i}.toml")).unwrap();
            h.set_cksum();
            let reader = std::io::repeat(0).take(per);
            tar.append(&h, reader).unwrap();
        }
        let _ = &zeros;
        tar.into_inner().unwrap().finish().unwrap()
    };
    let one = bomb(1);
    assert!(one.len() < 16 << 20, "the bomb is small: {} bytes", one.len());
    let f = dir.join("one.tar.gz");
    std::fs::write(&f, &one).unwrap();
    let started = Instant::now();
    let out = verify(&f, &public);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("over the 67108864 byte cap per file"), "{}", text(&out.stderr));
    assert!(started.elapsed() < Duration::from_secs(10));

    let many = bomb(64); // 32 MiB each
    let f = dir.join("many.tar.gz");
    std::fs::write(&f, &many).unwrap();
    let out = verify(&f, &public);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("exceed the 268435456 byte cap"), "{}", text(&out.stderr));
}

#[test]
fn bundle_test_prints_each_failing_self_test() {
    let dir = TempDir::new("selftest");
    let mut files = small_policy("TOK");
    files.insert(
        "tests/wrong.toml".into(),
        b"[[redact]]\nname = \"expects the wrong label\"\ninput = \"tok_abcdefgh\"\noutput = \"[NOPE_1]\"\n\
          \n[[tool]]\nname = \"expects rm to run\"\ntool = \"exec\"\nargs = { command = \"rm -rf /\" }\ndecision = \"execute\"\n"
            .to_vec(),
    );
    let src = dir.join("src");
    write_dir(&src, &files);
    // policy.toml of the small policy has no exec rule: exec is the default YELLOW,
    // which runs at autonomy 2; make rm RED so the expectation fails.
    std::fs::write(
        src.join("policy.toml"),
        "[tools]\nautonomy = 2\n[[tools.rules]]\ntool = \"exec\"\nargs = 'rm -rf'\ntier = \"RED\"\n",
    )
    .unwrap();
    let out = warden(&["bundle", "test", p(&src)]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAIL tests/wrong.toml: expects the wrong label: output \"[TOK_1]\""), "{stdout}");
    assert!(stdout.contains("FAIL tests/wrong.toml: expects rm to run: decision gate, expected execute"), "{stdout}");
    assert!(stdout.contains("2 of 3 self-tests failed"), "{stdout}");
}

fn status(state: &Path, public: &str) -> serde_json::Value {
    let out = warden(&["policy", "status", "--state-dir", p(state), "--trust", public]);
    assert!(out.status.success(), "status: {}", text(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn activate(state: &Path, public: &str, file: &Path) -> Output {
    warden(&["policy", "activate", p(file), "--state-dir", p(state), "--trust", public])
}

#[test]
fn activation_refuses_downgrades_reused_revisions_and_failing_self_tests() {
    let dir = TempDir::new("activate");
    let state = dir.join("state");
    let (key, public) = keygen(dir.path(), "k");
    let sk = secret(&key);
    let write = |name: &str, bytes: Vec<u8>| {
        let f = dir.join(name);
        std::fs::write(&f, bytes).unwrap();
        f
    };
    let r3 = write("r3.tar.gz", signed_archive(small_policy("THREE"), 3, &sk));
    let r2 = write("r2.tar.gz", signed_archive(small_policy("TWO"), 2, &sk));
    let r3b = write("r3b.tar.gz", signed_archive(small_policy("OTHER"), 3, &sk));
    let mut failing = small_policy("FOUR");
    failing.insert(
        "tests/fail.toml".into(),
        b"[[redact]]\nname = \"fails\"\ninput = \"tok_abcdefgh\"\noutput = \"nope\"\n".to_vec(),
    );
    let r4 = write("r4.tar.gz", signed_archive(failing, 4, &sk));

    assert_eq!(status(&state, &public)["loaded_from"], "embedded");
    let out = activate(&state, &public, &r3);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let refusals = [
        (&r2, "downgrade: revision 2 is below the highest accepted revision 3"),
        (&r3b, "same revision, different content"),
        (&r4, "self-test failed (1 of 2): tests/fail.toml: fails"),
    ];
    for (file, needle) in refusals {
        let out = activate(&state, &public, file);
        assert_eq!(out.status.code(), Some(1), "{file:?}");
        assert!(text(&out.stderr).contains(needle), "{}", text(&out.stderr));
        let s = status(&state, &public);
        assert_eq!(s["revision"], 3, "the active bundle stays");
        assert!(s["last_attempt"]["error"].as_str().unwrap().contains(needle), "{s}");
    }
    // The same bundle again is not an error.
    let out = activate(&state, &public, &r3);
    assert!(text(&out.stdout).contains("unchanged"), "{}", text(&out.stdout));
    // A key no longer trusted: the last-good bundle does not load, the
    // embedded default serves, and the status says why.
    let (_, other) = keygen(dir.path(), "other");
    let s = status(&state, &other);
    assert_eq!(s["loaded_from"], "embedded-fallback");
    assert!(s["load_error"].as_str().unwrap().contains("unknown key"), "{s}");
}

#[test]
fn rollback_reactivates_only_an_accepted_digest_and_is_audited() {
    let dir = TempDir::new("rollback");
    let state = dir.join("state");
    let (key, public) = keygen(dir.path(), "k");
    let sk = secret(&key);
    let b1 = signed_archive(small_policy("ONE"), 1, &sk);
    let b2 = signed_archive(small_policy("TWO"), 2, &sk);
    let (d1, d2) = (digest_of(&b1, &public), digest_of(&b2, &public));
    for (n, b) in [("b1", &b1), ("b2", &b2)] {
        let f = dir.join(n);
        std::fs::write(&f, b).unwrap();
        assert!(activate(&state, &public, &f).status.success());
    }
    assert_eq!(status(&state, &public)["digest"], d2.as_str());
    let out = warden(&["policy", "rollback", "0123456789abcdef", "--state-dir", p(&state), "--trust", &public]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("not in the accepted history"), "{}", text(&out.stderr));
    let out = warden(&["policy", "rollback", &d1[..12], "--by", "alice", "--state-dir", p(&state), "--trust", &public]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = status(&state, &public);
    assert_eq!(s["digest"], d1.as_str());
    assert_eq!(s["revision"], 1);
    assert_eq!(s["highest_revision"], 2, "the anti-rollback counter does not move back");
    let out = warden(&["policy", "history", "--state-dir", p(&state), "--trust", &public]);
    let hist = text(&out.stdout);
    assert!(hist.contains("audit #3") && hist.contains("alice policy.rollback"), "{hist}");
    // Revision 1 is still refused from the hub: only the local command rolls back.
    let f = dir.join("b1");
    let out = activate(&state, &public, &f);
    assert!(text(&out.stdout).contains("unchanged"), "{}{}", text(&out.stdout), text(&out.stderr));
}

/// kill -9 at many points of an activation; every restart comes back on a
/// complete bundle, the old or the new, never a mix.
#[test]
fn kill_9_during_activation_leaves_the_old_or_the_new_bundle() {
    let dir = TempDir::new("kill9");
    let (key, public) = keygen(dir.path(), "k");
    let sk = secret(&key);
    let old = dir.join("old.tar.gz");
    let new = dir.join("new.tar.gz");
    std::fs::write(&old, signed_archive(small_policy("OLD"), 1, &sk)).unwrap();
    // The new one compiles 283 rules and two plugins: a long activation.
    std::fs::write(&new, signed_archive(policy_with_plugins(), 2, &sk)).unwrap();
    let (d_old, d_new) =
        (digest_of(&std::fs::read(&old).unwrap(), &public), digest_of(&std::fs::read(&new).unwrap(), &public));

    let fresh = |i: usize| {
        let state = dir.join(&format!("state{i}"));
        assert!(activate(&state, &public, &old).status.success());
        state
    };
    let t0 = Instant::now();
    let full = fresh(100);
    let out = activate(&full, &public, &new);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let whole = t0.elapsed();

    let mut seen = (0, 0);
    // Kill points across the activation, and two well past its measured
    // length so that one surely lands after the commit on a slow machine.
    let points = [0.0, 0.15, 0.3, 0.45, 0.6, 0.75, 0.9, 1.05, 1.5, 3.0];
    for (i, point) in points.into_iter().enumerate() {
        let state = fresh(i);
        let mut child = Command::new(env!("CARGO_BIN_EXE_warden"))
            .args(["policy", "activate", p(&new), "--state-dir", p(&state), "--trust", &public])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(whole.mul_f64(point));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let s = status(&state, &public);
        assert_eq!(s["loaded_from"], "last-good", "{s}");
        assert!(s["load_error"].is_null(), "{s}");
        let digest = s["digest"].as_str().unwrap();
        if digest == d_old {
            assert_eq!(s["revision"], 1);
            seen.0 += 1;
        } else {
            assert_eq!(digest, d_new);
            assert_eq!(s["revision"], 2);
            assert_eq!(s["plugins"], serde_json::json!(["bip39", "shell"]));
            seen.1 += 1;
        }
        let leftovers: Vec<_> = std::fs::read_dir(state.join("bundles"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "partial writes are cleaned on start: {leftovers:?}");
    }
    assert!(seen.0 > 0 && seen.1 > 0, "kills landed before and after the commit: {seen:?}");
}

/// A hub on loopback: serves whatever bundle is set, with an ETag, and
/// answers 304 to a matching If-None-Match. Records each request's
/// If-None-Match.
struct Hub {
    addr: SocketAddr,
    bundle: Arc<Mutex<(String, Vec<u8>)>>,
    seen: Arc<Mutex<Vec<Option<String>>>>,
}

impl Hub {
    fn start() -> Hub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let bundle = Arc::new(Mutex::new((String::new(), Vec::new())));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (b, s) = (bundle.clone(), seen.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut inm = None;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("if-none-match:") {
                        inm = Some(v.trim().to_string());
                    }
                }
                s.lock().unwrap().push(inm.clone());
                let (etag, body) = b.lock().unwrap().clone();
                let etag_q = format!("\"{etag}\"");
                if inm.as_deref() == Some(etag_q.as_str()) {
                    let _ = write!(conn, "HTTP/1.1 304 Not Modified\r\nETag: {etag_q}\r\nConnection: close\r\n\r\n");
                } else {
                    let _ = write!(
                        conn,
                        "HTTP/1.1 200 OK\r\nETag: {etag_q}\r\nContent-Type: application/gzip\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = conn.write_all(&body);
                }
            }
        });
        Hub { addr, bundle, seen }
    }

    fn serve(&self, etag: &str, body: Vec<u8>) {
        *self.bundle.lock().unwrap() = (etag.to_string(), body);
    }
}

fn http_get(addr: SocketAddr, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    let code = resp.split_whitespace().nth(1)?.parse().ok()?;
    let body = resp.split_once("\r\n\r\n")?.1.to_string();
    Some((code, body))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_for(what: &str, mut f: impl FnMut() -> bool) {
    let t = Instant::now();
    while !f() {
        assert!(t.elapsed() < Duration::from_secs(60), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A policy status read over HTTP; `serde_json::Value::Null` when down.
fn policy(addr: SocketAddr) -> serde_json::Value {
    match http_get(addr, "/api/v1/policy") {
        Some((200, body)) => serde_json::from_str(body.trim_end_matches('\0')).unwrap_or_default(),
        _ => serde_json::Value::Null,
    }
}

#[test]
fn serve_polls_the_hub_with_etags_swaps_bundles_and_reports_status() {
    let dir = TempDir::new("serve");
    let (key, public) = keygen(dir.path(), "k");
    let sk = secret(&key);
    let hub = Hub::start();
    hub.serve("r1", signed_archive(small_policy("ONE"), 1, &sk));
    let control: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let config = dir.join("warden.toml");
    std::fs::write(
        &config,
        format!(
            "state_dir = {:?}\n[control]\nlisten = \"{control}\"\n[egress]\nlisten = \"127.0.0.1:{}\"\n[policy]\nbundle_url = \"http://{}/bundles/t.tar.gz?token=hub-secret-token\"\n\
             trust = [\"{public}\"]\npoll_min = \"100ms\"\npoll_max = \"200ms\"\n",
            p(&dir.join("state")),
            free_port(),
            hub.addr
        ),
    )
    .unwrap();
    let log = dir.join("serve.log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(["serve", "--config", p(&config)])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();

    wait_for("revision 1", || policy(control)["revision"] == 1);
    assert_eq!(http_get(control, "/healthz").unwrap().0, 200);
    assert_eq!(http_get(control, "/readyz").unwrap().0, 200);
    wait_for("a conditional request", || hub.seen.lock().unwrap().iter().any(|s| s.as_deref() == Some("\"r1\"")));

    hub.serve("r2", signed_archive(small_policy("TWO"), 2, &sk));
    wait_for("revision 2", || policy(control)["revision"] == 2);

    // A tampered revision 3: refused, revision 2 keeps serving, the status says why.
    let mut bad = support::signed(small_policy("THREE"), 3, &sk);
    bad.insert("rules/tok.toml".into(), b"# emptied\n".to_vec());
    hub.serve("r3", archive::write_tar_gz(&bad));
    wait_for("the refusal", || {
        let s = policy(control);
        s["last_attempt"]["error"].as_str().is_some_and(|e| e.contains("hash mismatch for rules/tok.toml"))
    });
    let s = policy(control);
    assert_eq!(s["revision"], 2);
    assert!(!s.to_string().contains("hub-secret-token"), "the URL's token is not reported: {s}");

    // SIGTERM: a clean exit.
    unsafe { libc_kill(child.id() as i32, 15) };
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let logs = std::fs::read_to_string(&log).unwrap();
    assert!(logs.contains("policy bundle activated"), "{logs}");
    assert!(!logs.contains("hub-secret-token"), "no secret in the logs");
    for line in logs.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
    }

    // Restart with the hub unreachable: the last-good bundle comes back.
    drop(hub);
    let mut cfg = std::fs::read_to_string(&config).unwrap();
    cfg = cfg.replace("bundle_url", "# bundle_url");
    std::fs::write(&config, cfg).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_warden"))
        .args(["serve", "--config", p(&config)])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for("restart on revision 2", || policy(control)["revision"] == 2);
    unsafe { libc_kill(child.id() as i32, 15) };
    assert!(child.wait().unwrap().success());
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}
