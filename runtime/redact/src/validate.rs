//! Validators: checksums and statistics that cut false positives.
//!
//! Each takes the sensitive part of a match and says whether it counts.

use crate::rule::Validator;
use sha2::{Digest, Sha256};

pub mod national;

impl Validator {
    /// Whether `value` passes this validator.
    pub fn check(&self, value: &[u8]) -> bool {
        self.accept_len(value) == Some(value.len())
    }

    /// How much of `value` passes: `Some(value.len())` for all of it, a
    /// shorter prefix where the format fixes the length and the regex took
    /// more (an IBAN followed by ` EUR`), `None` when it fails.
    pub fn accept_len(&self, value: &[u8]) -> Option<usize> {
        let all = Some(value.len());
        match *self {
            Validator::Luhn => luhn(value).then_some(value.len()),
            Validator::IbanMod97 => iban_prefix(value),
            Validator::UsSsn => us_ssn(value).then_some(value.len()),
            Validator::Base58check => base58check(value).then_some(value.len()),
            Validator::UkNino => national::uk_nino(value).then_some(value.len()),
            Validator::UsItin => national::us_itin(value).then_some(value.len()),
            Validator::DeSteuerId => national::de_steuer_id(value).then_some(value.len()),
            Validator::FrNir => national::fr_nir(value).then_some(value.len()),
            Validator::EsDni => national::es_dni(value).then_some(value.len()),
            Validator::ItCodiceFiscale => national::it_codice_fiscale(value).then_some(value.len()),
            Validator::NlBsn => national::nl_bsn(value).then_some(value.len()),
            Validator::Aadhaar => national::aadhaar(value).then_some(value.len()),
            Validator::Entropy(min) => (shannon_entropy(value) >= min).then_some(value.len()).and(all),
            Validator::Secret(min) => {
                let mixed = value.iter().any(u8::is_ascii_digit) && value.iter().any(u8::is_ascii_alphabetic);
                (mixed && shannon_entropy(value) >= min).then_some(value.len())
            }
        }
    }
}

/// The longest prefix of `s` (ending on an alphanumeric) that is a valid IBAN
/// of its country's length.
fn iban_prefix(s: &[u8]) -> Option<usize> {
    let country = [s.first()?.to_ascii_uppercase(), s.get(1)?.to_ascii_uppercase()];
    let (_, len) = IBAN_LENGTHS.iter().find(|(c, _)| **c == country)?;
    let mut seen = 0;
    for (i, b) in s.iter().enumerate() {
        if !b.is_ascii_whitespace() {
            seen += 1;
        }
        if seen == *len {
            return iban_mod97(&s[..=i]).then_some(i + 1);
        }
    }
    None
}

