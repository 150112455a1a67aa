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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_lowercase_and_two_digits_per_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(hex(&[]), "");
    }

    #[test]
    fn random_ids_differ_and_keep_their_prefix() {
        let (a, b) = (random_id("apr_"), random_id("apr_"));
        assert!(a.starts_with("apr_") && a.len() == 24, "{a}");
        assert!(a[4..].bytes().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
    }
}
