//! Embeds the default bundle (`policies/default`) so the binary runs with no
//! files around it.

use std::fmt::Write;
use std::path::PathBuf;

fn main() {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("../../policies/default");
    let root = root.canonicalize().expect("policies/default exists");
    println!("cargo:rerun-if-changed={}", root.display());
    let rules_dir = root.join("rules");
    println!("cargo:rerun-if-changed={}", rules_dir.display());
    let mut files: Vec<PathBuf> = std::fs::read_dir(&rules_dir)
        .expect("policies/default/rules is readable")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    let mut out = String::from("&[\n");
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        let name = format!("rules/{}", f.file_name().unwrap().to_str().unwrap());
        writeln!(out, "    ({name:?}, include_str!({:?})),", f.display().to_string()).unwrap();
    }
    out.push(']');
    let policy = root.join("policy.toml");
    println!("cargo:rerun-if-changed={}", policy.display());
    let dest = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    std::fs::write(dest.join("default_rules.rs"), out).unwrap();
    std::fs::write(dest.join("default_policy_path.txt"), policy.display().to_string()).unwrap();
    std::fs::write(
        dest.join("default_policy.rs"),
        format!("include_str!({:?})", policy.display().to_string()),
    )
    .unwrap();
}