/// Shannon entropy in bits per byte.
pub fn shannon_entropy(s: &[u8]) -> f64 {
    if s.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in s {
        counts[b as usize] += 1;
    }
    let n = s.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

/// The Luhn check over the digits of `s` (separators ignored), 12–19 digits,
/// not all one digit (`0000 0000 0000 0000` passes Luhn but is no card).
pub fn luhn(s: &[u8]) -> bool {
    let digits: Vec<u8> = s.iter().filter(|b| b.is_ascii_digit()).map(|b| b - b'0').collect();
    if !(12..=19).contains(&digits.len()) || digits.iter().all(|&d| d == digits[0]) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = d as u32;
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// IBAN lengths by country (ISO 13616 registry). An IBAN whose length does not
/// match its country is rejected even when mod-97 happens to pass.
const IBAN_LENGTHS: &[(&[u8; 2], usize)] = &[
    (b"AD", 24),
    (b"AE", 23),
    (b"AL", 28),
    (b"AT", 20),
    (b"AZ", 28),
    (b"BA", 20),
    (b"BE", 16),
    (b"BG", 22),
    (b"BH", 22),
    (b"BR", 29),
    (b"BY", 28),
    (b"CH", 21),
    (b"CR", 22),
    (b"CY", 28),
    (b"CZ", 24),
    (b"DE", 22),
    (b"DK", 18),
    (b"DO", 28),
    (b"EE", 20),
    (b"EG", 29),
    (b"ES", 24),
    (b"FI", 18),
    (b"FO", 18),
    (b"FR", 27),
    (b"GB", 22),
    (b"GE", 22),
    (b"GI", 23),
    (b"GL", 18),
    (b"GR", 27),
    (b"GT", 28),
    (b"HR", 21),
    (b"HU", 28),
    (b"IE", 22),
    (b"IL", 23),
    (b"IQ", 23),
    (b"IS", 26),
    (b"IT", 27),
    (b"JO", 30),
    (b"KW", 30),
    (b"KZ", 20),
    (b"LB", 28),
    (b"LC", 32),
    (b"LI", 21),
    (b"LT", 20),
    (b"LU", 20),
    (b"LV", 21),
    (b"MC", 27),
    (b"MD", 24),
    (b"ME", 22),
    (b"MK", 19),
    (b"MR", 27),
    (b"MT", 31),
    (b"MU", 30),
    (b"NL", 18),
    (b"NO", 15),
    (b"PK", 24),
    (b"PL", 28),
    (b"PS", 29),
    (b"PT", 25),
    (b"QA", 29),
    (b"RO", 24),
    (b"RS", 22),
    (b"SA", 24),
    (b"SC", 31),
    (b"SE", 24),
    (b"SI", 19),
    (b"SK", 24),
    (b"SM", 27),
    (b"ST", 25),
    (b"SV", 28),
    (b"TL", 23),
    (b"TN", 24),
    (b"TR", 26),
    (b"UA", 29),
    (b"VA", 22),
    (b"VG", 24),
    (b"XK", 20),
];

/// The IBAN check: known country and length, then mod 97 == 1 over the
/// rearranged number (letters as 10..35). Spaces are ignored.
pub fn iban_mod97(s: &[u8]) -> bool {
    let iban: Vec<u8> = s.iter().filter(|b| !b.is_ascii_whitespace()).map(|b| b.to_ascii_uppercase()).collect();
    if iban.len() < 15 || !iban.iter().all(|b| b.is_ascii_alphanumeric()) {
        return false;
    }
    let country = [iban[0], iban[1]];
    match IBAN_LENGTHS.iter().find(|(c, _)| **c == country) {
        Some((_, len)) if *len == iban.len() => {}
        _ => return false,
    }
    let mut rem: u32 = 0;
    for &b in iban[4..].iter().chain(&iban[..4]) {
        let v = match b {
            b'0'..=b'9' => (b - b'0') as u32,
            b'A'..=b'Z' => (b - b'A') as u32 + 10,
            _ => return false,
        };
        rem = if v >= 10 { (rem * 100 + v) % 97 } else { (rem * 10 + v) % 97 };
    }
    rem == 1
}

/// US SSN ranges: area not 000, 666 or 900–999; group not 00; serial not
/// 0000. Separators are ignored; exactly nine digits.
pub fn us_ssn(s: &[u8]) -> bool {
    let d: Vec<u32> = s.iter().filter(|b| b.is_ascii_digit()).map(|b| (b - b'0') as u32).collect();
    if d.len() != 9 {
        return false;
    }
    let area = d[0] * 100 + d[1] * 10 + d[2];
    let group = d[3] * 10 + d[4];
    let serial = d[5] * 1000 + d[6] * 100 + d[7] * 10 + d[8];
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

const BASE58: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";

/// Base58Check: decode, then the last 4 bytes are the first 4 of the double
/// SHA-256 of the rest.
pub fn base58check(s: &[u8]) -> bool {
    if s.is_empty() || s.len() > 64 {
        return false;
    }
    // Big-endian base-256 accumulator; inputs are short, so quadratic is fine.
    let mut bytes: Vec<u8> = Vec::with_capacity(s.len());
    for &c in s {
        let Some(mut carry) = BASE58.iter().position(|&x| x == c).map(|v| v as u32) else {
            return false;
        };
        for b in bytes.iter_mut().rev() {
            carry += (*b as u32) * 58;
            *b = (carry & 0xff) as u8;
            carry >>= 8;
        }
        while carry > 0 {
            bytes.insert(0, (carry & 0xff) as u8);
            carry >>= 8;
        }
    }
    let zeros = s.iter().take_while(|&&c| c == b'1').count();
    let mut full = vec![0u8; zeros];
    full.extend_from_slice(&bytes);
    if full.len() < 5 {
        return false;
    }
    let (payload, check) = full.split_at(full.len() - 4);
    let hash = Sha256::digest(Sha256::digest(payload));
    &hash[..4] == check
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_accepts_test_cards_and_rejects_others() {
        assert!(luhn(b"4111 1111 1111 1111"));
        assert!(luhn(b"5555-5555-5555-4444"));
        assert!(luhn(b"378282246310005"));
        assert!(!luhn(b"4111 1111 1111 1112"));
        assert!(!luhn(b"0000000000000000"));
        assert!(!luhn(b"4111"));
    }

    #[test]
    fn iban_checks_country_length_and_checksum() {
        assert!(iban_mod97(b"DE89 3704 0044 0532 0130 00"));
        assert!(iban_mod97(b"GB82WEST12345698765432"));
        assert!(iban_mod97(b"FR1420041010050500013M02606"));
        assert!(!iban_mod97(b"DE89 3704 0044 0532 0130 01"));
        assert!(!iban_mod97(b"DE89370400440532013000000")); // wrong length
        assert!(!iban_mod97(b"ZZ89370400440532013000"));
        let v = Validator::IbanMod97;
        assert_eq!(v.accept_len(b"DE89 3704 0044 0532 0130 00 1234"), Some(27));
        assert_eq!(v.accept_len(b"DE89 3704 0044 0532 0130"), None);
    }

    #[test]
    fn ssn_excludes_invalid_ranges() {
        assert!(us_ssn(b"123-45-6789"));
        assert!(us_ssn(b"078051120"));
        for bad in ["000-12-3456", "666-12-3456", "912-12-3456", "123-00-4567", "123-45-0000"] {
            assert!(!us_ssn(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn base58check_validates_bitcoin_addresses() {
        assert!(base58check(b"1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"));
        assert!(base58check(b"3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy"));
        assert!(!base58check(b"1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNb"));
        assert!(!base58check(b"0OIl"));
    }

    #[test]
    fn entropy_of_uniform_and_random() {
        assert_eq!(shannon_entropy(b"aaaa"), 0.0);
        assert!((shannon_entropy(b"abcd") - 2.0).abs() < 1e-9);
        assert!(shannon_entropy(b"x9Kq2LmZ8vB4nR7tY1wE5uI3oP6aS0dF") > 4.5);
    }
}
