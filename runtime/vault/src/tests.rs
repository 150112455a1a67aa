use super::*;

fn vault(dir: &Path) -> (Vault, Arc<Store>) {
    let store = Arc::new(Store::open(&dir.join("warden.db")).unwrap());
    let (v, _) = Vault::open(store.clone(), &dir.join("identity.txt")).unwrap();
    (v, store)
}

fn hosts(h: &[&str]) -> Vec<HostPattern> {
    h.iter().map(|h| HostPattern::parse(h).unwrap()).collect()
}

fn bearer() -> Injection {
    Injection::header("Authorization: Bearer {}").unwrap()
}

#[test]
fn set_get_list_remove() {
    let dir = tempfile::tempdir().unwrap();
    let (v, _) = vault(dir.path());
    let mode = std::fs::metadata(dir.path().join("identity.txt")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert_eq!(
        v.set("openai", Zeroizing::new("sk-test-123456".into()), hosts(&["api.openai.com"]), bearer(), "t").unwrap(),
        1
    );
    assert_eq!(
        v.set("openai", Zeroizing::new("sk-test-abcdef".into()), hosts(&["api.openai.com"]), bearer(), "t").unwrap(),
        2
    );
    let s = v.get("openai").unwrap();
    assert_eq!(s.value.as_str(), "sk-test-abcdef");
    assert_eq!(s.info.version, 2);
    assert!(s.bound_to("api.openai.com") && !s.bound_to("evil.com"));
    assert!(!format!("{s:?}").contains("sk-test"));
    let (name, value) = s.info.inject.render(&s.value).unwrap();
    assert_eq!((name.as_str(), value.as_str()), ("Authorization", "Bearer sk-test-abcdef"));
    let listed = serde_json::to_string(&v.list().unwrap()).unwrap();
    assert!(listed.contains("api.openai.com") && !listed.contains("sk-test"), "{listed}");
    let exact = v.exact_set().unwrap();
    let engine = warden_redact::Engine::new([]).unwrap().with_exact(exact);
    let out = engine.redact("key=sk-test-abcdef", &mut warden_redact::Session::new()).unwrap();
    assert_eq!(out.text, "key=[SECRET_OPENAI_1]");
    v.remove("openai", "t").unwrap();
    assert!(matches!(v.get("openai"), Err(VaultError::NotFound(_))));
}

#[test]
fn the_ciphertext_is_not_the_value_and_the_file_has_no_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let (v, _) = vault(dir.path());
    v.set("k", Zeroizing::new("a-very-secret-value-123".into()), hosts(&["*.example.com"]), Injection::Substitute, "t")
        .unwrap();
    drop(v);
    for f in std::fs::read_dir(dir.path()).unwrap() {
        let bytes = std::fs::read(f.unwrap().path()).unwrap();
        assert!(!bytes.windows(23).any(|w| w == b"a-very-secret-value-123"));
    }
}

#[test]
fn swapped_or_restored_rows_do_not_decrypt_to_a_value() {
    let dir = tempfile::tempdir().unwrap();
    let (v, store) = vault(dir.path());
    v.set("a", Zeroizing::new("value-of-a-1".into()), hosts(&["a.example.com"]), bearer(), "t").unwrap();
    v.set("b", Zeroizing::new("value-of-b-1".into()), hosts(&["b.example.com"]), bearer(), "t").unwrap();
    let a = store.secret_row("a").unwrap().unwrap();
    let b = store.secret_row("b").unwrap().unwrap();
    // Copy a's ciphertext onto b (same version 1): refused by the name check.
    let conn = rusqlite_update(dir.path());
    conn.execute("UPDATE secrets SET ciphertext = ?1 WHERE name = 'b'", [&a.ciphertext]).unwrap();
    let err = v.get("b").unwrap_err().to_string();
    assert!(err.contains("another secret"), "{err}");
    // An old version restored over a new one: refused by the version check.
    conn.execute("UPDATE secrets SET ciphertext = ?1 WHERE name = 'b'", [&b.ciphertext]).unwrap();
    v.set("b", Zeroizing::new("value-of-b-2".into()), hosts(&["b.example.com"]), bearer(), "t").unwrap();
    conn.execute("UPDATE secrets SET ciphertext = ?1 WHERE name = 'b'", [&b.ciphertext]).unwrap();
    let err = v.get("b").unwrap_err().to_string();
    assert!(err.contains("another version"), "{err}");
}

/// The attacker with write access to the file: a plain connection, no checks.
fn rusqlite_update(dir: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(dir.join("warden.db")).unwrap()
}

#[test]
fn an_open_identity_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (v, store) = vault(dir.path());
    drop(v);
    let id = dir.path().join("identity.txt");
    std::fs::set_permissions(&id, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = Vault::open(store, &id).unwrap_err().to_string();
    assert!(err.contains("must be 0600"), "{err}");
}

