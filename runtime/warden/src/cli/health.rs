//! `warden health`: exit 0 when the local server answers `GET /healthz`
//! with 200. For container `HEALTHCHECK`s and scripts: the runtime image
//! needs no curl.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

/// Flags of `warden health`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Configuration file (to find `[control] listen`).
    #[arg(long, value_name = "FILE", env = "WARDEN_CONFIG")]
    config: Option<std::path::PathBuf>,
    /// Seconds to wait for the answer.
    #[arg(long, default_value_t = 3)]
    timeout: u64,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let cfg = warden::config::Config::load(args.config.as_deref())?;
    let mut addr = cfg.control.listen;
    // A server bound to every address answers on loopback.
    if addr.ip().is_unspecified() {
        addr = SocketAddr::new(
            if addr.is_ipv4() { IpAddr::V4(Ipv4Addr::LOCALHOST) } else { IpAddr::V6(std::net::Ipv6Addr::LOCALHOST) },
            addr.port(),
        );
    }
    let timeout = Duration::from_secs(args.timeout.max(1));
    let mut conn = TcpStream::connect_timeout(&addr, timeout)
        .map_err(|e| anyhow::anyhow!("cannot reach the control API at {addr}: {e}"))?;
    conn.set_read_timeout(Some(timeout))?;
    conn.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes())?;
    let mut head = [0u8; 64];
    let n = conn.read(&mut head)?;
    let line = String::from_utf8_lossy(&head[..n]);
    if line.starts_with("HTTP/1.1 200") {
        println!("ok");
        Ok(ExitCode::SUCCESS)
    } else {
        anyhow::bail!("the control API at {addr} answered {:?}", line.lines().next().unwrap_or(""))
    }
}
