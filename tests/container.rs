//! The sidecar container (issue 21): the `Containerfile` built with podman on
//! a Debian base debootstrapped by `tests/setup.sh` (no registry), with this
//! build's `warden` binary stripped into the runtime stage (`BUILD=host`),
//! then run as the compose example lays it out: Warden owns a network
//! namespace with no interface but loopback, its state in a named volume,
//! and peers join it with `--network container:NAME`; the last peer is the
//! real OpenClaw (from `target/openclaw`) with the plugin, talking to a fake
//! model provider.
//!
//! Needs podman, runc and the base image (`tests/setup.sh`) and root (as CI
//! runs): the test reads the volume's files and binds the fake provider's
//! relay inside Warden's namespace. It skips, saying so, only where podman
//! is not installed, and never when `CI` is set.

#[path = "support/mod.rs"]
mod support;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::gateway_env::*;
use support::{signed_archive, TempDir};
use warden_policy::bundle::SecretKey;

/// Made by `tests/setup.sh` from `target/container/base.tar`.
const BASE_IMAGE: &str = "localhost/warden-test-base:latest";
/// The image's user (`Containerfile`).
const WARDEN_UID: u32 = 10001;
/// `podman stop`'s default grace period before SIGKILL.
const GRACE: Duration = Duration::from_secs(10);

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// `podman ARGS` with the repository's containers.conf (runc, no default ulimits).
fn podman(args: &[&str]) -> Command {
    let mut c = Command::new("podman");
    c.args(args).env("CONTAINERS_CONF", repo().join("tests/containers.conf"));
    c
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).trim().to_string()
}

/// Run podman, require success, return stdout.
fn ok(args: &[&str]) -> String {
    let out = podman(args).stdin(Stdio::null()).output().expect("podman runs");
    assert!(out.status.success(), "podman {args:?} failed: {}\n{}", text(&out.stderr), text(&out.stdout));
    text(&out.stdout)
}

/// Run podman, whatever the outcome.
fn try_podman(args: &[&str]) -> Output {
    podman(args).stdin(Stdio::null()).output().expect("podman runs")
}

/// Run podman with `input` on stdin, require success.
fn ok_with_stdin(args: &[&str], input: &str) -> String {
    use std::io::Write;
    let mut child = podman(args).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "podman {args:?} failed: {}", text(&out.stderr));
    text(&out.stdout)
}

/// Everything this run creates in podman's store, removed on drop (also
/// when an assertion fails). Names carry the process id and a timestamp,
/// so runs never collide.
struct Scratch {
    id: String,
    containers: Vec<String>,
    volumes: Vec<String>,
    images: Vec<String>,
}

impl Scratch {
    fn new() -> Scratch {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        Scratch {
            id: format!("{}-{nanos:x}", std::process::id()),
            containers: Vec::new(),
            volumes: Vec::new(),
            images: Vec::new(),
        }
    }

    fn container(&mut self, what: &str) -> String {
        let name = format!("warden-test-{what}-{}", self.id);
        self.containers.push(name.clone());
        name
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        for c in self.containers.iter().rev() {
            let _ = try_podman(&["rm", "--force", "--time", "0", c]);
        }
        for v in &self.volumes {
            let _ = try_podman(&["volume", "rm", "--force", v]);
        }
        // Newest first: intermediate layers before the layers they build on.
        for i in self.images.iter().rev() {
            let _ = try_podman(&["rmi", "--force", i]);
        }
    }
}

