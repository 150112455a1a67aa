//! The gateway's added latency and throughput, against calling the fake
//! provider directly in the same run.
//!
//! A fake OpenAI-style provider over TLS (in this process) and the real
//! `warden serve` (another process) on loopback; an open-loop load generator
//! sends chat requests at a fixed rate and records each latency:
//!
//! - `latency`: p50 / p99 at 1000 requests/s for 5 s, 1 KiB and 64 KiB
//!   prompts (a chat message with one email address to redact), direct and
//!   through the gateway; the difference is what Warden adds. Target: <= 1 ms
//!   added at p99.
//! - `throughput`: requests/s with 32 requests in flight for 3 s.
//! - `ttfb`: time to the first byte of a streamed answer at 200 requests/s.
//!   Target: unchanged within 1 ms.
//!
//! - `inspect`: in this process, what judging tool calls adds to an answer
//!   without any (`calls::whole::calls` on a JSON answer, `CallStream` over
//!   its SSE form) and what the link guard adds (`exfil::OutputGuard`).
//!   Target: <= 0.2 ms at p99.
//!
//! `cargo bench -p warden --bench gateway`. Client, provider and Warden
//! share the machine's two cores, so absolute figures are pessimistic; the
//! direct/gateway difference in one run is the measure.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use support::gateway_env::{start, start_provider, EMAIL};
use support::load::{fixed_rate, ms, pct};
use support::TempDir;

fn prompt(size: usize, stream: bool) -> String {
    let mut text = format!("Please write to {EMAIL} about the quarterly numbers. ");
    while text.len() < size {
        text.push_str("The team reviewed the roadmap and agreed to ship the next milestone on time. ");
    }
    text.truncate(size);
    serde_json::json!({"model": "gpt-test", "stream": stream, "messages": [{"role": "user", "content": text}]})
        .to_string()
}

async fn throughput(client: &reqwest::Client, url: &str, body: &str, inflight: usize, secs: u64) -> f64 {
    let end = Instant::now() + Duration::from_secs(secs);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..inflight {
        let (client, url, body) = (client.clone(), url.to_string(), body.to_string());
        tasks.spawn(async move {
            let mut n = 0u64;
            while Instant::now() < end {
                if let Ok(r) =
                    client.post(&url).header("content-type", "application/json").body(body.clone()).send().await
                {
                    if r.bytes().await.is_ok() {
                        n += 1;
                    }
                }
            }
            n
        });
    }
    let mut total = 0;
    while let Some(n) = tasks.join_next().await {
        total += n.unwrap_or(0);
    }
    total as f64 / secs as f64
}

/// p50 and p99 of `f` over `n` runs, in ms.
fn timed(n: usize, mut f: impl FnMut()) -> (f64, f64) {
    let mut t: Vec<Duration> = (0..n)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed()
        })
        .collect();
    t.sort();
    (ms(pct(&t, 0.5)), ms(pct(&t, 0.99)))
}

/// Issue 15: the cost of inspecting an answer that calls no tool.
fn inspect() {
    use warden_proxy::calls::{stream::CallStream, whole};
    use warden_proxy::exfil::OutputGuard;
    let text =
        "The quarterly numbers look good: revenue grew 12% and costs fell. See https://docs.example/q3 for details. "
            .repeat(20);
    let answer = serde_json::json!({"id": "c1", "object": "chat.completion", "model": "m",
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 400}});
    let mut sse = String::new();
    for piece in text.as_bytes().chunks(16) {
        let ev = serde_json::json!({"id": "c1", "object": "chat.completion.chunk", "model": "m",
            "choices": [{"index": 0, "delta": {"content": String::from_utf8_lossy(piece)}, "finish_reason": null}]});
        sse.push_str(&format!("data: {ev}\n\n"));
    }
    sse.push_str("data: [DONE]\n\n");
    let guard = OutputGuard::new(std::sync::Arc::new(vec!["api.example".into()]));
    // Checked before timed: nothing to judge, nothing changed.
    assert!(whole::calls(&answer).is_empty());
    let mut f = CallStream::new();
    assert_eq!(f.push(sse.as_bytes()), sse.as_bytes());
    assert!(guard.neutralise(&text).is_none());
    let (a50, a99) = timed(2000, || assert!(whole::calls(std::hint::black_box(&answer)).is_empty()));
    let (s50, s99) = timed(2000, || {
        let mut f = CallStream::new();
        std::hint::black_box(f.push(std::hint::black_box(sse.as_bytes())));
        assert!(f.take_ready().is_none());
    });
    let (g50, g99) = timed(2000, || assert!(guard.neutralise(std::hint::black_box(&text)).is_none()));
    println!("inspect: {} B answer text, {} SSE events", text.len(), text.len().div_ceil(16));
    println!("inspect  whole answer, tool calls    p50 {a50:.4} ms  p99 {a99:.4} ms");
    println!("inspect  SSE answer, tool calls      p50 {s50:.4} ms  p99 {s99:.4} ms");
    println!("inspect  answer text, link guard     p50 {g50:.4} ms  p99 {g99:.4} ms");
}

