//! `warden keygen --out KEYFILE`: a bundle signing key.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use warden_policy::bundle::SecretKey;
use warden_util::fs::write_atomic;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Where to write the signing key (mode 0600). The public key goes to
    /// KEYFILE.pub.
    #[arg(long, value_name = "KEYFILE")]
    out: PathBuf,
    /// Replace an existing key file.
    #[arg(long)]
    force: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let key = SecretKey::generate().map_err(anyhow::Error::msg)?;
    // Whole or not at all, mode 0600 before a byte of the key is written.
    let written = if args.force {
        write_atomic(&args.out, key.to_text().as_bytes(), 0o600)
    } else {
        write_new(&args.out, key.to_text().as_bytes(), 0o600)
    };
    written.with_context(|| {
        format!("cannot create {} (an existing key is never overwritten without --force)", args.out.display())
    })?;
    let public = key.public();
    let mut pub_path = args.out.clone().into_os_string();
    pub_path.push(".pub");
    write_atomic(Path::new(&pub_path), format!("{}\n", public.to_text()).as_bytes(), 0o644)
        .with_context(|| format!("cannot write {}", PathBuf::from(&pub_path).display()))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "public key: {}", public.to_text())?;
    writeln!(out, "key id: {}", public.id())?;
    writeln!(out, "wrote {} (secret, mode 0600) and {}", args.out.display(), PathBuf::from(pub_path).display())?;
    Ok(ExitCode::SUCCESS)
}

/// Write a file that must not exist yet: whole and durable as with
/// [`write_atomic`], and refused (`AlreadyExists`, the file untouched) if
/// `path` exists, even when it appears between the check and the write: the
/// data goes to a temporary name first, then a hard link, which never
/// replaces, gives it its name.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = dir.join(warden_util::random_id(".tmp-keygen-"));
    write_atomic(&tmp, bytes, mode)?;
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    linked?;
    warden_util::fs::sync_dir(dir)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn write_new_never_replaces_and_leaves_no_temp() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("key");
        write_new(&p, b"first", 0o600).unwrap();
        let e = write_new(&p, b"second", 0o600).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(&p).unwrap(), b"first");
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("key")]);
    }
}
