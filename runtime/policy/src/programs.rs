//! The capability table: what each program, subcommand and flag can do, as
//! data (`programs.toml` in the bundle), so an operator adds a program or
//! changes a tier by shipping a bundle, not a binary.
//!
//! ```toml
//! [tiers]                 # capability -> tier
//! destroy = "RED"
//!
//! [program.rm]
//! caps = ["destroy"]
//! what = "deletes {args}"
//! flags."-r" = { what = "deletes {args} recursively" }
//!
//! [program.git]
//! value_flags = ["-C", "-c"]          # global options that take a value
//! flags."core.sshCommand=" = { caps = ["code"], what = "runs a command as git's ssh" }
//! [program.git.sub.push]
//! caps = ["egress"]
//! ```
//!
//! A program's capabilities are the union of its own `caps`, those of the
//! subcommand found among its operands (`sub`, nested), of every flag present
//! (`flags`: `-x` also inside clusters like `-rx`, `--long` also as `--long=v`
//! or an unambiguous prefix, `key=` as a prefix, case-insensitively) and of
//! every `match` regex that finds its pattern in the operands joined by
//! spaces (and in here-documents fed to the program). Wrappers (`wrap`),
//! shells (`shell`), interpreters (`code_flags`) and `exec_flags` (find) are
//! described here too and unwrapped by [`crate::shell`].

use std::collections::BTreeMap;

use regex_automata::meta::Regex;
use serde::Deserialize;

use crate::Tier;

/// What a command can do. Each maps to a tier through `[tiers]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cap {
    /// Reads only.
    Read,
    /// Reads from the network (a download, a lookup); sends nothing computed.
    Fetch,
    /// Writes local files or state.
    Write,
    /// Sends data or a shell to another machine.
    Egress,
    /// Runs code the gate cannot see (inline interpreter code, piped code).
    Code,
    /// Destroys data.
    Destroy,
    /// Needs or takes privilege.
    Privileged,
    /// Writes disks or devices below the file system.
    Disk,
    /// Decodes data (base64 -d); only matters for what it feeds.
    Decode,
}

impl Cap {
    fn default_tier(self) -> Tier {
        match self {
            Cap::Read | Cap::Decode => Tier::Green,
            Cap::Fetch | Cap::Write => Tier::Yellow,
            Cap::Egress => Tier::YellowExternal,
            Cap::Code | Cap::Destroy => Tier::Red,
            Cap::Privileged | Cap::Disk => Tier::CriticalRed,
        }
    }

    /// `read`, `egress`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Cap::Read => "read",
            Cap::Fetch => "fetch",
            Cap::Write => "write",
            Cap::Egress => "egress",
            Cap::Code => "code",
            Cap::Destroy => "destroy",
            Cap::Privileged => "privileged",
            Cap::Disk => "disk",
            Cap::Decode => "decode",
        }
    }
}

/// `programs.toml`, as written.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgramsFile {
    /// Capability -> tier overrides.
    #[serde(default)]
    pub tiers: BTreeMap<String, Tier>,
    /// Programs by name.
    #[serde(default)]
    pub program: BTreeMap<String, ProgramSpec>,
}

