//! An open-loop load generator for the benches: requests leave at a fixed
//! rate whatever the server does (so queueing shows in the latencies, unlike
//! a closed loop that slows down with the server).

use std::time::{Duration, Instant};

/// Send `rate` requests/s for `secs`, each built by `send`; every request's
/// latency (to the whole answer, or to its first byte when `ttfb`), sorted,
/// and the number that failed or answered non-2xx.
pub async fn fixed_rate(
    rate: u64,
    secs: u64,
    ttfb: bool,
    send: impl Fn() -> reqwest::RequestBuilder,
) -> (Vec<Duration>, usize) {
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..rate * secs {
        tick.tick().await;
        let req = send();
        tasks.spawn(async move {
            let t = Instant::now();
            let mut resp = req.send().await.ok()?;
            if !resp.status().is_success() {
                return None;
            }
            if ttfb {
                resp.chunk().await.ok()??;
                let d = t.elapsed();
                while resp.chunk().await.ok()?.is_some() {}
                Some(d)
            } else {
                resp.bytes().await.ok()?;
                Some(t.elapsed())
            }
        });
    }
    let mut lat = Vec::new();
    let mut errors = 0;
    while let Some(r) = tasks.join_next().await {
        match r.ok().flatten() {
            Some(d) => lat.push(d),
            None => errors += 1,
        }
    }
    lat.sort();
    (lat, errors)
}

/// The `p` quantile of sorted latencies.
pub fn pct(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

/// Milliseconds.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// A process's resident memory now and at its peak (`VmRSS`, `VmHWM`), bytes.
pub fn rss(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
            * 1024
    };
    (kb("VmRSS:"), kb("VmHWM:"))
}
