//! National identification numbers with check digits or issuing rules.
//!
//! These back the optional national-id rules (`policies/optional/national-ids.toml`):
//! a regex finds the shape, and the check here is what keeps a random run of
//! digits from being reported. Every function ignores the separators people
//! write (blanks, `-`, `.`, `/`) and the case of letters.

/// The value without separators, upper-cased.
fn compact(s: &[u8]) -> Vec<u8> {
    s.iter().filter(|b| !matches!(b, b' ' | b'-' | b'.' | b'/' | b'\t')).map(u8::to_ascii_uppercase).collect()
}

fn digits(s: &[u8]) -> Option<Vec<u32>> {
    s.iter().map(|b| b.is_ascii_digit().then(|| u32::from(b - b'0'))).collect()
}

/// UK National Insurance number (HMRC NIM39110): no checksum exists, so the
/// evidence is the prefix rules. `QQ123456C`, HMRC's own example, fails.
pub fn uk_nino(s: &[u8]) -> bool {
    let c = compact(s);
    if c.len() != 9 || !c[2..8].iter().all(u8::is_ascii_digit) || !(b'A'..=b'D').contains(&c[8]) {
        return false;
    }
    let (a, b) = (c[0], c[1]);
    let bad_first = b"DFIQUV";
    let bad_second = b"DFIQUVO";
    if !a.is_ascii_uppercase() || !b.is_ascii_uppercase() || bad_first.contains(&a) || bad_second.contains(&b) {
        return false;
    }
    !matches!(&[a, b], b"BG" | b"GB" | b"KN" | b"NK" | b"NT" | b"TN" | b"ZZ")
}

/// US Individual Taxpayer Identification Number (IRS): 9 digits starting
/// with 9, the fourth and fifth in 50-65, 70-88, 90-92 or 94-99.
pub fn us_itin(s: &[u8]) -> bool {
    let c = compact(s);
    let Some(d) = digits(&c) else { return false };
    if d.len() != 9 || d[0] != 9 {
        return false;
    }
    let group = d[3] * 10 + d[4];
    matches!(group, 50..=65 | 70..=88 | 90..=92 | 94..=99)
}

/// German Steuerliche Identifikationsnummer (§ 139b AO): 11 digits, the
/// first not 0; among the first ten exactly one digit occurs two or three
/// times and the rest at most once; the last is ISO 7064 MOD 11,10.
pub fn de_steuer_id(s: &[u8]) -> bool {
    let c = compact(s);
    let Some(d) = digits(&c) else { return false };
    if d.len() != 11 || d[0] == 0 {
        return false;
    }
    let mut counts = [0u8; 10];
    for &x in &d[..10] {
        counts[x as usize] += 1;
    }
    let repeated = counts.iter().filter(|&&n| n >= 2).count();
    if repeated != 1 || counts.iter().any(|&n| n > 3) {
        return false;
    }
    let mut product = 10;
    for &x in &d[..10] {
        let mut sum = (x + product) % 10;
        if sum == 0 {
            sum = 10;
        }
        product = (sum * 2) % 11;
    }
    let check = (11 - product) % 10;
    check == d[10]
}

/// French NIR (numéro de sécurité sociale): sex 1/2 (3/4/7/8 for temporary
/// numbers), 12 more characters where the department may be 2A/2B
/// (Corsica, counted as 19/18), and a two-digit key 97 - (number mod 97).
pub fn fr_nir(s: &[u8]) -> bool {
    let c = compact(s);
    if c.len() != 15 || !matches!(c[0], b'1' | b'2' | b'3' | b'4' | b'7' | b'8') {
        return false;
    }
    let mut body = c[..13].to_vec();
    let corsica = match &body[5..7] {
        b"2A" => Some(19),
        b"2B" => Some(18),
        _ => None,
    };
    if corsica.is_some() {
        body[5] = b'0';
        body[6] = b'0';
    }
    let (Some(b), Some(k)) = (digits(&body), digits(&c[13..])) else { return false };
    let month = b[3] * 10 + b[4];
    if !(1..=12).contains(&month) && !(20..=42).contains(&month) && !(50..=99).contains(&month) {
        return false;
    }
    let mut n: u64 = b.iter().fold(0, |acc, &x| acc * 10 + u64::from(x));
    if let Some(sub) = corsica {
        n += sub * 1_000_000;
    }
    let key = u64::from(k[0] * 10 + k[1]);
    key == 97 - n % 97
}

