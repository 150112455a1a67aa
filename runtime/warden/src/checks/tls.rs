//! Certificate checks (issue 17 point 3), at start and once a day:
//! `[checks] tls = ["host:port", ...]` is read off a TLS handshake (the
//! tenant's own services and loopback; each target must pass the egress
//! allow list and the SSRF guard of the policy in force, like any
//! destination of the agent's), `tls_files = ["/path/cert.pem", ...]` off
//! PEM files. Each gives the days until the earliest `notAfter` among its
//! certificates: `medium` below `tls_alert_days` (14), `hard` once expired
//! or when the handshake or the parse fails.
//!
//! The handshake accepts any certificate (its only purpose is to read the
//! expiry, and an expired one must still be read): nothing but the
//! ClientHello is sent, and the connection is closed at once.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde::Serialize;

use super::Severity;

/// Default alert threshold: two weeks leave time for a renewal that failed
/// to be noticed and fixed.
pub const DEFAULT_ALERT_DAYS: i64 = 14;
/// Longest a handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest certificate file read.
const MAX_PEM: u64 = 1 << 20;

/// One target's result.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CertResult {
    /// `host:port` or the file's path.
    pub target: String,
    /// ok, medium (expires within the alert days), hard (expired or failed).
    pub level: Severity,
    /// Whole days until the earliest `notAfter` (negative: expired).
    pub days_left: Option<i64>,
    /// That `notAfter` (RFC 3339).
    pub not_after: Option<String>,
    /// Why it could not be read (handshake, parse, refused by the policy).
    pub error: Option<String>,
}

impl CertResult {
    fn failed(target: &str, error: String) -> CertResult {
        CertResult {
            target: target.into(),
            level: Severity::Hard,
            days_left: None,
            not_after: None,
            error: Some(error),
        }
    }

    /// The verdict on certificates expiring at `not_after`, seen at `now`.
    pub fn expiring(target: &str, not_after: SystemTime, now: SystemTime, alert_days: i64) -> CertResult {
        let secs = match not_after.duration_since(now) {
            Ok(d) => d.as_secs() as i64,
            Err(e) => -(e.duration().as_secs() as i64),
        };
        let days = secs.div_euclid(86_400);
        let level = if secs <= 0 {
            Severity::Hard
        } else if days < alert_days {
            Severity::Medium
        } else {
            Severity::Ok
        };
        let ms = not_after.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        CertResult {
            target: target.into(),
            level,
            days_left: Some(days),
            not_after: Some(warden_util::rfc3339_ms(ms)),
            error: None,
        }
    }
}

// === DER: just enough of X.509 to find notAfter ===

/// One DER element: (tag, contents, what follows).
fn der(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        (rest[..n].iter().fold(0usize, |acc, b| (acc << 8) | *b as usize), &rest[n..])
    };
    (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
}

/// `notAfter` of a DER certificate.
pub fn not_after(cert: &[u8]) -> Option<SystemTime> {
    let (0x30, cert, _) = der(cert)? else { return None };
    let (0x30, tbs, _) = der(cert)? else { return None };
    let mut rest = tbs;
    // version [0] EXPLICIT, absent for v1.
    if let Some((0xa0, _, r)) = der(rest) {
        rest = r;
    }
    // serialNumber, signature, issuer, then validity.
    for want in [0x02, 0x30, 0x30] {
        let (tag, _, r) = der(rest)?;
        if tag != want {
            return None;
        }
        rest = r;
    }
    let (0x30, validity, _) = der(rest)? else { return None };
    let (_, _, r) = der(validity)?;
    let (tag, t, _) = der(r)?;
    asn1_time(tag, std::str::from_utf8(t).ok()?)
}

