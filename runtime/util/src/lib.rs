//! Small primitives that every Warden crate needs and that each used to
//! write again: hex encoding, random ids, exponential backoff with jitter,
//! and durable file writes. Each lives here once so a fix lands everywhere.

#![deny(missing_docs)]

pub mod backoff;
pub mod fs;

pub use backoff::{jitter, Backoff};

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0x0f)] as char);
    }
    out
}

/// `n` bytes from the operating system's random source.
///
/// # Panics
/// If the OS has no random source: nothing in Warden can run safely then
/// (ids, tokens and keys all come from it).
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).expect("the operating system's random source");
    b
}

/// `prefix` and 20 random hex characters (80 bits): ids that are unique
/// without coordination and say what they name (`apr_…` for approvals).
pub fn random_id(prefix: &str) -> String {
    format!("{prefix}{}", hex(&random_bytes::<10>()))
}

/// An RFC 3339 UTC time, to the second, from milliseconds since the epoch
/// (the store's clock): `2026-12-02T11:22:15Z`.
pub fn rfc3339_ms(ms: i64) -> String {
    let t = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_seconds(t).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_lowercase_and_two_digits_per_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(hex(&[]), "");
    }

    #[test]
    fn times_are_rfc3339_seconds() {
        assert_eq!(rfc3339_ms(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_ms(1_764_674_535_999), "2025-12-02T11:22:15Z");
    }

    #[test]
    fn random_ids_differ_and_keep_their_prefix() {
        let (a, b) = (random_id("apr_"), random_id("apr_"));
        assert!(a.starts_with("apr_") && a.len() == 24, "{a}");
        assert!(a[4..].bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
