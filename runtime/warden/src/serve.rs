//! `warden serve`: the sidecar process. It serves the egress port (the LLM
//! gateway and forward proxy) and the control API (health, metrics, policy,
//! tool-call gate and approvals, vault), keeps the policy current (bundle
//! polling, pick-up of local activations) and talks to the hub.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};
use warden_policy::bundle::manifest::parse_duration;

use crate::config::Config;
use warden_gate::Gate;

use crate::control::App;
use crate::hub::{HubLink, HubSettings};
use crate::metrics::Metrics;
use crate::policy::poller::{FetchNow, PollSettings, Poller};
use crate::state::StateDir;

/// How often a running server looks for an activation made by another
/// process (`warden policy rollback`) on its state directory.
const STORE_SYNC: Duration = Duration::from_secs(2);

/// How often expired approvals are turned into denies (a waiting client
/// also sees its own expiry at once; this covers lists and the hub).
const EXPIRY_SWEEP: Duration = Duration::from_secs(5);

/// Run until SIGTERM or SIGINT.
pub fn serve(cfg: Config) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let dir = StateDir::open(&cfg.state_dir()?)?;
    let activator = dir.start_policy(&cfg)?;
    let (vault, created) = warden_vault::Vault::open(activator.store().clone(), &dir.identity())?;
    if created {
        tracing::warn!(identity = %dir.identity().display(), "created a new vault identity (mode 0600); back it up");
    }
    let vault = Arc::new(vault);
    let admin_token = crate::state::ensure_token(&dir.admin_token())?;
    let agent_token = crate::state::ensure_token(&dir.agent_token())?;
    let hub_url = cfg.hub.url.as_deref().map(|u| http_url("hub.url", u)).transpose()?;
    let metrics = Arc::new(if hub_url.is_some() { Metrics::new().with_hub_link() } else { Metrics::new() });
    let checks = Arc::new(crate::checks::Checks::new(
        cfg.checks.thresholds()?,
        dir.root.clone(),
        activator.store().clone(),
        cfg.checks.backup()?,
        cfg.checks.tls()?,
    ));
    let egress_ctx = Arc::new(crate::egress::EgressContext::new(activator.clone(), vault.clone(), metrics.clone())?);
    let approval_ttl = parse_duration(&cfg.gate.approval_ttl).map_err(|e| anyhow::anyhow!("gate.approval_ttl: {e}"))?;
    let gate = Arc::new(Gate::new(
        activator.store().clone(),
        Arc::new(crate::judge::ActivePolicy::new(activator.clone(), egress_ctx.clone())),
        metrics.clone(),
        warden_gate::Settings { ttl: approval_ttl },
    )?);
    egress_ctx.attach_gate(gate.clone());
    let usage = egress_ctx.clone();
    let mut roots = Vec::new();
    if let Some(ca) = &cfg.egress.ca_file {
        roots.push(std::fs::read(ca).map_err(|e| anyhow::anyhow!("egress.ca_file {}: {e}", ca.display()))?);
    }
    let idle = parse_duration(&cfg.egress.idle_timeout).map_err(|e| anyhow::anyhow!("egress.idle_timeout: {e}"))?;
    let limits = warden_proxy::gateway::Limits { idle, ..Default::default() };
    let mut gateway = warden_proxy::gateway::Gateway::new(egress_ctx, limits, &roots).map_err(anyhow::Error::msg)?;
    if let Some(path) = &cfg.egress.token_file {
        let text =
            std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("egress.token_file {}: {e}", path.display()))?;
        let token = zeroize::Zeroizing::new(text.trim().to_string());
        anyhow::ensure!(
            token.len() >= 16,
            "egress.token_file {}: the token must be 16 characters or more",
            path.display()
        );
        gateway = gateway.with_egress_token(token);
    }
    let gateway = Arc::new(gateway);
    let heartbeat = parse_duration(&cfg.hub.heartbeat).map_err(|e| anyhow::anyhow!("hub.heartbeat: {e}"))?;
    anyhow::ensure!(heartbeat >= Duration::from_millis(100), "hub.heartbeat must be at least 100ms");
    let kuma_url = cfg.hub.uptime_kuma_url.as_deref().map(|u| http_url("hub.uptime_kuma_url", u)).transpose()?;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().thread_name("warden").build()?;
    rt.block_on(async move {
        let shutdown = Arc::new(Notify::new());
        let (stop_tx, stopping) = watch::channel(false);
        let fetch_now = FetchNow::default();
        if let Some(url) = &cfg.policy.bundle_url {
            let settings = PollSettings {
                url: url.clone(),
                min: cfg.policy.duration("poll_min", &cfg.policy.poll_min)?,
                max: cfg.policy.duration("poll_max", &cfg.policy.poll_max)?,
                timeout: cfg.policy.duration("fetch_timeout", &cfg.policy.fetch_timeout)?,
            };
            if cfg.policy.trust.is_empty() {
                tracing::warn!("policy.bundle_url is set but policy.trust is empty: every bundle will be refused");
            }
            let poller = Poller::new(settings, activator.clone())?;
            tokio::spawn(poller.run(fetch_now.clone(), shutdown.clone()));
        }
        {
            let activator = activator.clone();
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep(STORE_SYNC) => {}
                        _ = shutdown.notified() => return,
                    }
                    let a = activator.clone();
                    match tokio::task::spawn_blocking(move || a.sync_with_store()).await {
                        Ok(Err(e)) => {
                            tracing::error!(error = %format!("{e:#}"), "policy sync with the state store failed")
                        }
                        Err(e) => tracing::error!(error = %e, "policy sync panicked"),
                        Ok(Ok(_)) => {}
                    }
                }
            });
        }
        {
            let gate = gate.clone();
            let mut stopping = stopping.clone();
            tokio::spawn(async move {
                loop {
                    let g = gate.clone();
                    if let Ok(Err(e)) = tokio::task::spawn_blocking(move || g.expire()).await {
                        tracing::error!(error = %e, "could not expire approvals");
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(EXPIRY_SWEEP) => {}
                        _ = stopping.changed() => return,
                    }
                }
            });
        }
        tokio::spawn(checks.clone().run_backups(Arc::new(crate::checks::SystemClock), stopping.clone()));
        tokio::spawn(checks.clone().run_tls(activator.clone(), stopping.clone()));
        let hub_task = match hub_url {
            Some(url) => {
                let settings = HubSettings {
                    url,
                    registration_token: cfg.hub.registration_token.clone().map(zeroize::Zeroizing::new),
                    node_name: cfg.hub.node_name.clone().unwrap_or_else(crate::hub::host_name),
                    tenant: cfg.tenant.clone(),
                    heartbeat,
                    fetch_timeout: cfg.policy.duration("fetch_timeout", &cfg.policy.fetch_timeout)?,
                };
                let fetch = cfg.policy.bundle_url.is_some().then(|| fetch_now.clone());
                let link = HubLink::new(
                    settings,
                    activator.clone(),
                    vault.clone(),
                    gate.clone(),
                    metrics.clone(),
                    checks.clone(),
                    dir.clone(),
                    fetch,
                )?;
                Some(tokio::spawn(link.run(stopping.clone())))
            }
            None => None,
        };
        if let Some(url) = kuma_url {
            tokio::spawn(crate::hub::uptime_kuma(url, heartbeat, activator.clone(), vault.clone(), stopping.clone()));
        }
        let app = App {
            activator: activator.clone(),
            vault: vault.clone(),
            gate,
            metrics,
            checks,
            admin_token: Arc::new(admin_token),
            agent_token: Arc::new(agent_token),
            stopping,
            agent_can_decide: cfg.gate.agent_can_decide,
        };
        let router = crate::control::router(app);
        let listener = tokio::net::TcpListener::bind(cfg.control.listen)
            .await
            .map_err(|e| anyhow::anyhow!("control API: cannot listen on {}: {e}", cfg.control.listen))?;
        let egress = tokio::net::TcpListener::bind(cfg.egress.listen)
            .await
            .map_err(|e| anyhow::anyhow!("egress: cannot listen on {}: {e}", cfg.egress.listen))?;
        let egress_addr = egress.local_addr()?;
        let egress_stop = {
            let s = shutdown.clone();
            async move { s.notified().await }
        };
        let server_limits = warden_proxy::server::ServerLimits::default();
        let egress_task = tokio::spawn(warden_proxy::gateway::serve(egress, gateway, server_limits, egress_stop));
        let status = activator.status();
        tracing::info!(
            control = %listener.local_addr()?,
            egress = %egress_addr,
            policy_revision = status.revision,
            policy_digest = %status.digest,
            startup_ms = started.elapsed().as_millis() as u64,
            "warden ready"
        );
        let stop = shutdown.clone();
        // The control API on the same accept loop as egress: connection cap,
        // header read timeout, accept back-off (a flood of half-open
        // connections here must not starve the egress port).
        let control = move |req: hyper::Request<hyper::body::Incoming>| {
            let router = router.clone();
            async move {
                use tower::ServiceExt;
                router.oneshot(req).await.unwrap_or_else(|e: std::convert::Infallible| match e {})
            }
        };
        warden_proxy::server::serve(listener, control, server_limits, async move {
            terminated().await;
            tracing::info!("shutting down: finishing requests in flight");
            let _ = stop_tx.send(true);
            stop.notify_waiters();
        })
        .await;
        let _ = egress_task.await;
        // A hub call in flight is not waited for: what it carried is in
        // SQLite and goes again at the next start.
        if let Some(t) = hub_task {
            t.abort();
        }
        anyhow::Ok(())
    })?;
    // Nothing counted is lost on a clean stop.
    usage.close();
    tracing::info!("stopped");
    Ok(())
}

/// An http(s) URL from the configuration.
fn http_url(key: &str, text: &str) -> anyhow::Result<reqwest::Url> {
    let url = reqwest::Url::parse(text).map_err(|e| anyhow::anyhow!("{key}: {e}"))?;
    anyhow::ensure!(matches!(url.scheme(), "http" | "https"), "{key} must be an http(s) URL");
    Ok(url)
}

async fn terminated() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