/// UTCTime (`YYMMDDHHMMSSZ`, 1950-2049) or GeneralizedTime (`YYYYMMDDHHMMSSZ`).
fn asn1_time(tag: u8, s: &str) -> Option<SystemTime> {
    let s = s.strip_suffix('Z')?;
    let digits = |a: usize, b: usize| s.get(a..b)?.parse::<i64>().ok();
    let (year, r) = match (tag, s.len()) {
        (0x17, 12) => {
            let yy = digits(0, 2)?;
            (if yy < 50 { 2000 + yy } else { 1900 + yy }, 2)
        }
        (0x18, 14) => (digits(0, 4)?, 4),
        _ => return None,
    };
    let (mo, d, h, mi, sec) = (
        digits(r, r + 2)?,
        digits(r + 2, r + 4)?,
        digits(r + 4, r + 6)?,
        digits(r + 6, r + 8)?,
        digits(r + 8, r + 10)?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let secs = days_from_civil(year, mo, d) * 86_400 + h * 3600 + mi * 60 + sec;
    Some(if secs >= 0 { UNIX_EPOCH + Duration::from_secs(secs as u64) } else { UNIX_EPOCH })
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The DER certificates in a PEM text.
fn pem_certs(text: &str) -> Vec<Vec<u8>> {
    use base64::Engine;
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN CERTIFICATE-----") {
        let body = &rest[start + "-----BEGIN CERTIFICATE-----".len()..];
        let Some(end) = body.find("-----END CERTIFICATE-----") else { break };
        let b64: String = body[..end].chars().filter(|c| !c.is_whitespace()).collect();
        if let Ok(der) = base64::engine::general_purpose::STANDARD.decode(b64) {
            out.push(der);
        }
        rest = &body[end..];
    }
    out
}

/// The earliest expiry among `certs`, or why there is none.
fn earliest(certs: &[Vec<u8>]) -> Result<SystemTime, String> {
    if certs.is_empty() {
        return Err("no certificate found".into());
    }
    certs
        .iter()
        .map(|c| not_after(c).ok_or_else(|| "a certificate does not parse".to_string()))
        .try_fold(None::<SystemTime>, |min, t| t.map(|t| Some(min.map_or(t, |m: SystemTime| m.min(t)))))?
        .ok_or_else(|| "no certificate found".into())
}

/// Check a PEM file (blocking).
pub fn check_file(path: &std::path::Path, now: SystemTime, alert_days: i64) -> CertResult {
    use std::io::Read;
    let target = path.display().to_string();
    let mut text = String::new();
    let read = std::fs::File::open(path).and_then(|f| f.take(MAX_PEM).read_to_string(&mut text));
    if let Err(e) = read {
        return CertResult::failed(&target, e.to_string());
    }
    match earliest(&pem_certs(&text)) {
        Ok(t) => CertResult::expiring(&target, t, now, alert_days),
        Err(e) => CertResult::failed(&target, e),
    }
}

/// What the policy in force lets a check connect to.
pub struct Allowed<'a> {
    /// `[egress] allow`: host patterns with their port.
    pub hosts: &'a [(warden_vault::HostPattern, u16)],
    /// `allow_ranges` for the SSRF guard.
    pub ranges: &'a [warden_proxy::ssrf::IpRange],
}

/// `host:port` (or `[v6]:port`) split.
fn split_target(target: &str) -> Option<(String, u16)> {
    let (host, port) = target.rsplit_once(':')?;
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    Some((host.to_ascii_lowercase(), port.parse().ok()?))
}

/// The addresses `target` may be reached at, after the allow list and the
/// SSRF guard; an error says which refused it.
pub async fn resolve_allowed(target: &str, allowed: &Allowed<'_>) -> Result<(String, Vec<SocketAddr>), String> {
    let (host, port) = split_target(target).ok_or("expected host:port")?;
    if !allowed.hosts.iter().any(|(p, allowed_port)| *allowed_port == port && p.matches(&host)) {
        return Err(format!("{host}:{port} is not in the egress allowlist (policy.toml [egress] allow)"));
    }
    let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((host.as_str(), port)).await.map_err(|e| format!("resolve: {e}"))?.collect(),
    };
    for a in &addrs {
        if let Some(why) = warden_proxy::ssrf::forbidden(a.ip(), allowed.ranges) {
            return Err(format!("{host} resolves to {} ({why}), refused by the SSRF guard", a.ip()));
        }
    }
    if addrs.is_empty() {
        return Err(format!("{host} resolves to no address"));
    }
    Ok((host, addrs))
}

/// Handshake with `addr` as `host` and read the certificates it shows.
pub async fn handshake(host: &str, addr: SocketAddr) -> Result<Vec<Vec<u8>>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(ReadOnly(provider)))
        .with_no_client_auth();
    let name = ServerName::try_from(host.to_string()).map_err(|e| format!("server name: {e}"))?;
    let connect = async {
        let tcp = tokio::net::TcpStream::connect(addr).await.map_err(|e| format!("connect: {e}"))?;
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        let certs = tls.get_ref().1.peer_certificates().unwrap_or_default();
        Ok::<_, String>(certs.iter().map(|c| c.to_vec()).collect())
    };
    tokio::time::timeout(HANDSHAKE_TIMEOUT, connect).await.map_err(|_| "handshake: timed out".to_string())?
}

