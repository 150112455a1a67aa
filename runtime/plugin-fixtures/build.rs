//! Builds the plugin guests (`plugins/build.sh`) and turns each core module
//! into a component with `wit-component`, into OUT_DIR. Tests and benches
//! use them through this crate's constants, so every `cargo test` runs real
//! components built from the sources in this repository.

use std::path::{Path, PathBuf};
use std::process::Command;

const GUESTS: &[&str] = &["trivial", "bip39", "shell_classifier", "hostile"];

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let plugins = manifest.join("../../plugins").canonicalize().expect("plugins/ exists");
    let wit = manifest.join("../../wit").canonicalize().expect("wit/ exists");
    rerun_on(&plugins, &["target"]);
    rerun_on(&wit, &[]);

    // The outer cargo's environment (target dir, flags, jobserver) must not
    // leak into the guests' build, which uses its own compiler and target.
    let mut cmd = Command::new("bash");
    cmd.arg(plugins.join("build.sh")).env_clear();
    for keep in ["PATH", "HOME", "CARGO_HOME", "RUSTUP_HOME", "TMPDIR"] {
        if let Some(v) = std::env::var_os(keep) {
            cmd.env(keep, v);
        }
    }
    let status = cmd.status().expect("run plugins/build.sh");
    if !status.success() {
        panic!("plugins/build.sh failed (see its message above); the plugin tests need the guests built");
    }

    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    let mut consts = String::new();
    for name in GUESTS {
        let core = plugins.join(format!("target/wasm32-unknown-unknown/release/warden_plugin_{name}.wasm"));
        let module = std::fs::read(&core).unwrap_or_else(|e| panic!("{}: {e}", core.display()));
        let enc = wit_component::ComponentEncoder::default();
        let component = enc
            .validate(true)
            .module(&module)
            .and_then(|mut e| e.encode())
            .unwrap_or_else(|e| panic!("componentize {name}: {e:?}"));
        let dest = out.join(format!("{name}.wasm"));
        std::fs::write(&dest, component).unwrap();
        consts.push_str(&format!(
            "/// The `{name}` plugin, as a component.\npub const {}: &str = {:?};\n",
            name.to_ascii_uppercase(),
            dest.display().to_string()
        ));
    }
    std::fs::write(out.join("components.rs"), consts).unwrap();
}

fn rerun_on(dir: &Path, skip: &[&str]) {
    println!("cargo:rerun-if-changed={}", dir.display());
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let p = entry.path();
        if skip.iter().any(|s| p.file_name().is_some_and(|n| n == *s)) {
            continue;
        }
        if p.is_dir() {
            rerun_on(&p, &[]);
        } else {
            println!("cargo:rerun-if-changed={}", p.display());
        }
    }
}