const DNI_LETTERS: &[u8; 23] = b"TRWAGMYFPDXBNJZSQVHLCKE";

/// Spanish DNI (8 digits and a letter) or NIE (X, Y or Z, 7 digits and a
/// letter): the letter is the number mod 23 in `TRWAGMYFPDXBNJZSQVHLCKE`,
/// with X, Y, Z read as 0, 1, 2.
pub fn es_dni(s: &[u8]) -> bool {
    let mut c = compact(s);
    if c.len() != 9 {
        return false;
    }
    match c[0] {
        b'X' => c[0] = b'0',
        b'Y' => c[0] = b'1',
        b'Z' => c[0] = b'2',
        _ => {}
    }
    let Some(d) = digits(&c[..8]) else { return false };
    let n = d.iter().fold(0u32, |acc, &x| acc * 10 + x);
    DNI_LETTERS[(n % 23) as usize] == c[8]
}

/// Values of a character in an odd (1st, 3rd, ...) position of a codice
/// fiscale, for 0-9 then A-Z (decreto ministeriale 23/12/1976).
const CF_ODD: [u32; 36] = [
    1, 0, 5, 7, 9, 13, 15, 17, 19, 21, // 0-9
    1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23, // A-Z
];

/// Italian codice fiscale: 6 letters, 2 digits, a month letter, 2 digits,
/// a letter and 3 digits (digits may be replaced by letters LMNPQRSTUV in
/// homocodes), then the check letter over odd/even position values mod 26.
pub fn it_codice_fiscale(s: &[u8]) -> bool {
    let c = compact(s);
    if c.len() != 16 || !c.iter().all(u8::is_ascii_alphanumeric) {
        return false;
    }
    let letters = [0, 1, 2, 3, 4, 5, 8, 11, 15];
    if letters.iter().any(|&i| !c[i].is_ascii_uppercase()) || !b"ABCDEHLMPRST".contains(&c[8]) {
        return false;
    }
    let index = |b: u8| if b.is_ascii_digit() { (b - b'0') as usize } else { (b - b'A') as usize + 10 };
    let mut sum = 0;
    for (i, &b) in c[..15].iter().enumerate() {
        sum += if i % 2 == 0 {
            CF_ODD[index(b)]
        } else if b.is_ascii_digit() {
            u32::from(b - b'0')
        } else {
            u32::from(b - b'A')
        };
    }
    c[15] == b'A' + (sum % 26) as u8
}

/// Dutch burgerservicenummer: 9 digits (8 with a leading zero dropped are
/// not accepted) with 9·d1 + 8·d2 + ... + 2·d8 - d9 divisible by 11, and
/// not all zero.
pub fn nl_bsn(s: &[u8]) -> bool {
    let c = compact(s);
    let Some(d) = digits(&c) else { return false };
    if d.len() != 9 || d.iter().all(|&x| x == 0) {
        return false;
    }
    let sum: i64 = d[..8].iter().zip((2..=9).rev()).map(|(&x, w)| i64::from(x) * w).sum::<i64>() - i64::from(d[8]);
    sum % 11 == 0
}