/// Whether the test can run here: false (after saying why) only where podman
/// is missing and this is not CI.
fn podman_present() -> bool {
    let found = Command::new("podman").arg("--version").output().map(|o| o.status.success()).unwrap_or(false);
    if !found {
        assert!(std::env::var_os("CI").is_none(), "CI must run the container test: podman is missing (tests/setup.sh)");
        eprintln!("SKIPPED tests/container.rs: podman is not installed (tests/setup.sh installs it)");
        return false;
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(euid, 0, "the container test reads volume files and joins network namespaces: run it as root");
    let base = try_podman(&["image", "exists", BASE_IMAGE]);
    assert!(base.status.success(), "no {BASE_IMAGE} in podman's store: run tests/setup.sh");
    true
}

/// Build the runtime image from this build's `warden`, stripped like the
/// `dist` profile does; returns the image name.
fn build_image(scratch: &mut Scratch, ctx: &Path) -> String {
    let binary = ctx.join("warden");
    let t = Instant::now();
    let out = Command::new("strip")
        .args(["--strip-all", "-o"])
        .arg(&binary)
        .arg(env!("CARGO_BIN_EXE_warden"))
        .output()
        .expect("strip (binutils) is installed");
    assert!(out.status.success(), "strip: {}", text(&out.stderr));
    let full = std::fs::metadata(env!("CARGO_BIN_EXE_warden")).unwrap().len();
    let stripped = std::fs::metadata(&binary).unwrap().len();
    eprintln!("container: warden {} MB, stripped {} MB ({:?})", full >> 20, stripped >> 20, t.elapsed());

    let image = format!("localhost/warden-test:{}", scratch.id);
    let t = Instant::now();
    let base = format!("BASE_IMAGE={BASE_IMAGE}");
    let containerfile = repo().join("Containerfile");
    // The docker format: OCI images have no HEALTHCHECK.
    let out = try_podman(&[
        "build",
        "--format",
        "docker",
        "--build-arg",
        "BUILD=host",
        "--build-arg",
        &base,
        "-t",
        &image,
        "-f",
        containerfile.to_str().unwrap(),
        ctx.to_str().unwrap(),
    ]);
    // Each step's image ("--> ID"), kept as a build cache: removed with the test's.
    let log = text(&out.stdout);
    scratch.images.extend(log.lines().filter_map(|l| l.strip_prefix("--> ")).map(|id| id.trim().to_string()));
    scratch.images.push(image.clone());
    assert!(out.status.success(), "podman build failed:\n{log}\n{}", text(&out.stderr));
    eprintln!("container: image built in {:?}", t.elapsed());
    image
}

/// The host's /proc/PID/status line `Uid:` or `Gid:` of the container's process.
fn ids(pid: &str, which: &str) -> Vec<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(which)).unwrap();
    line[which.len()..].split_whitespace().map(|n| n.parse().unwrap()).collect()
}

/// Poll `podman healthcheck run` (the image's HEALTHCHECK: `warden health`)
/// until it passes, at most 30 s.
fn wait_healthy(name: &str) {
    let t = Instant::now();
    loop {
        let out = try_podman(&["healthcheck", "run", name]);
        if out.status.success() {
            return;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "{name} never became healthy: {}{}\nlogs:\n{}",
            text(&out.stdout),
            text(&out.stderr),
            logs(name)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn logs(name: &str) -> String {
    let out = try_podman(&["logs", name]);
    format!("{}{}", text(&out.stdout), text(&out.stderr))
}

/// From a base-image container on `network`: an HTTP/1.0 GET of
/// 127.0.0.1:`port``path` with bash's /dev/tcp (no curl in the base);
/// (success, the status line or the error).
fn peer_get(scratch: &mut Scratch, network: &str, port: u16, path: &str) -> (bool, String) {
    let name = scratch.container("peer");
    let script = format!(
        "exec 3<>/dev/tcp/127.0.0.1/{port} && printf 'GET {path} HTTP/1.0\\r\\nHost: 127.0.0.1\\r\\n\\r\\n' >&3 && head -n 1 <&3"
    );
    let out = try_podman(&["run", "--rm", "--name", &name, "--network", network, BASE_IMAGE, "bash", "-c", &script]);
    (out.status.success(), format!("{}{}", text(&out.stdout), text(&out.stderr)))
}

/// Check the volume: the state directory 0700 and every file 0600, all
/// owned by the image's user; returns the file names.
fn check_modes(root: &Path) -> Vec<String> {
    let meta = std::fs::metadata(root).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o700, "state directory mode");
    assert_eq!(meta.uid(), WARDEN_UID, "state directory owner");
    let mut names = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            let m = e.metadata().unwrap();
            let rel = e.path().strip_prefix(root).unwrap().display().to_string();
            assert_eq!(m.uid(), WARDEN_UID, "{rel} owner");
            if m.is_dir() {
                assert_eq!(m.permissions().mode() & 0o777, 0o700, "{rel} mode");
                todo.push(e.path());
            } else {
                assert_eq!(m.permissions().mode() & 0o777, 0o600, "{rel} mode");
            }
            names.push(rel);
        }
    }
    names.sort();
    names
}