#[test]
fn rotation_re_encrypts_everything_and_survives_a_crash_after_commit() {
    let dir = tempfile::tempdir().unwrap();
    let (v, store) = vault(dir.path());
    for i in 0..5 {
        v.set(&format!("s{i}"), Zeroizing::new(format!("secret-value-{i}")), hosts(&["x.example.com"]), bearer(), "t")
            .unwrap();
    }
    let id = dir.path().join("identity.txt");
    let before = std::fs::read_to_string(&id).unwrap();
    assert_eq!(v.rotate_identity("t").unwrap(), 5);
    assert_ne!(std::fs::read_to_string(&id).unwrap(), before);
    assert_eq!(v.get("s3").unwrap().value.as_str(), "secret-value-3");
    drop(v);
    let (v, _) = Vault::open(store.clone(), &id).unwrap();
    assert_eq!(v.all().unwrap().len(), 5);

    // A crash after the commit but before the rename: the pending identity
    // is the one that works, and open() finishes the rotation.
    let current = std::fs::read_to_string(&id).unwrap();
    v.rotate_identity("t").unwrap();
    let rotated = std::fs::read_to_string(&id).unwrap();
    std::fs::write(pending_path(&id), &rotated).unwrap();
    std::fs::set_permissions(pending_path(&id), std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(&id, current).unwrap();
    drop(v);
    let (v, _) = Vault::open(store.clone(), &id).unwrap();
    assert_eq!(v.get("s0").unwrap().value.as_str(), "secret-value-0");
    assert!(!pending_path(&id).exists());

    // A crash before the commit: the pending identity does not work, it goes.
    drop(v);
    let stray = age::x25519::Identity::generate();
    write_identity(&pending_path(&id), &stray).unwrap();
    let (v, _) = Vault::open(store, &id).unwrap();
    assert_eq!(v.get("s1").unwrap().value.as_str(), "secret-value-1");
    assert!(!pending_path(&id).exists());
}

#[test]
fn host_patterns_and_header_templates_are_checked() {
    let p = HostPattern::parse("*.Example.COM").unwrap();
    assert_eq!(p.as_str(), "*.example.com");
    assert!(p.matches("api.example.com") && p.matches("a.b.example.com"));
    assert!(!p.matches("example.com") && !p.matches("evilexample.com"));
    assert_eq!(HostPattern::parse("bücher.example").unwrap().as_str(), "xn--bcher-kva.example");
    for bad in
        ["", "ftp://x.com", "http://x.com:0", "http://x.com/path", "x.com:8080", "x.com/path", "a b.com", "*.", "com"]
    {
        assert!(HostPattern::parse(bad).is_err(), "{bad}");
    }
    assert!(Injection::header("x-api-key: {}").is_ok());
}

/// Issue 14 (6): a secret is bound to scheme, host and port; a bare host
/// means https only, so plain http or another service needs an explicit
/// binding.
#[test]
fn issue_14_bindings_name_scheme_host_and_port() {
    let bare = HostPattern::parse("api.example.com").unwrap();
    assert!(bare.matches_url("https", "api.example.com", 443) && bare.matches_url("https", "api.example.com", 8443));
    assert!(!bare.matches_url("http", "api.example.com", 80), "plain http needs an explicit binding");
    let http = HostPattern::parse("HTTP://127.0.0.1:8080/").unwrap();
    assert_eq!(http.as_str(), "http://127.0.0.1:8080");
    assert!(http.matches_url("http", "127.0.0.1", 8080));
    assert!(!http.matches_url("http", "127.0.0.1", 8081) && !http.matches_url("https", "127.0.0.1", 8080));
    assert_eq!(HostPattern::parse("https://api.example.com:443").unwrap().as_str(), "https://api.example.com");
    let https = HostPattern::parse("https://*.example.com").unwrap();
    assert!(https.matches_url("https", "a.example.com", 443) && !https.matches_url("https", "a.example.com", 444));
    assert!(https.matches("a.example.com"), "host-only matching ignores scheme and port");
    for bad in ["Authorization Bearer {}", "Auth: Bearer", "Auth: {} {}", "Bad Name: {}"] {
        assert!(Injection::header(bad).is_err(), "{bad}");
    }
    assert!(check_name("openai.prod-1").is_ok());
    assert!(check_name("../x").is_err() && check_name("a\nb").is_err());
}

/// `set_all` (a bootstrap import) writes every secret or none.
#[test]
fn set_all_writes_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (v, store) = vault(dir.path());
    let new = |name: &str, value: &str| NewSecret {
        name: name.into(),
        value: Zeroizing::new(value.into()),
        hosts: hosts(&["a.example"]),
        inject: Injection::Substitute,
    };
    v.set("a", Zeroizing::new("first-value-0001".into()), hosts(&["a.example"]), bearer(), "t").unwrap();
    // A bad entry after good ones: nothing is written.
    let err = v.set_all(&[new("a", "second-value-002"), new("b", "third-value-0003"), new("c", "")], "t").unwrap_err();
    assert!(err.to_string().contains("secret c: the value is empty"), "{err}");
    let twice = v.set_all(&[new("b", "third-value-0003"), new("b", "fourth-value-004")], "t").unwrap_err();
    assert!(twice.to_string().contains("named twice"), "{twice}");
    assert_eq!(v.list().unwrap().len(), 1);
    assert_eq!(v.get("a").unwrap().value.as_str(), "first-value-0001");
    // A failure inside the transaction, after a row was written: rolled back.
    let failed = store
        .secret_put_all(&["a", "b"], "t", |name, _| {
            if name == "b" {
                return Err("refused");
            }
            Ok(("[]".to_string(), "{}".to_string(), vec![1, 2, 3]))
        })
        .unwrap();
    assert_eq!(failed, Err("refused"));
    assert_eq!(v.get("a").unwrap().value.as_str(), "first-value-0001");
    // Good entries: all written, versions in order.
    assert_eq!(v.set_all(&[new("a", "second-value-002"), new("b", "third-value-0003")], "t").unwrap(), [2, 1]);
    assert_eq!(v.get("b").unwrap().value.as_str(), "third-value-0003");
}