const VERHOEFF_D: [[u8; 10]; 10] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
    [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
    [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
    [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
    [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
    [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
    [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
    [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
    [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
];

const VERHOEFF_P: [[u8; 10]; 8] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
    [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
    [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
    [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
    [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
    [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
    [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
];

/// The Verhoeff check over a digit string that includes its check digit.
pub fn verhoeff(d: &[u32]) -> bool {
    let mut c = 0u8;
    for (i, &x) in d.iter().rev().enumerate() {
        c = VERHOEFF_D[c as usize][VERHOEFF_P[i % 8][x as usize] as usize];
    }
    c == 0
}

/// Indian Aadhaar number (UIDAI): 12 digits, the first 2-9, the last a
/// Verhoeff check digit.
pub fn aadhaar(s: &[u8]) -> bool {
    let c = compact(s);
    let Some(d) = digits(&c) else { return false };
    d.len() == 12 && d[0] >= 2 && verhoeff(&d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uk_nino_prefix_rules() {
        assert!(uk_nino(b"AB123456C"));
        assert!(uk_nino(b"ab 12 34 56 c"));
        assert!(uk_nino(b"JG-10-37-26-A"));
        assert!(!uk_nino(b"QQ123456C"), "HMRC's example prefix is never issued");
        assert!(!uk_nino(b"GB123456A"));
        assert!(!uk_nino(b"AO123456A"));
        assert!(!uk_nino(b"AB123456E"), "suffix A-D only");
        assert!(!uk_nino(b"AB12345C"));
    }

    #[test]
    fn us_itin_group_ranges() {
        assert!(us_itin(b"912-70-1234"));
        assert!(us_itin(b"900 94 0000"));
        assert!(!us_itin(b"912-93-1234"));
        assert!(!us_itin(b"812-70-1234"));
        assert!(!us_itin(b"912-49-1234"));
    }

    #[test]
    fn de_steuer_id_iso7064() {
        // Published examples (BZSt and the Wikipedia article on the Steuer-IdNr).
        for ok in ["86095742719", "47036892816", "65929970489", "57549285017", "25768131411", "86 095 742 719"] {
            assert!(de_steuer_id(ok.as_bytes()), "{ok}");
        }
        assert!(!de_steuer_id(b"86095742718"), "wrong check digit");
        assert!(!de_steuer_id(b"06095742719"), "leading zero");
        assert!(!de_steuer_id(b"12345678903"), "no repeated digit");
    }

    #[test]
    fn fr_nir_key() {
        assert!(fr_nir(b"2 55 08 14 168 025 38"));
        assert!(fr_nir(b"255081416802538"));
        assert!(!fr_nir(b"255081416802539"));
        assert!(!fr_nir(b"955081416802538"), "sex digit");
        // Corsica: 2A is read as 19, so the key is over 1840519012345.
        assert!(fr_nir(b"1 84 05 2A 012 345 31"));
        assert!(!fr_nir(b"1 84 05 2B 012 345 31"));
    }

    #[test]
    fn es_dni_and_nie_letters() {
        assert!(es_dni(b"12345678Z"));
        assert!(es_dni(b"12345678-z"));
        assert!(es_dni(b"X1234567L"));
        assert!(es_dni(b"Y0000000Z"));
        assert!(!es_dni(b"12345678A"));
        assert!(!es_dni(b"X1234567A"));
    }

    #[test]
    fn it_codice_fiscale_check_char() {
        assert!(it_codice_fiscale(b"RSSMRA85T10A562S"));
        assert!(it_codice_fiscale(b"rssmra85t10a562s"));
        assert!(!it_codice_fiscale(b"RSSMRA85T10A562T"));
        assert!(!it_codice_fiscale(b"RSSMRA85Z10A562S"), "Z is no month letter");
    }

    #[test]
    fn nl_bsn_eleven_proof() {
        assert!(nl_bsn(b"111222333"));
        assert!(nl_bsn(b"123456782"));
        assert!(nl_bsn(b"1234.56.782"));
        assert!(!nl_bsn(b"123456789"));
        assert!(!nl_bsn(b"000000000"));
    }

    #[test]
    fn aadhaar_verhoeff() {
        assert!(verhoeff(&[2, 3, 6, 3]), "Verhoeff's own example 236 -> 3");
        assert!(aadhaar(b"2341 2341 2346"));
        assert!(!aadhaar(b"2341 2341 2345"));
        assert!(!aadhaar(b"1341 2341 2346"), "first digit 0 or 1 is never issued");
    }
}