/// One program or subcommand.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgramSpec {
    /// Other names with the same entry (`ncat` for `nc`).
    #[serde(default)]
    pub aliases: Vec<String>,
    /// What it can do whatever its arguments.
    #[serde(default)]
    pub caps: Vec<Cap>,
    /// Reason template: `{prog}`, `{args}` (operands), `{sub}`.
    #[serde(default)]
    pub what: Option<String>,
    /// Flags that add capabilities.
    #[serde(default)]
    pub flags: BTreeMap<String, FlagSpec>,
    /// Flags that make the command read-only whatever else it could do
    /// (`crontab -l`, `fdisk -l`, `git clean -n`): this entry's own `caps`
    /// and `what` are dropped when one is present (flags and matches still
    /// count).
    #[serde(default)]
    pub readonly_flags: Vec<String>,
    /// Options that take a value, skipped when looking for the subcommand
    /// or the wrapped command.
    #[serde(default)]
    pub value_flags: Vec<String>,
    /// Subcommands by name (first operand that names one).
    #[serde(default)]
    pub sub: BTreeMap<String, ProgramSpec>,
    /// Regexes over the operands (and here-documents) that add capabilities.
    #[serde(default, rename = "match")]
    pub matches: Vec<MatchSpec>,
    /// A wrapper: the command it runs starts after its options and `skip`
    /// operands (`timeout 5 rm x`: skip 1).
    #[serde(default)]
    pub wrap: Option<WrapSpec>,
    /// A shell: `-c STRING` is parsed again; code on stdin is piped code.
    #[serde(default)]
    pub shell: bool,
    /// Runs its operands joined by spaces as shell code (`eval`, `watch`).
    #[serde(default)]
    pub eval: bool,
    /// Options whose value is shell code (`su -c`, `flock -c`).
    #[serde(default)]
    pub command_flags: Vec<String>,
    /// An interpreter: these options take inline code (`-c`, `-e`).
    #[serde(default)]
    pub code_flags: Vec<String>,
    /// The interpreter's language, for reasons.
    #[serde(default)]
    pub lang: Option<String>,
    /// Inline code that matches this regex is opaque; code that does not,
    /// and imports only `inline_safe_imports`, only computes (read-only).
    /// Without it all inline code is opaque.
    #[serde(default)]
    pub inline_unsafe: Option<String>,
    /// Modules inline code may import and still count as read-only.
    #[serde(default)]
    pub inline_safe_imports: Vec<String>,
    /// Runs its first operand as a script, or code from stdin when none.
    #[serde(default)]
    pub runs_script: bool,
    /// A wrapper that appends data it reads to the command's operands
    /// (`xargs`): the command gets a computed operand.
    #[serde(default)]
    pub feeds_args: bool,
    /// Options that start an embedded command ending at `;` or `+` (find).
    #[serde(default)]
    pub exec_flags: Vec<String>,
}

/// What a flag adds.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlagSpec {
    /// Capabilities.
    #[serde(default)]
    pub caps: Vec<Cap>,
    /// Reason template; replaces the program's.
    #[serde(default)]
    pub what: Option<String>,
}

/// A regex over the operands.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchSpec {
    /// The regex (ASCII classes, like tool args rules); `(?i)` for case.
    pub pattern: String,
    /// Capabilities it adds.
    #[serde(default)]
    pub caps: Vec<Cap>,
    /// Reason template; `{1}` is the first capture group.
    #[serde(default)]
    pub what: Option<String>,
}

/// How a wrapper finds the command it runs.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WrapSpec {
    /// Operands to skip before the command (`timeout DURATION`).
    #[serde(default)]
    pub skip: usize,
    /// Skip leading `NAME=VALUE` operands (`env`).
    #[serde(default)]
    pub assignments: bool,
    /// The command starts after a `--` when there is one (`kubectl exec`).
    #[serde(default)]
    pub after_dashdash: bool,
}

/// The table, compiled.
#[derive(Clone, Debug, Default)]
pub struct Programs {
    tiers: BTreeMap<Cap, Tier>,
    by_name: BTreeMap<String, usize>,
    specs: Vec<Compiled>,
}

/// A compiled entry.
#[derive(Clone, Debug)]
pub struct Compiled {
    /// The entry as written.
    pub spec: ProgramSpec,
    /// `match` regexes, compiled, in order.
    pub matches: Vec<Regex>,
    /// Subcommands, compiled.
    pub sub: BTreeMap<String, Compiled>,
    /// `inline_unsafe`, compiled.
    pub inline_unsafe: Option<Regex>,
}

impl Programs {
    /// Parse and compile `programs.toml`; `path` names it in errors.
    pub fn parse(path: &str, text: &str) -> Result<Programs, String> {
        let file: ProgramsFile = toml::from_str(text).map_err(|e| format!("{path}: {e}"))?;
        Programs::compile(file).map_err(|e| format!("{path}: {e}"))
    }

    /// Compile a parsed table.
    pub fn compile(file: ProgramsFile) -> Result<Programs, String> {
        let mut tiers = BTreeMap::new();
        for (name, tier) in file.tiers {
            let cap: Cap = serde::Deserialize::deserialize(toml::Value::String(name.clone()))
                .map_err(|_| format!("tiers: unknown capability {name:?}"))?;
            tiers.insert(cap, tier);
        }
        let mut out = Programs { tiers, ..Default::default() };
        for (name, spec) in file.program {
            let names: Vec<String> = std::iter::once(name.clone()).chain(spec.aliases.iter().cloned()).collect();
            let compiled = compile_spec(&name, spec)?;
            let at = out.specs.len();
            out.specs.push(compiled);
            for n in names {
                if out.by_name.insert(n.clone(), at).is_some() {
                    return Err(format!("program {n:?} is listed twice"));
                }
            }
        }
        Ok(out)
    }

