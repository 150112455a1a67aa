//! `warden keygen --out KEYFILE`: a bundle signing key.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use warden_policy::bundle::SecretKey;

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
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).mode(0o600);
    if args.force {
        opts.create(true).truncate(true);
    } else {
        opts.create_new(true);
    }
    let mut f = opts.open(&args.out).with_context(|| {
        format!("cannot create {} (an existing key is never overwritten without --force)", args.out.display())
    })?;
    // `mode` only applies on creation: make sure a replaced file is 0600 too.
    std::fs::set_permissions(&args.out, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    f.write_all(key.to_text().as_bytes())?;
    f.sync_all()?;
    let public = key.public();
    let mut pub_path = args.out.clone().into_os_string();
    pub_path.push(".pub");
    std::fs::write(&pub_path, format!("{}\n", public.to_text()))
        .with_context(|| format!("cannot write {}", PathBuf::from(&pub_path).display()))?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "public key: {}", public.to_text())?;
    writeln!(out, "key id: {}", public.id())?;
    writeln!(out, "wrote {} (secret, mode 0600) and {}", args.out.display(), PathBuf::from(pub_path).display())?;
    Ok(ExitCode::SUCCESS)
}
