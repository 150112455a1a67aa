//! Classifies shell commands into tiers.
//!
//! Takes a tool call whose arguments carry a command (`command`, `cmd`,
//! `script` or `args`), splits it into simple commands at `;`, `&&`, `||`,
//! `|` and newlines, classifies each and answers with the riskiest. Rules,
//! most severe first:
//!
//! - critical-red: wiping a filesystem root or home (`rm -rf /`), `mkfs`,
//!   `dd` onto a device, fork bombs, piping a download into a shell
//!   (`curl … | sh`), `chmod -R 777 /`;
//! - red: any recursive or forced `rm`, `chmod 777`, recursive `chown`,
//!   `docker run --privileged` or with the host's root mounted, writes under
//!   `/etc`, `/usr`, `/boot`, `sudo`, `git push --force`, `kill -9`,
//!   `shutdown`/`reboot`, firewall flushes, SQL `DROP`/`TRUNCATE`;
//! - yellow-external: talking to other hosts (`ssh`, `scp`, `rsync` to a
//!   remote, `curl`/`wget` with data, `git push`, `mail`, `nc`);
//! - yellow: anything that changes local state (writes, moves, installs,
//!   commits) and any command not known to be read-only;
//! - green: read-only commands (`ls`, `cat`, `grep`, `git status`, ...).
#![no_std]

use warden_plugin_sdk::{format, ClassifierPlugin, String, Tier, ToString, ToolCall, Vec, Verdict};

struct Shell;

fn rank(t: Tier) -> u8 {
    match t {
        Tier::Green => 0,
        Tier::Yellow => 1,
        Tier::YellowExternal => 2,
        Tier::Red => 3,
        Tier::CriticalRed => 4,
    }
}

/// The command text out of the call's JSON arguments.
fn command_of(call: &ToolCall) -> Result<String, String> {
    let v: serde_json::Value =
        serde_json::from_str(&call.arguments).map_err(|e| format!("arguments are not JSON: {e}"))?;
    for key in ["command", "cmd", "script"] {
        if let Some(s) = v.get(key).and_then(|c| c.as_str()) {
            return Ok(s.to_string());
        }
    }
    if let Some(args) = v.get("args").and_then(|a| a.as_array()) {
        let parts: Vec<&str> = args.iter().filter_map(|a| a.as_str()).collect();
        return Ok(parts.join(" "));
    }
    if let Some(s) = v.as_str() {
        return Ok(s.to_string());
    }
    Err("no command in the arguments (expected command, cmd, script or args)".to_string())
}

const READ_ONLY: &[&str] = &[
    "ls", "cat", "head", "tail", "less", "more", "grep", "rg", "find", "pwd", "echo", "printf", "wc", "sort", "uniq",
    "diff", "stat", "file", "which", "whoami", "id", "date", "uname", "env", "ps", "top", "df", "du", "free", "uptime",
    "tree", "jq", "true", "false", "test", "basename", "dirname",
];

