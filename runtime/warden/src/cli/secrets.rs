//! `warden secrets set|import|list|rm|rotate-identity`: the vault, from the
//! host's side. Values go in (from stdin, or a one-shot bootstrap file) and
//! never come out.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use warden::state::StateDir;
use warden_store::Store;
use warden_vault::{HostPattern, Injection, Vault};
use zeroize::Zeroizing;

use crate::cli::args::StateArgs;

#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Store a secret; the value is read from stdin (one trailing newline is dropped).
    Set {
        /// The secret's name (letters, digits, _ - .).
        name: String,
        /// A host it may be sent to: exact, or *.example.com (repeatable, at least one).
        #[arg(long = "host", value_name = "HOST", required = true)]
        hosts: Vec<String>,
        /// Inject as this header, e.g. 'Authorization: Bearer {}'. Without it
        /// the agent's SECRET_REF(name) is replaced in place.
        #[arg(long, value_name = "TEMPLATE")]
        header: Option<String>,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Store every secret of a bootstrap file in one transaction, then wipe
    /// and remove the file. The file: a JSON array of {name, value, hosts,
    /// header?}, or NAME=value lines bound with --host. It must not be a
    /// symlink nor readable by group or others, and must be on tmpfs or
    /// ramfs unless --allow-disk. On any error nothing is stored and the
    /// file is left in place.
    Import {
        /// The file to import and destroy.
        #[arg(long, value_name = "FILE")]
        consume: PathBuf,
        /// For NAME=value lines: a host they may be sent to (repeatable).
        #[arg(long = "host", value_name = "HOST")]
        hosts: Vec<String>,
        /// For NAME=value lines: inject as this header, e.g. 'Authorization: Bearer {}'.
        #[arg(long, value_name = "TEMPLATE")]
        header: Option<String>,
        /// Accept a file on a disk-backed file system (its bytes may survive the wipe there).
        #[arg(long)]
        allow_disk: bool,
        #[command(flatten)]
        state: StateArgs,
    },
    /// List secrets: names, hosts, injection, versions and dates. Never values.
    List {
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Delete a secret.
    Rm {
        /// The secret's name.
        name: String,
        #[command(flatten)]
        state: StateArgs,
    },
    /// Re-encrypt every secret to a new identity and replace the identity file.
    RotateIdentity {
        #[command(flatten)]
        state: StateArgs,
    },
}

fn open(state: &StateArgs) -> anyhow::Result<Vault> {
    let dir = StateDir::open(&state.root()?)?;
    let store = Arc::new(Store::open(&dir.db())?);
    let (vault, created) = Vault::open(store, &dir.identity())?;
    if created {
        eprintln!(
            "warden: created a new vault identity at {} (mode 0600); back it up: without it the vault cannot be read",
            dir.identity().display()
        );
    }
    Ok(vault)
}

fn actor() -> String {
    format!("local:{}", std::env::var("USER").unwrap_or_else(|_| "unknown".into()))
}

pub fn run(cmd: Command) -> anyhow::Result<ExitCode> {
    match cmd {
        Command::Set { name, hosts, header, state } => {
            warden_vault::check_name(&name)?;
            let hosts = hosts.iter().map(|h| HostPattern::parse(h)).collect::<Result<Vec<_>, _>>()?;
            let inject = match header {
                Some(t) => Injection::header(&t)?,
                None => Injection::Substitute,
            };
            let mut value = Zeroizing::new(String::new());
            std::io::stdin().read_to_string(&mut value).context("reading the value from stdin")?;
            if value.ends_with('\n') {
                value.pop();
                if value.ends_with('\r') {
                    value.pop();
                }
            }
            let vault = open(&state)?;
            let version = vault.set(&name, value, hosts, inject, &actor())?;
            println!("stored {name} (version {version})");
            Ok(ExitCode::SUCCESS)
        }
        Command::Import { consume, hosts, header, allow_disk, state } => {
            use warden::bootstrap::{parse, LineOptions, SecretFile};
            // Checked and parsed before the vault is touched: a refused file
            // changes nothing.
            let file = SecretFile::open(&consume, allow_disk)?;
            let secrets = parse(file.bytes(), &LineOptions { hosts, header })
                .map_err(|e| anyhow::anyhow!("{}: {e}; nothing was stored", consume.display()))?;
            let vault = open(&state)?;
            vault.set_all(&secrets, &actor()).with_context(|| format!("{}: nothing was stored", consume.display()))?;
            let names: Vec<String> = secrets.into_iter().map(|s| s.name).collect();
            file.consume()?;
            println!(
                "imported {} secret(s): {}; {} wiped and removed",
                names.len(),
                names.join(", "),
                consume.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::List { json, state } => {
            let vault = open(&state)?;
            let list = vault.list()?;
            let mut out = std::io::stdout().lock();
            if json {
                writeln!(out, "{}", serde_json::to_string_pretty(&list)?)?;
            } else {
                writeln!(out, "{:<24} {:>7}  {:<19}  {:<40}  INJECT", "NAME", "VERSION", "UPDATED", "HOSTS")?;
                for s in list {
                    let hosts: Vec<&str> = s.hosts.iter().map(|h| h.as_str()).collect();
                    writeln!(
                        out,
                        "{:<24} {:>7}  {:<19}  {:<40}  {}",
                        s.name,
                        s.version,
                        date(s.updated_at),
                        hosts.join(","),
                        s.inject
                    )?;
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Rm { name, state } => {
            open(&state)?.remove(&name, &actor())?;
            println!("deleted {name}");
            Ok(ExitCode::SUCCESS)
        }
        Command::RotateIdentity { state } => {
            let vault = open(&state)?;
            let n = vault.rotate_identity(&actor())?;
            println!("re-encrypted {n} secret(s) to a new identity at {}", vault.identity_path().display());
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn date(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    warden_policy::bundle::manifest::format_time(t).trim_end_matches('Z').replace('T', " ")
}
