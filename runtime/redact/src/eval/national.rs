//! National identification numbers for the optional national-id rules
//! (`policies/optional/national-ids.toml`): valid numbers in the formats
//! people write them, after a naming phrase, and near misses (the same
//! shapes with a wrong check digit or a never-issued prefix).
//!
//! Valid and invalid numbers are drawn at random and sorted by the
//! validators in `validate::national`; those are tested against published
//! examples, so this corpus measures the regexes (formats, separators,
//! context words, boundaries), not the arithmetic.

use super::gen::Rng;
use super::{Case, Span};
use crate::validate::national as v;

const DIGITS: &[u8] = b"0123456789";
const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// One random candidate of country `kind` (0..8), as it would be written,
/// and the span kind.
fn candidate(rng: &mut Rng, kind: usize) -> (String, &'static str) {
    let d = |rng: &mut Rng, n: usize| rng.string(DIGITS, n);
    match kind {
        0 => {
            let (p, n, s) = (rng.string(UPPER, 2), d(rng, 6), rng.string(b"ABCD", 1));
            let t = if rng.chance(0.5) {
                format!("{p} {} {} {} {s}", &n[..2], &n[2..4], &n[4..])
            } else {
                format!("{p}{n}{s}")
            };
            (t, "uk_nino")
        }
        1 => {
            let g = rng.range(50, 99);
            let (a, c) = (d(rng, 2), d(rng, 4));
            let sep = rng.pick(&["", " "]);
            (format!("9{a}{sep}{g:02}{sep}{c}"), "us_itin")
        }
        2 => {
            let n = format!("{}{}", rng.range(1, 9), d(rng, 10));
            let t = if rng.chance(0.4) { format!("{} {} {} {}", &n[..2], &n[2..5], &n[5..8], &n[8..]) } else { n };
            (t, "de_steuer_id")
        }
        3 => {
            let dept =
                if rng.chance(0.1) { rng.pick(&["2A", "2B"]).to_string() } else { format!("{:02}", rng.range(1, 95)) };
            let (sex, yy, mm) = (rng.range(1, 2), d(rng, 2), rng.range(1, 12));
            let (com, ord, key) = (d(rng, 3), d(rng, 3), d(rng, 2));
            let t = if rng.chance(0.5) {
                format!("{sex} {yy} {mm:02} {dept} {com} {ord} {key}")
            } else {
                format!("{sex}{yy}{mm:02}{dept}{com}{ord}{key}")
            };
            (t, "fr_nir")
        }
        4 => {
            let letter = rng.string(b"TRWAGMYFPDXBNJZSQVHLCKE", 1);
            let t = if rng.chance(0.3) {
                format!("{}{}{letter}", rng.pick(&["X", "Y", "Z"]), d(rng, 7))
            } else {
                format!("{}{}{letter}", d(rng, 8), rng.pick(&["", "-"]))
            };
            (t, "es_dni")
        }
        5 => {
            let t = format!(
                "{}{}{}{:02}{}{}{}",
                rng.string(UPPER, 6),
                d(rng, 2),
                rng.string(b"ABCDEHLMPRST", 1),
                rng.range(1, 71),
                rng.string(UPPER, 1),
                d(rng, 3),
                rng.string(UPPER, 1)
            );
            (t, "it_codice_fiscale")
        }
        6 => {
            let n = d(rng, 9);
            let t = if rng.chance(0.3) { format!("{}.{}.{}", &n[..4], &n[4..6], &n[6..]) } else { n };
            (t, "nl_bsn")
        }
        _ => {
            let n = format!("{}{}", rng.range(2, 9), d(rng, 11));
            let t = if rng.chance(0.6) { format!("{} {} {}", &n[..4], &n[4..8], &n[8..]) } else { n };
            (t, "in_aadhaar")
        }
    }
}

fn valid(kind: &str, s: &str) -> bool {
    let b = s.as_bytes();
    match kind {
        "uk_nino" => v::uk_nino(b),
        "us_itin" => v::us_itin(b),
        "de_steuer_id" => v::de_steuer_id(b),
        "fr_nir" => v::fr_nir(b),
        "es_dni" => v::es_dni(b),
        "it_codice_fiscale" => v::it_codice_fiscale(b),
        "nl_bsn" => v::nl_bsn(b),
        _ => v::aadhaar(b),
    }
}

/// The naming phrases a form, a letter or a record puts before the number.
fn phrase(rng: &mut Rng, kind: &str) -> &'static str {
    match kind {
        "uk_nino" => rng.pick(&["National Insurance number: ", "NI No. ", "nino=", "NINO: "]),
        "us_itin" => rng.pick(&["ITIN: ", "Taxpayer ID (ITIN) ", "itin="]),
        "de_steuer_id" => rng.pick(&["Steuer-ID: ", "Steuerliche Identifikationsnummer ", "steuer_id=", "IdNr. "]),
        "fr_nir" => rng.pick(&["N° de sécurité sociale : ", "NIR ", "numero_secu="]),
        "es_dni" => rng.pick(&["DNI: ", "NIE ", "dni="]),
        "it_codice_fiscale" => rng.pick(&["Codice fiscale: ", "C.F. ", "cf="]),
        "nl_bsn" => rng.pick(&["BSN: ", "Burgerservicenummer ", "bsn="]),
        _ => rng.pick(&["Aadhaar: ", "Aadhaar No. ", "aadhaar_number="]),
    }
}

/// `n` positives (group `national`, spans of the country's kind) and `n`
/// near-miss negatives (group `negative/national`) from `seed`.
pub fn national_ids(seed: u64, n: usize) -> Vec<Case> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(2 * n);
    for i in 0..2 * n {
        let want_valid = i % 2 == 0;
        let kind = (i / 2) % 8;
        let (id, span_kind) = loop {
            let (t, k) = candidate(&mut rng, kind);
            if valid(k, &t) == want_valid {
                break (t, k);
            }
        };
        let p = phrase(&mut rng, span_kind);
        let (before, after) = match rng.below(3) {
            0 => (format!("Name: Jane Doe\n{p}"), "\n".to_string()),
            1 => (format!("\"{}\": \"", p.trim_end_matches([' ', ':', '=', '.'])), "\"".to_string()),
            _ => (format!("Please update {p}"), " before Friday.".to_string()),
        };
        let text = format!("{before}{id}{after}");
        if want_valid {
            let span = Span { start: before.len(), end: before.len() + id.len(), kind: span_kind.to_string() };
            out.push(Case { text, spans: vec![span], group: "national".into(), ..Case::default() });
        } else {
            out.push(Case { text, group: "negative/national".into(), ..Case::default() });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positives_validate_and_negatives_do_not() {
        let cases = national_ids(3, 80);
        assert_eq!(cases.len(), 160);
        for c in &cases {
            if let Some(s) = c.spans.first() {
                assert!(valid(&s.kind, &c.text[s.start..s.end]), "{c:?}");
            }
        }
        assert_eq!(cases.iter().filter(|c| c.is_negative()).count(), 80);
    }
}