fn classify_simple(cmd: &str) -> (Tier, String) {
    let words: Vec<&str> = cmd.split_whitespace().collect();
    let Some(&first) = words.first() else { return (Tier::Green, "empty command".to_string()) };
    let prog = first.rsplit('/').next().unwrap_or(first);
    let has = |w: &str| words.iter().any(|x| *x == w);
    let flags = |c: char| words.iter().any(|x| x.starts_with('-') && !x.starts_with("--") && x.contains(c));
    let targets_root = words
        .iter()
        .skip(1)
        .any(|w| matches!(*w, "/" | "/*" | "~" | "~/" | "$HOME" | "/home" | "/etc" | "/usr" | "/var"));
    let writes_system =
        |w: &&str| ["/etc/", "/usr/", "/boot/", "/bin/", "/sbin/", "/lib/"].iter().any(|p| w.starts_with(p));
    let redirect_target =
        cmd.split(['>']).nth(1).map(|t| t.trim_start_matches('>').trim().split_whitespace().next().unwrap_or(""));

    match prog {
        "sudo" | "su" | "doas" => {
            let rest = words[1..].join(" ");
            let (t, why) = classify_simple(&rest);
            let t = if rank(t) < rank(Tier::Red) { Tier::Red } else { t };
            return (t, format!("runs as root: {why}"));
        }
        "rm" if (flags('r') || flags('R') || has("--recursive")) && targets_root => {
            return (Tier::CriticalRed, "recursive delete of a root, home or system directory".to_string())
        }
        "rm" if flags('r') || flags('R') || flags('f') || has("--recursive") || has("--force") => {
            return (Tier::Red, "recursive or forced delete".to_string())
        }
        "rm" | "rmdir" | "shred" | "unlink" => return (Tier::Red, "deletes files".to_string()),
        "mkfs" | "fdisk" | "parted" | "wipefs" => {
            return (Tier::CriticalRed, "formats or repartitions a disk".to_string())
        }
        p if p.starts_with("mkfs.") => return (Tier::CriticalRed, "formats a disk".to_string()),
        "dd" if words.iter().any(|w| w.starts_with("of=/dev/")) => {
            return (Tier::CriticalRed, "writes raw data onto a device".to_string())
        }
        "chmod" if (flags('R') || has("--recursive")) && targets_root => {
            return (Tier::CriticalRed, "changes permissions of a whole system tree".to_string())
        }
        "chmod" if words.iter().any(|w| *w == "777" || *w == "a+rwx" || *w == "o+w") => {
            return (Tier::Red, "makes files writable by everyone".to_string())
        }
        "chown" | "chgrp" if flags('R') || has("--recursive") => {
            return (Tier::Red, "recursive ownership change".to_string())
        }
        "docker" | "podman"
            if has("--privileged")
                || words.iter().any(|w| w.starts_with("/:") || *w == "--pid=host" || *w == "--net=host") =>
        {
            return (Tier::Red, "container with host privileges".to_string())
        }
        "git" if has("push") && (has("--force") || flags('f') || has("--force-with-lease")) => {
            return (Tier::Red, "force-push rewrites shared history".to_string())
        }
        "git" if has("push") => return (Tier::YellowExternal, "publishes commits to a remote".to_string()),
        "git"
            if words.get(1).is_some_and(|w| {
                matches!(
                    *w,
                    "status" | "log" | "diff" | "show" | "branch" | "remote" | "blame" | "rev-parse" | "ls-files"
                )
            }) =>
        {
            return (Tier::Green, "reads the repository".to_string())
        }
        "git" if words.get(1).is_some_and(|w| matches!(*w, "clone" | "fetch" | "pull")) => {
            return (Tier::YellowExternal, "fetches from a remote".to_string())
        }
        "kill" | "pkill" | "killall" if has("-9") || has("-KILL") => return (Tier::Red, "kills processes".to_string()),
        "shutdown" | "reboot" | "halt" | "poweroff" => return (Tier::Red, "stops the machine".to_string()),
        "systemctl"
            if words
                .get(1)
                .is_some_and(|w| matches!(*w, "stop" | "disable" | "mask" | "restart" | "reboot" | "poweroff")) =>
        {
            return (Tier::Red, "stops or restarts services".to_string())
        }
        "iptables" | "nft" | "ufw" if has("-F") || has("flush") || has("disable") => {
            return (Tier::Red, "flushes the firewall".to_string())
        }
        "ssh" | "scp" | "sftp" | "mosh" => {
            return (Tier::YellowExternal, "connects to another host over SSH".to_string())
        }
        "rsync" if words.iter().skip(1).any(|w| w.contains(':')) => {
            return (Tier::YellowExternal, "copies to or from another host".to_string())
        }
        "nc" | "ncat" | "netcat" | "telnet" | "socat" => {
            return (Tier::YellowExternal, "opens a raw network connection".to_string())
        }
        "mail" | "sendmail" | "mutt" | "mailx" => return (Tier::YellowExternal, "sends email".to_string()),
        "curl" | "wget" | "http" | "httpie" => {
            let sends = words.iter().any(|w| {
                matches!(
                    *w,
                    "-d" | "--data"
                        | "--data-binary"
                        | "-F"
                        | "--form"
                        | "-T"
                        | "--upload-file"
                        | "--post-data"
                        | "--post-file"
                        | "-X"
                )
            });
            return (
                Tier::YellowExternal,
                if sends { "sends data to another host" } else { "downloads from another host" }.to_string(),
            );
        }
        _ => {}
    }
    if let Some(t) = redirect_target {
        if writes_system(&t) {
            return (Tier::Red, format!("writes under a system directory ({t})"));
        }
        if !t.is_empty() && t != "/dev/null" && !t.starts_with('&') {
            return (Tier::Yellow, "writes a file".to_string());
        }
    }
    if matches!(prog, "tee" | "cp" | "mv" | "install" | "ln" | "sed") && words.iter().skip(1).any(writes_system) {
        return (Tier::Red, "writes under a system directory".to_string());
    }
    if matches!(prog, "psql" | "mysql" | "sqlite3") {
        let up = cmd.to_ascii_uppercase();
        if up.contains("DROP ") || up.contains("TRUNCATE ") || (up.contains("DELETE FROM") && !up.contains("WHERE")) {
            return (Tier::Red, "destroys database data".to_string());
        }
        return (Tier::Yellow, "runs database statements".to_string());
    }
    if READ_ONLY.contains(&prog) {
        return (Tier::Green, "read-only command".to_string());
    }
    (Tier::Yellow, format!("{prog} may change local state"))
}

fn classify_command(cmd: &str) -> (Tier, String) {
    let compact: String = cmd.chars().filter(|c| !c.is_whitespace()).collect();
    if compact.contains(":(){:|:&};:") {
        return (Tier::CriticalRed, "fork bomb".to_string());
    }
    // A download piped into an interpreter runs code nobody has read.
    let lower = cmd.to_ascii_lowercase();
    let pipes: Vec<&str> = lower.split('|').map(str::trim).collect();
    for pair in pipes.windows(2) {
        let fetch = pair[0].split_whitespace().any(|w| w == "curl" || w == "wget");
        let shell = pair[1].split_whitespace().next().is_some_and(|w| {
            let w = w.trim_start_matches("sudo").trim();
            matches!(
                w.rsplit('/').next().unwrap_or(w),
                "sh" | "bash" | "zsh" | "dash" | "python" | "python3" | "perl" | "ruby" | "node"
            ) || pair[1].starts_with("sudo sh")
                || pair[1].starts_with("sudo bash")
        });
        if fetch && shell {
            return (Tier::CriticalRed, "pipes a download into a shell".to_string());
        }
    }
    let mut worst = (Tier::Green, "read-only command".to_string());
    for part in cmd.split(['\n', ';', '|', '&']) {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let (t, why) = classify_simple(part);
        if rank(t) > rank(worst.0) {
            worst = (t, why);
        }
    }
    worst
}

impl ClassifierPlugin for Shell {
    fn classify(call: ToolCall) -> Result<Verdict, String> {
        let cmd = command_of(&call)?;
        let (tier, reason) = classify_command(&cmd);
        Ok(Verdict { tier, reason })
    }
}

warden_plugin_sdk::export_classifier!(Shell);