/// Check `host:port` against the policy, then by handshake.
pub async fn check_target(target: &str, allowed: &Allowed<'_>, now: SystemTime, alert_days: i64) -> CertResult {
    let (host, addrs) = match resolve_allowed(target, allowed).await {
        Ok(v) => v,
        Err(e) => return CertResult::failed(target, e),
    };
    match handshake(&host, addrs[0]).await.and_then(|certs| earliest(&certs[..certs.len().min(1)])) {
        Ok(t) => CertResult::expiring(target, t, now, alert_days),
        Err(e) => CertResult::failed(target, e),
    }
}

/// A verifier that verifies nothing: the check reads the certificate's
/// expiry, and must read it from an expired or self-signed one too. No
/// application data is ever sent over such a connection.
#[derive(Debug)]
struct ReadOnly(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for ReadOnly {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> SystemTime {
        warden_policy::bundle::manifest::parse_rfc3339(s).unwrap()
    }

    #[test]
    fn asn1_times_read_both_forms() {
        assert_eq!(asn1_time(0x17, "261202060000Z"), Some(t("2026-12-02T06:00:00Z")));
        assert_eq!(asn1_time(0x17, "491231235959Z"), Some(t("2049-12-31T23:59:59Z")));
        assert_eq!(asn1_time(0x17, "500101000000Z"), Some(UNIX_EPOCH), "before 1970: clamped");
        assert_eq!(asn1_time(0x18, "20500101000000Z"), Some(t("2050-01-01T00:00:00Z")));
        assert_eq!(asn1_time(0x18, "20501301000000Z"), None);
        assert_eq!(asn1_time(0x17, "2612020600Z"), None);
    }

    #[test]
    fn not_after_is_read_from_der_and_pem() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["tenant.example".into()]).unwrap();
        params.not_after = rcgen::date_time_ymd(2031, 3, 4);
        let soon = params.clone().self_signed(&key).unwrap();
        params.not_after = rcgen::date_time_ymd(2040, 1, 1);
        let late = params.self_signed(&key).unwrap();
        assert_eq!(not_after(soon.der()), Some(t("2031-03-04T00:00:00Z")));
        // A chain: the earliest expiry counts.
        let pem = format!("{}\n{}", late.pem(), soon.pem());
        assert_eq!(earliest(&pem_certs(&pem)), Ok(t("2031-03-04T00:00:00Z")));
        assert_eq!(earliest(&pem_certs("no pem here")), Err("no certificate found".into()));
        let broken = "-----BEGIN CERTIFICATE-----\nMIIBAA==\n-----END CERTIFICATE-----\n";
        assert_eq!(earliest(&pem_certs(broken)), Err("a certificate does not parse".into()));
        assert_eq!(not_after(&soon.der()[..40]), None);
    }

    #[test]
    fn levels_follow_the_days_left() {
        let now = t("2026-12-02T00:00:00Z");
        let r = CertResult::expiring("x", t("2026-12-12T00:00:00Z"), now, 14);
        assert_eq!((r.level, r.days_left), (Severity::Medium, Some(10)));
        assert_eq!(CertResult::expiring("x", t("2026-12-16T00:00:00Z"), now, 14).level, Severity::Ok);
        let gone = CertResult::expiring("x", t("2026-12-01T00:00:00Z"), now, 14);
        assert_eq!((gone.level, gone.days_left), (Severity::Hard, Some(-1)));
    }

    #[test]
    fn targets_outside_the_allow_list_or_the_ssrf_guard_are_refused() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let hosts = vec![(warden_vault::HostPattern::parse("127.0.0.1").unwrap(), 443)];
        let none = Allowed { hosts: &hosts, ranges: &[] };
        let e = rt.block_on(resolve_allowed("127.0.0.1:8443", &none)).unwrap_err();
        assert!(e.contains("not in the egress allowlist"), "{e}");
        let e = rt.block_on(resolve_allowed("127.0.0.1:443", &none)).unwrap_err();
        assert!(e.contains("SSRF guard"), "{e}");
        let ranges = [warden_proxy::ssrf::IpRange::parse("127.0.0.1/32").unwrap()];
        let loopback = Allowed { hosts: &hosts, ranges: &ranges };
        assert!(rt.block_on(resolve_allowed("127.0.0.1:443", &loopback)).is_ok());
        assert!(rt.block_on(resolve_allowed("nonsense", &loopback)).is_err());
    }
}
