//! The accept loop both of Warden's ports run on.
//!
//! A local caller must not be able to take a port down, nor one port the
//! other (they share the process's file descriptors):
//!
//! - **a connection cap** per port: at the cap the loop stops accepting and
//!   new connections wait in the kernel's backlog, holding no descriptor of
//!   ours;
//! - **a header read timeout**: a connection that never finishes its request
//!   head is closed (hyper's `header_read_timeout`, which also bounds the
//!   idle time between keep-alive requests);
//! - **accept errors back off** (10 ms doubling to 1 s): `EMFILE` does not
//!   spin a core, and the loop recovers when descriptors free up;
//! - **graceful shutdown**: on `shutdown`, connections finish the request in
//!   flight and close; the loop waits up to 30 s for them.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Request, Response};

/// Limits of one listening port.
#[derive(Clone, Copy, Debug)]
pub struct ServerLimits {
    /// Connections served at once (default 1024).
    pub max_connections: usize,
    /// Longest wait for a request head (default 30 s).
    pub header_read_timeout: Duration,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits { max_connections: 1024, header_read_timeout: Duration::from_secs(30) }
    }
}

/// First and longest pause after a failed `accept`.
const ACCEPT_BACKOFF: (Duration, Duration) = (Duration::from_millis(10), Duration::from_secs(1));

/// Serve `handler` on `listener` until `shutdown` resolves.
pub async fn serve<H, F, B>(
    listener: tokio::net::TcpListener,
    handler: H,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()>,
) where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response<B>> + Send + 'static,
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    use hyper_util::rt::TokioIo;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let mut conns = tokio::task::JoinSet::new();
    let mut backoff = ACCEPT_BACKOFF.0;
    tokio::pin!(shutdown);
    loop {
        // At the cap, wait for a slot before accepting: the backlog holds
        // the rest.
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => p.expect("the semaphore is never closed"),
            _ = &mut shutdown => break,
        };
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = &mut shutdown => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => {
                backoff = ACCEPT_BACKOFF.0;
                stream
            }
            Err(e) => {
                tracing::warn!(error = %e, pause_ms = backoff.as_millis() as u64, "accept failed; backing off");
                drop(permit);
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = &mut shutdown => break,
                }
                backoff = (backoff * 2).min(ACCEPT_BACKOFF.1);
                continue;
            }
        };
        // PERF: small writes (SSE events, response heads) must not wait for
        // Nagle's algorithm and the peer's delayed ACK: that added ~40 ms per
        // request (`cargo bench -p warden --bench gateway`).
        let _ = stream.set_nodelay(true);
        let h = handler.clone();
        let service = hyper::service::service_fn(move |req| {
            let h = h.clone();
            async move { Ok::<_, Infallible>(h(req).await) }
        });
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(hyper_util::rt::TokioTimer::new())
            .header_read_timeout(limits.header_read_timeout)
            .serve_connection(TokioIo::new(stream), service)
            .with_upgrades();
        let mut stopped = stopped.clone();
        conns.spawn(async move {
            let _permit = permit;
            let mut conn = std::pin::pin!(conn);
            let result = tokio::select! {
                r = conn.as_mut() => r,
                _ = stopped.changed() => {
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
        // Reap finished connections so the set does not grow.
        while conns.try_join_next().is_some() {}
    }
    let _ = stop.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(30), async { while conns.join_next().await.is_some() {} }).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn ok(_: Request<Incoming>) -> std::future::Ready<Response<http_body_util::Full<Bytes>>> {
        std::future::ready(Response::new(http_body_util::Full::new(Bytes::from_static(b"ok"))))
    }

    async fn get(port: u16) -> String {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").await.unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    /// Issue 14 (9): half-open connections fill one port's slots and are
    /// closed by the header timeout; the other port serves throughout.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn issue_14_a_flood_of_half_open_connections_neither_starves_the_other_port_nor_lasts() {
        let limits = ServerLimits { max_connections: 8, header_read_timeout: Duration::from_millis(300) };
        let a = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let b = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (pa, pb) = (a.local_addr().unwrap().port(), b.local_addr().unwrap().port());
        tokio::spawn(serve(a, ok, limits, std::future::pending()));
        tokio::spawn(serve(b, ok, limits, std::future::pending()));
        // 200 connections that send half a request head and stall.
        let mut flood = Vec::new();
        for _ in 0..200 {
            let mut s = tokio::net::TcpStream::connect(("127.0.0.1", pa)).await.unwrap();
            let _ = s.write_all(b"GET / HTTP/1.1\r\nhost:").await;
            flood.push(s);
        }
        // The other port serves at once.
        let t = std::time::Instant::now();
        let out = tokio::time::timeout(Duration::from_secs(2), get(pb)).await.expect("the other port answers");
        assert!(out.ends_with("ok"), "{out}");
        assert!(t.elapsed() < Duration::from_secs(1));
        // The flooded port closes stalled heads and serves again soon.
        let out = tokio::time::timeout(Duration::from_secs(20), get(pa)).await.expect("the flooded port recovers");
        assert!(out.ends_with("ok") || out.contains("408"), "{out}");
        // Stalled connections were closed by the server.
        let mut closed = 0;
        for s in flood.iter_mut().take(8) {
            let mut buf = [0u8; 64];
            if let Ok(Ok(_)) = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf)).await {
                closed += 1;
            }
        }
        assert_eq!(closed, 8, "the server closes heads that never finish");
    }
}
