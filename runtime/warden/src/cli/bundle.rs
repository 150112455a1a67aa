//! `warden bundle build|sign|verify|test`: make and check policy bundles.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use warden::config::parse_trust;
use warden::policy::{BundleMeta, CompiledPolicy};
use warden_plugin_host::{HostConfig, PluginHost};
use warden_policy::bundle::{self, archive, manifest, BuildOptions, Keyring, SecretKey, VerifyOptions};
use warden_policy::{probe, PolicySource};

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Write the manifest (every file's sha-256 and size) and pack DIR as a
    /// .tar.gz. The result is unsigned: sign it next.
    Build {
        /// The policy directory (policy.toml, rules/, plugins/, tests/).
        dir: PathBuf,
        /// The archive to write.
        #[arg(long, value_name = "FILE.tar.gz")]
        out: PathBuf,
        /// Revision, an integer >= 1; every node refuses one lower than it has seen.
        #[arg(long, default_value_t = 1)]
        revision: u64,
        /// Bundle name (default: the directory's name).
        #[arg(long)]
        name: Option<String>,
        /// Tenant the bundle is for; `*` for any.
        #[arg(long, default_value = "*")]
        tenant: String,
        /// Start of validity, RFC 3339 (default: now).
        #[arg(long, value_name = "TIME")]
        not_before: Option<String>,
        /// End of validity, RFC 3339 (default: --valid-for after --not-before).
        #[arg(long, value_name = "TIME", conflicts_with = "valid_for")]
        expires_at: Option<String>,
        /// Validity period, e.g. 90d or 12h.
        #[arg(long, value_name = "DURATION", default_value = "90d")]
        valid_for: String,
        /// Oldest Warden version that may run it (default: this one).
        #[arg(long, value_name = "VERSION", default_value = env!("CARGO_PKG_VERSION"))]
        min_runtime: String,
    },
    /// Add a signature over the bundle's exact manifest bytes (in place).
    Sign {
        /// The bundle archive.
        file: PathBuf,
        /// The signing key file (from `warden keygen`).
        #[arg(long, value_name = "KEYFILE")]
        key: PathBuf,
    },
    /// Run every check: signature by a trusted key, file hashes and sizes,
    /// no unlisted file, validity window, runtime version. Exit 0 only if all pass.
    Verify {
        /// The bundle (.tar.gz or directory).
        file: PathBuf,
        /// A trusted public key, `ed25519:<base64>` or a .pub file (repeatable).
        #[arg(long, value_name = "PUBKEY", required = true)]
        trust: Vec<String>,
        /// Also check the bundle is for this tenant.
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Compile the rules and plugins and run the self-tests (tests/*.toml),
    /// printing each failure. Needs no signature.
    Test {
        /// The bundle (.tar.gz) or policy directory.
        path: PathBuf,
    },
}

pub fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Build { dir, out, revision, name, tenant, not_before, expires_at, valid_for, min_runtime } => {
            let not_before = match not_before {
                Some(t) => manifest::parse_rfc3339(&t).map_err(anyhow::Error::msg)?,
                // Whole seconds: the manifest stores seconds.
                None => {
                    SystemTime::UNIX_EPOCH
                        + Duration::from_secs(SystemTime::now().duration_since(SystemTime::UNIX_EPOCH)?.as_secs())
                }
            };
            let expires_at = match expires_at {
                Some(t) => manifest::parse_rfc3339(&t).map_err(anyhow::Error::msg)?,
                None => not_before + manifest::parse_duration(&valid_for).map_err(anyhow::Error::msg)?,
            };
            let name = match name {
                Some(n) => n,
                None => dir_name(&dir)?,
            };
            let files =
                archive::read_dir(&dir, &bundle::Limits::default()).with_context(|| format!("{}", dir.display()))?;
            let opts = BuildOptions { name, tenant, revision, not_before, expires_at, min_runtime };
            let built = bundle::build(files, &opts).map_err(anyhow::Error::msg)?;
            // Compile before packing: a bundle whose rules do not compile is
            // caught here, not on every node.
            let mut sources = built.clone();
            sources.remove(bundle::MANIFEST);
            let source = PolicySource::from_files(sources, &dir.display().to_string())?;
            scan_speed(&source.compile()?, &source)?;
            let count = built.len() - 1;
            write_archive(&out, &archive::write_tar_gz(&built))?;
            println!("built {} ({} files, revision {}, unsigned)", out.display(), count, opts.revision);
            Ok(ExitCode::SUCCESS)
        }
        Command::Sign { file, key } => {
            let text = std::fs::read_to_string(&key).with_context(|| format!("cannot read key {}", key.display()))?;
            let key = SecretKey::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", key.display()))?;
            let files =
                archive::read_path(&file, &bundle::Limits::default()).with_context(|| format!("{}", file.display()))?;
            let signed = bundle::sign(files, &key).with_context(|| format!("cannot sign {}", file.display()))?;
            write_archive(&file, &archive::write_tar_gz(&signed))?;
            println!("signed {} with key {}", file.display(), key.public().id());
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify { file, trust, tenant } => {
            let keys = trust.iter().map(|t| parse_trust(t)).collect::<anyhow::Result<Vec<_>>>()?;
            let ring = Keyring::new(keys);
            let opts = VerifyOptions { tenant, ..VerifyOptions::now() };
            let result = archive::read_path(&file, &bundle::Limits::default())
                .map_err(bundle::VerifyError::from)
                .and_then(|files| bundle::verify(files, &ring, &opts));
            match result {
                Ok(v) => {
                    println!(
                        "ok: {} revision {} for tenant {}, digest {}, signed by {}, valid until {}",
                        v.manifest.name,
                        v.manifest.revision,
                        v.manifest.tenant,
                        v.digest,
                        v.signed_by,
                        v.manifest.expires_at
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("warden: verify {}: {e}", file.display());
                    Ok(ExitCode::from(1))
                }
            }
        }
        Command::Test { path } => test(&path),
    }
}

fn test(path: &Path) -> anyhow::Result<ExitCode> {
    let mut files =
        archive::read_path(path, &bundle::Limits::default()).with_context(|| format!("{}", path.display()))?;
    files.remove(bundle::MANIFEST);
    files.remove(bundle::SIGNATURE);
    let source = PolicySource::from_files(files, &path.display().to_string())?;
    let host = PluginHost::new(HostConfig::default())?;
    let policy = CompiledPolicy::compile(source, BundleMeta::embedded(), &host, None)
        .with_context(|| format!("{} does not compile", path.display()))?;
    // The rules alone: plugins have their own fuel and time limits.
    scan_speed(&policy.source.compile()?, &policy.source)?;
    let report = policy.self_test();
    let mut out = std::io::stdout().lock();
    for f in &report.failures {
        writeln!(out, "FAIL {f}")?;
    }
    let rules = policy.source.rules.len();
    let plugins = policy.source.settings.plugins.len();
    if report.cases == 0 {
        writeln!(out, "{rules} rules and {plugins} plugins compile; no self-tests (tests/*.toml)")?;
    } else if report.failures.is_empty() {
        writeln!(out, "{rules} rules and {plugins} plugins compile; {} self-tests: all passed", report.cases)?;
    } else {
        writeln!(out, "{} of {} self-tests failed", report.failures.len(), report.cases)?;
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// Measure how slow the rules can be made to scan and refuse a policy
/// below the floor (see `warden_policy::probe`); print the slowest probe.
fn scan_speed(engine: &warden_redact::Engine, source: &PolicySource) -> anyhow::Result<()> {
    let wc = probe::worst_case(engine, &source.rules);
    let Some(worst) = wc.worst() else { return Ok(()) };
    if !wc.acceptable() {
        anyhow::bail!(
            "the rules scan too slowly: {worst} (floor {:.2} MB/s); a text shaped like this would hold a core for minutes",
            probe::MIN_BYTES_PER_SEC / 1e6
        );
    }
    println!("scan worst case: {worst} ({} probes)", wc.probes);
    Ok(())
}

fn dir_name(dir: &Path) -> anyhow::Result<String> {
    let canon = dir.canonicalize().with_context(|| format!("{}", dir.display()))?;
    Ok(canon.file_name().and_then(|n| n.to_str()).unwrap_or("bundle").to_string())
}

/// Whole and durable: a reader never sees half a bundle, a crash leaves the
/// old file or the new one. Mode 0600, as the temporary file it used to be
/// renamed from had (tempfile's default).
fn write_archive(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    warden_util::fs::write_atomic(path, bytes, 0o600).with_context(|| format!("cannot write {}", path.display()))
}