/// A listener on 127.0.0.1:`port` inside the network namespace of process
/// `pid` (Warden's container), forwarding each connection to `to` on the
/// test's own loopback: the fake provider becomes reachable from that
/// namespace and nowhere else, with no interface added to it.
fn relay_into(pid: &str, port: u16, to: SocketAddr) {
    let ns = std::fs::File::open(format!("/proc/{pid}/ns/net")).unwrap();
    // setns moves the calling thread only: bind in a thread of its own, which
    // then ends; the socket stays in the namespace it was made in.
    let listener = std::thread::spawn(move || {
        // SAFETY: `ns` is an open namespace file for the whole call; the
        // change applies to this short-lived thread alone.
        let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
        TcpListener::bind(("127.0.0.1", port)).unwrap()
    })
    .join()
    .unwrap();
    std::thread::spawn(move || {
        for inner in listener.incoming() {
            let Ok(inner) = inner else { return };
            let Ok(outer) = TcpStream::connect(to) else { continue };
            for (mut from, mut into) in [(inner.try_clone().unwrap(), outer.try_clone().unwrap()), (outer, inner)] {
                std::thread::spawn(move || {
                    let _ = std::io::copy(&mut from, &mut into);
                    let _ = into.shutdown(std::net::Shutdown::Write);
                });
            }
        }
    });
}