fn main() {
    // `cargo bench` passes flags like --bench; a filter is not supported.
    inspect();
    let dir = TempDir::new("bench-gateway");
    let provider = start_provider();
    std::env::set_var("WARDEN_TEST_LOG", "warn");
    let server = start(&dir, &provider);
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let ca = reqwest::Certificate::from_pem(provider.ca_pem.as_bytes()).unwrap();
    let client =
        reqwest::Client::builder().no_proxy().add_root_certificate(ca).pool_max_idle_per_host(256).build().unwrap();
    let direct = format!("https://127.0.0.1:{}/v1/chat/completions", provider.addr.port());
    let gateway = format!("http://127.0.0.1:{}/llm/fake/v1/chat/completions", server.egress);
    println!("gateway benchmark (one machine, 2 cores shared by client, provider and warden)");
    println!(
        "{:<8} {:<8} {:<9} {:>9} {:>9} {:>7} {:>11}",
        "prompt", "case", "path", "p50 ms", "p99 ms", "errors", "req/s"
    );
    rt.block_on(async {
        for size in [1usize << 10, 64 << 10] {
            let body = prompt(size, false);
            let mut rows = Vec::new();
            for (name, url) in [("direct", &direct), ("gateway", &gateway)] {
                let post = || client.post(url.as_str()).header("content-type", "application/json").body(body.clone());
                fixed_rate(200, 1, false, post).await; // warm-up
                let (lat, errors) = fixed_rate(1000, 5, false, post).await;
                let tput = throughput(&client, url, &body, 32, 3).await;
                println!(
                    "{:<8} {:<8} {:<9} {:>9.3} {:>9.3} {:>7} {:>11.0}",
                    format!("{}KiB", size >> 10),
                    "1k/s",
                    name,
                    ms(pct(&lat, 0.5)),
                    ms(pct(&lat, 0.99)),
                    errors,
                    tput
                );
                rows.push((pct(&lat, 0.5), pct(&lat, 0.99), tput));
            }
            println!(
                "{:<8} added by the gateway: p50 {:+.3} ms, p99 {:+.3} ms; throughput {:.2}x of direct",
                format!("{}KiB", size >> 10),
                ms(rows[1].0) - ms(rows[0].0),
                ms(rows[1].1) - ms(rows[0].1),
                rows[1].2 / rows[0].2
            );
            let sbody = prompt(size, true);
            let mut t = Vec::new();
            for (name, url) in [("direct", &direct), ("gateway", &gateway)] {
                let post = || client.post(url.as_str()).header("content-type", "application/json").body(sbody.clone());
                let (lat, errors) = fixed_rate(200, 3, true, post).await;
                println!(
                    "{:<8} {:<8} {:<9} {:>9.3} {:>9.3} {:>7}",
                    format!("{}KiB", size >> 10),
                    "ttfb",
                    name,
                    ms(pct(&lat, 0.5)),
                    ms(pct(&lat, 0.99)),
                    errors
                );
                t.push((pct(&lat, 0.5), pct(&lat, 0.99)));
            }
            println!(
                "{:<8} streaming time to first byte added: p50 {:+.3} ms, p99 {:+.3} ms",
                format!("{}KiB", size >> 10),
                ms(t[1].0) - ms(t[0].0),
                ms(t[1].1) - ms(t[0].1)
            );
        }
    });
    drop(server);
}