    /// The tier a capability gives.
    pub fn tier(&self, cap: Cap) -> Tier {
        self.tiers.get(&cap).copied().unwrap_or(cap.default_tier())
    }

    /// The entry for a program name (`/usr/bin/python3.12` finds `python3`,
    /// `mkfs.ext4` finds `mkfs`).
    pub fn lookup(&self, name: &str) -> Option<(&str, &Compiled)> {
        let base = name.rsplit('/').next().unwrap_or(name);
        let mut candidates = vec![base];
        let trimmed = base.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
        if !trimmed.is_empty() && trimmed != base {
            candidates.push(trimmed);
        }
        if let Some((head, _)) = base.split_once('.') {
            candidates.push(head);
        }
        for c in candidates {
            if let Some((k, &i)) = self.by_name.get_key_value(c) {
                return Some((k.as_str(), &self.specs[i]));
            }
        }
        None
    }

    /// How many programs the table knows.
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }
}

fn compile_spec(name: &str, spec: ProgramSpec) -> Result<Compiled, String> {
    let mut matches = Vec::new();
    for m in &spec.matches {
        matches.push(crate::tools::compile_args(&m.pattern).map_err(|e| {
            let why = e.syntax_error().map(|s| s.to_string()).unwrap_or_else(|| e.to_string());
            format!("program {name:?}: match {:?}: {why}", m.pattern)
        })?);
    }
    let inline_unsafe = match &spec.inline_unsafe {
        Some(re) => Some(crate::tools::compile_args(re).map_err(|e| {
            let why = e.syntax_error().map(|s| s.to_string()).unwrap_or_else(|| e.to_string());
            format!("program {name:?}: inline_unsafe: {why}")
        })?),
        None => None,
    };
    let mut sub = BTreeMap::new();
    for (s, sspec) in &spec.sub {
        sub.insert(s.clone(), compile_spec(&format!("{name} {s}"), sspec.clone())?);
        for a in &sspec.aliases {
            sub.insert(a.clone(), compile_spec(&format!("{name} {a}"), sspec.clone())?);
        }
    }
    Ok(Compiled { spec, matches, sub, inline_unsafe })
}

/// Whether `arg` sets the flag `key` (see the module docs).
pub fn flag_matches(key: &str, arg: &str) -> bool {
    if key.ends_with('=') {
        return arg.len() >= key.len() && arg[..key.len()].eq_ignore_ascii_case(key);
    }
    if arg == key {
        return true;
    }
    if let Some(long) = key.strip_prefix("--") {
        if let Some(a) = arg.strip_prefix("--") {
            let a = a.split_once('=').map_or(a, |(n, _)| n);
            return a == long || (a.len() >= 3 && long.starts_with(a));
        }
        return false;
    }
    // A short flag also counts inside a cluster of short flags (`-rf`).
    if key.len() == 2 && key.starts_with('-') && !key.starts_with("--") {
        let c = key.as_bytes()[1];
        return arg.len() > 2
            && arg.len() <= 8
            && arg.starts_with('-')
            && !arg.starts_with("--")
            && arg.bytes().skip(1).all(|b| b.is_ascii_alphanumeric())
            && arg.bytes().skip(1).any(|b| b == c);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_match_clusters_longs_prefixes_and_assignments() {
        assert!(flag_matches("-r", "-rf"));
        assert!(flag_matches("-f", "-rf"));
        assert!(!flag_matches("-f", "--force"));
        assert!(flag_matches("--force", "--force"));
        assert!(flag_matches("--recursive", "--rec"));
        assert!(!flag_matches("--recursive", "--re"));
        assert!(flag_matches("--data", "--data=@x"));
        assert!(flag_matches("of=", "of=/dev/sda"));
        assert!(flag_matches("core.sshcommand=", "core.sshCommand=sh"));
        assert!(!flag_matches("-f", "-abcdefghf"));
    }

    #[test]
    fn the_embedded_table_compiles() {
        let p = Programs::parse("programs.toml", crate::defaults::PROGRAMS).unwrap();
        assert!(p.len() > 150, "{}", p.len());
        assert!(p.lookup("/usr/bin/python3.12").is_some());
        assert!(p.lookup("mkfs.ext4").is_some());
    }
}