/// Everything in issue 21's point 2 and 4, in order on one volume.
#[test]
fn warden_runs_as_a_sidecar_container() {
    if !podman_present() {
        return;
    }
    let mut scratch = Scratch::new();
    let dir = TempDir::new("container");
    let ctx = dir.join("ctx");
    std::fs::create_dir(&ctx).unwrap();
    let image = build_image(&mut scratch, &ctx);

    // Point 3: size, stripped, nothing to run but Warden.
    let size: u64 = ok(&["image", "inspect", &image, "--format", "{{.Size}}"]).parse().unwrap();
    eprintln!("container: image {} MB", size >> 20);
    let binary = std::fs::metadata(ctx.join("warden")).unwrap().len();
    assert!(size < binary + (16 << 20), "the image is the binary and its C libraries: {size} bytes");
    let mounted = PathBuf::from(ok(&["image", "mount", &image]));
    let sections = Command::new("readelf").args(["-S", "-W"]).arg(mounted.join("usr/local/bin/warden")).output();
    assert!(!mounted.join("bin/sh").exists() && !mounted.join("usr/bin/apt-get").exists(), "a shell in the image");
    ok(&["image", "unmount", &image]);
    let sections = text(&sections.expect("readelf (binutils) is installed").stdout);
    // (`.debug_gdb_scripts` is loaded at run time: strip keeps it, as the dist profile does.)
    let unstripped = [".symtab", ".debug_info", ".debug_line"].iter().any(|s| sections.contains(s));
    assert!(sections.contains(".text") && !unstripped, "not stripped:\n{sections}");
    let sh = try_podman(&["run", "--rm", "--network", "none", "--entrypoint", "/bin/sh", &image, "-c", "true"]);
    assert!(!sh.status.success(), "the image runs a shell");

    // The policy (signed for this run, with the fake provider as upstream)
    // and the secrets, written into a fresh named volume by the image itself,
    // as an operator would.
    let provider = start_provider();
    let key = SecretKey::generate().unwrap();
    let input = dir.join("in");
    std::fs::create_dir(&input).unwrap();
    std::fs::write(input.join("bundle.tar.gz"), signed_archive(gateway_policy(&provider, |p| p), 1, &key)).unwrap();
    std::fs::write(input.join("ca.pem"), &provider.ca_pem).unwrap();
    for f in ["bundle.tar.gz", "ca.pem"] {
        std::fs::set_permissions(input.join(f), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    std::fs::set_permissions(&input, std::fs::Permissions::from_mode(0o755)).unwrap();
    let volume = format!("warden-test-state-{}", scratch.id);
    ok(&["volume", "create", &volume]);
    scratch.volumes.push(volume.clone());
    let state = format!("{volume}:/var/lib/warden");
    let input_mount = format!("{}:/in:ro", input.display());
    let trust = format!("WARDEN_POLICY_TRUST={}", key.public().to_text());
    let tool = |args: &[&str], stdin: &str| {
        let mut all = vec!["run", "--rm", "-i", "--network", "none", "-v", &state, "-v", &input_mount, "-e", &trust];
        all.push(&image);
        all.extend_from_slice(args);
        ok_with_stdin(&all, stdin)
    };
    let activated = tool(&["policy", "activate", "/in/bundle.tar.gz"], "");
    assert!(activated.starts_with("activated revision 1"), "{activated}");
    tool(&["secrets", "set", "fake", "--host", "127.0.0.1", "--header", "Authorization: Bearer {}"], PROVIDER_KEY);
    tool(&["secrets", "set", "dbpass", "--host", "db.internal.example"], DB_PASSWORD);

    // The first run: the sidecar as the image starts it.
    let warden1 = scratch.container("warden");
    let serve = |name: &str, extra: &[&str]| {
        let mut all = vec!["run", "-d", "--name", name, "--network", "none", "-v", &state, "-v", &input_mount];
        all.extend_from_slice(&["-e", &trust, "-e", "WARDEN_EGRESS_CA_FILE=/in/ca.pem", "-e", "RUST_LOG=info"]);
        all.extend_from_slice(extra);
        all.push(&image);
        ok(&all);
    };
    serve(&warden1, &[]);
    wait_healthy(&warden1);
    let pid = ok(&["inspect", &warden1, "--format", "{{.State.Pid}}"]);
    assert_eq!(ids(&pid, "Uid:"), [WARDEN_UID; 4], "not the image's user");
    assert_eq!(ids(&pid, "Gid:"), [WARDEN_UID; 4], "not the image's group");
    let mountpoint = PathBuf::from(ok(&["volume", "inspect", &volume, "--format", "{{.Mountpoint}}"]));
    let files = check_modes(&mountpoint);
    for f in ["admin.token", "agent.token", "warden.db"] {
        assert!(files.contains(&f.to_string()), "{f} not in the volume: {files:?}");
    }

    // Peers: one joined to Warden's namespace reaches both ports on
    // 127.0.0.1, one in a namespace of its own reaches neither.
    let joined = format!("container:{warden1}");
    let (reached, line) = peer_get(&mut scratch, &joined, 8200, "/healthz");
    assert!(reached && line.starts_with("HTTP/1.") && line.contains(" 200 "), "joined peer, control port: {line}");
    let (reached, line) = peer_get(&mut scratch, &joined, 8100, "/llm/none/v1/models");
    assert!(reached && line.starts_with("HTTP/1."), "joined peer, egress port: {line}");
    for port in [8100, 8200] {
        let (reached, line) = peer_get(&mut scratch, "none", port, "/healthz");
        assert!(!reached && line.contains("Connection refused"), "an unjoined peer reached {port}: {line}");
    }

    // SIGTERM (`podman stop`): a clean exit well within the grace period.
    let t = Instant::now();
    ok(&["stop", "--time", &GRACE.as_secs().to_string(), &warden1]);
    let stopped_in = t.elapsed();
    let code = ok(&["inspect", &warden1, "--format", "{{.State.ExitCode}}"]);
    let log = logs(&warden1);
    assert_eq!(code, "0", "exit status after SIGTERM\n{log}");
    assert!(stopped_in < GRACE, "took {stopped_in:?} to stop\n{log}");
    assert!(log.contains("\"stopped\""), "no clean stop in the log\n{log}");
    eprintln!("container: stopped in {stopped_in:?} after SIGTERM");

    // The second run on the same volume, with a read-only root and a tmpfs
    // /tmp: the vault and the policy are still there.
    let warden2 = scratch.container("warden-ro");
    serve(&warden2, &["--read-only", "--tmpfs", "/tmp"]);
    wait_healthy(&warden2);
    let status: Value = serde_json::from_str(&ok(&["exec", &warden2, "warden", "policy", "status"])).unwrap();
    assert_eq!(status["revision"], 1, "policy lost over the restart: {status}");
    let secrets = ok(&["exec", &warden2, "warden", "secrets", "list"]);
    assert!(secrets.contains("fake") && secrets.contains("dbpass"), "vault lost over the restart: {secrets}");
    check_modes(&mountpoint);

    // Point 4: the real OpenClaw as the peer (compose's `network_mode:
    // service:warden`), with the plugin and a copy of the agent token, its
    // model behind Warden's gateway.
    let pid = ok(&["inspect", &warden2, "--format", "{{.State.Pid}}"]);
    relay_into(&pid, provider.addr.port(), provider.addr);
    openclaw_peer(&mut scratch, &dir, &warden2, &mountpoint, &provider);

    let t = Instant::now();
    ok(&["stop", &warden2]);
    assert!(t.elapsed() < GRACE);
    assert_eq!(ok(&["inspect", &warden2, "--format", "{{.State.ExitCode}}"]), "0", "{}", logs(&warden2));
}

fn openclaw_dir() -> PathBuf {
    std::env::var_os("WARDEN_OPENCLAW_DIR").map(PathBuf::from).unwrap_or_else(|| repo().join("target/openclaw"))
}

/// OpenClaw from the npm install (mounted read-only, run by its own Node on
/// the base image) in `warden`'s namespace, asked to run the fake model's
/// two tool calls: the destructive one must be held, the other one run with
/// the vault password redacted from its arguments.
fn openclaw_peer(scratch: &mut Scratch, dir: &TempDir, warden: &str, state: &Path, provider: &Provider) {
    let oc = openclaw_dir();
    assert!(
        oc.join("app/node_modules/openclaw/openclaw.mjs").exists() && oc.join("node/bin/node").exists(),
        "OpenClaw is not installed under {}: run tests/setup.sh",
        oc.display()
    );
    let home = dir.join("oc");
    let work = home.join("work");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(work.join("keep.txt"), "must survive").unwrap();
    // A copy of the agent token, never the volume (it holds admin.token).
    std::fs::copy(state.join("agent.token"), home.join("agent.token")).unwrap();
    let config = openclaw_config(
        Path::new("/oc/work"),
        "127.0.0.1:8100",
        Path::new("/plugin"),
        "127.0.0.1:8200",
        Path::new("/oc/agent.token"),
        Path::new("/oc/openclaw.log"),
    );
    std::fs::write(home.join("openclaw.json"), serde_json::to_vec_pretty(&config).unwrap()).unwrap();

    let name = scratch.container("openclaw");
    let network = format!("container:{warden}");
    let mounts = [
        format!("{}:/openclaw:ro", oc.display()),
        format!("{}:/plugin:ro", repo().join("integrations/openclaw").display()),
        format!("{}:/oc", home.display()),
    ];
    let mut args = vec!["run", "--rm", "--name", &name, "--network", &network];
    for m in &mounts {
        args.extend_from_slice(&["-v", m]);
    }
    args.extend_from_slice(&[
        "-e",
        "PATH=/openclaw/node/bin:/usr/bin:/bin",
        "-e",
        "HOME=/oc/home",
        "-e",
        "OPENCLAW_CONFIG_PATH=/oc/openclaw.json",
        "-e",
        "OPENCLAW_STATE_DIR=/oc/state",
        "-e",
        "OPENCLAW_NO_AUTO_UPDATE=1",
        BASE_IMAGE,
        "/openclaw/node/bin/node",
        "/openclaw/app/node_modules/openclaw/openclaw.mjs",
        "agent",
        "--local",
        "--agent",
        "main",
        "--json",
        "-m",
        "WARDEN-TEST dir=/oc/work",
    ]);
    let t = Instant::now();
    let out = try_podman(&args);
    let context = || {
        format!(
            "openclaw exit {:?} after {:?}\nstdout:\n{}\nstderr:\n{}\nopenclaw log:\n{}\nwarden:\n{}",
            out.status,
            t.elapsed(),
            text(&out.stdout),
            text(&out.stderr),
            std::fs::read_to_string(home.join("openclaw.log")).unwrap_or_default(),
            logs(warden)
        )
    };
    check_openclaw_turn(provider, &work, &state.join("warden.db"), &context);
    // The provider key came from the vault in the volume, injected by Warden.
    let seen = provider.seen.lock().unwrap();
    assert!(seen.iter().all(|s| s.headers.iter().any(|(k, v)| k == "authorization" && v.contains(PROVIDER_KEY))));
    drop(seen);
    eprintln!("container: OpenClaw peer done in {:?}", t.elapsed());
}
