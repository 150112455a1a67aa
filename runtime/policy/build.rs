//! Embeds the default bundle (`policies/default`: `policy.toml`,
//! `rules/*.toml`, `tests/*.toml`) so the binary runs with no files around it.

use std::fmt::Write;
use std::path::PathBuf;

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("../../policies/default");
    let root = root.canonicalize().expect("policies/default exists");
    println!("cargo:rerun-if-changed={}", root.display());
    let mut files = vec![root.join("policy.toml"), root.join("programs.toml")];
    for sub in ["rules", "tests"] {
        let dir = root.join(sub);
        println!("cargo:rerun-if-changed={}", dir.display());
        let mut found: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        found.sort();
        files.extend(found);
    }
    let mut out = String::from("&[\n");
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        let rel = f.strip_prefix(&root).unwrap();
        let name = rel.components().map(|c| c.as_os_str().to_str().unwrap()).collect::<Vec<_>>().join("/");
        writeln!(out, "    ({name:?}, include_str!({:?})),", f.display().to_string()).unwrap();
    }
    out.push(']');
    let dest = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    std::fs::write(dest.join("default_bundle.rs"), out).unwrap();
}
