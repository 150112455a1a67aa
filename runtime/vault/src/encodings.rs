//! The shapes a vault value travels in, registered with the exact layer so
//! that an encoded secret is caught as surely as a plain one.
//!
//! The exact layer itself adds the JSON-escaped form and one percent-encoded
//! form of each literal; this module adds what clients actually produce:
//!
//! - **percent-encoding** with each common safe set (RFC 3986 unreserved;
//!   Python's `quote`, which keeps `/`; JavaScript's `encodeURIComponent` and
//!   `encodeURI`; form encoding with `+` for space), in upper- and lowercase
//!   hex;
//! - **base64** and **base64url**, padded and not, and the three *unaligned*
//!   fragments of each: a value inside a longer encoded blob starts at byte
//!   offset 0, 1 or 2 modulo 3, and the characters that depend on the value
//!   alone are the same wherever it sits (the technique secret scanners use);
//! - **hex**, lower and upper case.
//!
//! Escapes that split a value arbitrarily (`p\u0040ss` inside a JSON string
//! holding JSON) cannot be listed; the gateway decodes those before it scans.

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use warden_redact::MIN_EXACT_LEN;
use zeroize::Zeroizing;

/// Bytes kept as they are, besides ASCII letters and digits, by each
/// percent-encoder clients use.
const SAFE_SETS: &[&[u8]] = &[
    b"-_.~",                 // RFC 3986 unreserved (Rust `urlencoding`, Go `QueryEscape` but space)
    b"-_.~/",                // Python urllib.parse.quote (safe='/')
    b"-_.!~*'()",            // JavaScript encodeURIComponent
    b"-_.!~*'();/?:@&=+$,#", // JavaScript encodeURI
    b"-_.*",                 // application/x-www-form-urlencoded (WHATWG, Java URLEncoder)
];

/// The fragments shorter than this are not registered: they would match
/// ordinary text in long blobs.
const MIN_FRAGMENT: usize = 8;

/// Every encoded form of `value` worth registering (the value itself first).
/// Encoded forms shorter than the exact layer's minimum are left out.
pub fn forms(value: &str) -> Vec<Zeroizing<String>> {
    // The value itself always (a too-short one is the exact layer's to refuse).
    let mut out: Vec<Zeroizing<String>> = vec![Zeroizing::new(value.to_string())];
    let mut push = |s: String, min: usize| {
        let s = Zeroizing::new(s);
        if s.len() >= min.max(MIN_EXACT_LEN) && !out.iter().any(|o| **o == *s) {
            out.push(s);
        }
    };
    let bytes = value.as_bytes();
    for safe in SAFE_SETS {
        for upper in [true, false] {
            push(percent(bytes, safe, upper, false), MIN_EXACT_LEN);
            push(percent(bytes, safe, upper, true), MIN_EXACT_LEN);
        }
    }
    for engine in [&STANDARD, &URL_SAFE] {
        push(engine.encode(bytes), MIN_EXACT_LEN);
    }
    for engine in [&STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
        push(engine.encode(bytes), MIN_EXACT_LEN);
        for shift in 0..3usize {
            let mut buf = vec![0u8; shift];
            buf.extend_from_slice(bytes);
            let enc = Zeroizing::new(engine.encode(&buf));
            let first = (8 * shift).div_ceil(6);
            let last = 8 * (shift + bytes.len()) / 6;
            if last > first {
                push(enc[first..last].to_string(), MIN_FRAGMENT);
            }
            buf.iter_mut().for_each(|b| *b = 0);
        }
    }
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    push(hex.to_ascii_uppercase(), MIN_EXACT_LEN);
    push(hex, MIN_EXACT_LEN);
    out
}

fn percent(bytes: &[u8], safe: &[u8], upper: bool, plus_for_space: bool) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for &b in bytes {
        if b.is_ascii_alphanumeric() || safe.contains(&b) {
            s.push(b as char);
        } else if b == b' ' && plus_for_space {
            s.push('+');
        } else if upper {
            s.push_str(&format!("%{b:02X}"));
        } else {
            s.push_str(&format!("%{b:02x}"));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encoders written independently of the ones above: the standard
    /// library's view of each scheme, checked by substring, as the exact
    /// layer will see the value inside a longer text.
    fn contains_some(forms: &[Zeroizing<String>], text: &str) -> bool {
        forms.iter().any(|f| text.contains(f.as_str()))
    }

    #[test]
    fn every_client_encoding_is_listed() {
        let value = "p@ss:w0rd/Secret! é+x";
        let f = forms(value);
        for encoded in [
            "p%40ss%3Aw0rd/Secret%21%20%C3%A9%2Bx",   // Python quote()
            "p%40ss%3aw0rd%2fSecret%21%20%c3%a9%2bx", // lowercase hex
            "p%40ss%3Aw0rd%2FSecret!%20%C3%A9%2Bx",   // encodeURIComponent
            "p@ss:w0rd/Secret!%20%C3%A9+x",           // encodeURI
            "p%40ss%3Aw0rd%2FSecret%21+%C3%A9%2Bx",   // form encoding
            "cEBzczp3MHJkL1NlY3JldCEgw6kreA==",       // base64
            "cEBzczp3MHJkL1NlY3JldCEgw6kreA",         // base64url, no padding
        ] {
            assert!(contains_some(&f, encoded), "{encoded} not covered");
        }
        let hex: String = value.bytes().map(|b| format!("{b:02X}")).collect();
        assert!(contains_some(&f, &format!("0x{hex};")) && contains_some(&f, &hex.to_lowercase()));
    }

    #[test]
    fn base64_finds_the_value_at_any_offset_in_a_blob() {
        let value = "hunter2-Zq8vLx3";
        let f = forms(value);
        for prefix in ["", "a", "ab", "abc", "long document text before the secret: "] {
            for suffix in ["", "x", " and after."] {
                let doc = format!("{prefix}{value}{suffix}");
                for enc in [STANDARD.encode(&doc), URL_SAFE_NO_PAD.encode(&doc)] {
                    assert!(contains_some(&f, &enc), "{prefix:?}+value+{suffix:?} as {enc}");
                }
            }
        }
        // ... and not in the encoding of other text.
        let other = STANDARD.encode("hunter3-Zq8vLx3 is a different value entirely");
        assert!(!f.iter().skip(1).any(|x| other.contains(x.as_str()) && x.len() >= 10));
    }

    #[test]
    fn hex_both_cases_and_short_forms_dropped() {
        let f = forms("abcdef");
        assert!(f.iter().any(|x| x.as_str() == "616263646566"));
        assert!(f.iter().all(|x| x.len() >= MIN_EXACT_LEN));
        assert!(forms("Secret").iter().any(|x| x.as_str() == "536563726574"));
        assert!(forms("Secret").iter().any(|x| x.as_str() == "536563726574".to_lowercase()));
    }
}
