//! The entropy layer: long tokens that look random.
//!
//! A token is a maximal run of base64/URL-safe characters (`A-Z a-z 0-9 + /
//! _ -`) and up to two `=` of padding after it; an `=` elsewhere separates, so
//! `NAME=value` is two tokens. Runs of `min_len..=max_len` bytes that contain both a letter and a
//! digit and reach `min_bits` bits per character are reported. Hex strings
//! (git SHAs, digests) top out at 4 bits per character and so never reach the
//! 4.5 default; base64 digests are allowed by the prefix that names them.

use std::sync::Arc;

use crate::rule::EntropyConfig;
use crate::validate::shannon_entropy;
use crate::{Error, Finding, Layer};

pub(crate) const ENTROPY_PRIORITY: i32 = 10;

#[derive(Clone, Debug)]
pub(crate) struct EntropyLayer {
    min_len: usize,
    max_len: usize,
    min_bits: f64,
    allow_prefixes: Vec<Vec<u8>>,
    rule: Arc<str>,
    label: Arc<str>,
}

const fn token_table() -> [bool; 256] {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'_' | b'-');
        i += 1;
    }
    t
}

static TOKEN: [bool; 256] = token_table();

/// Extend a token ending at `b` over up to two `=` of base64 padding.
fn with_padding(text: &[u8], mut b: usize) -> usize {
    for _ in 0..2 {
        if b < text.len() && text[b] == b'=' {
            b += 1;
        }
    }
    b
}

impl EntropyLayer {
    pub(crate) fn new(cfg: &EntropyConfig) -> Result<EntropyLayer, Error> {
        if cfg.min_len < 8 || cfg.max_len < cfg.min_len {
            return Err(Error::config(
                "entropy",
                format!("need 8 <= min_len <= max_len, got min_len {} and max_len {}", cfg.min_len, cfg.max_len),
            ));
        }
        if !(0.0..=8.0).contains(&cfg.min_bits) {
            return Err(Error::config("entropy", format!("min_bits must be between 0 and 8, got {}", cfg.min_bits)));
        }
        Ok(EntropyLayer {
            min_len: cfg.min_len,
            max_len: cfg.max_len,
            min_bits: cfg.min_bits,
            allow_prefixes: cfg.allow_prefixes.iter().map(|p| p.as_bytes().to_vec()).collect(),
            rule: Arc::from("entropy"),
            label: Arc::from("SECRET"),
        })
    }

    /// Context this layer needs on each side of a finding.
    pub(crate) fn max_len(&self) -> usize {
        self.max_len + 1
    }

    pub(crate) fn find(&self, text: &[u8], out: &mut Vec<Finding>) {
        let n = text.len();
        // A token counts its `=` padding (up to two bytes) in its length, so
        // the shortest one holds `min_len - 2` token bytes (found by fuzzing:
        // a 31-byte run and one `=` was missed with a stride of `min_len`).
        let step = self.min_len - 2;
        // PERF: any run of `step` token bytes contains a position that is a
        // multiple of `step` past the last run's end, so we probe one byte
        // per `step` and only walk the runs we land in. Ordinary prose and
        // code have short runs (words), so most probes cost one lookup.
        let mut floor = 0; // no run starts before this
        let mut i = step - 1;
        while i < n {
            if !TOKEN[text[i] as usize] {
                i += step;
                continue;
            }
            let mut a = i;
            while a > floor && TOKEN[text[a - 1] as usize] {
                a -= 1;
            }
            let mut b = i + 1;
            while b < n && TOKEN[text[b] as usize] {
                b += 1;
            }
            b = with_padding(text, b);
            let len = b - a;
            if len >= self.min_len && len <= self.max_len {
                self.score(text, a, b, out);
            }
            floor = b;
            i = b + step;
        }
    }

    /// Every maximal run, found by looking at every byte.
    pub(crate) fn find_naive(&self, text: &[u8], out: &mut Vec<Finding>) {
        let mut i = 0;
        while i < text.len() {
            if !TOKEN[text[i] as usize] {
                i += 1;
                continue;
            }
            let a = i;
            while i < text.len() && TOKEN[text[i] as usize] {
                i += 1;
            }
            i = with_padding(text, i);
            if (self.min_len..=self.max_len).contains(&(i - a)) {
                self.score(text, a, i, out);
            }
        }
    }

    fn score(&self, text: &[u8], a: usize, b: usize, out: &mut Vec<Finding>) {
        let tok = &text[a..b];
        let has_digit = tok.iter().any(u8::is_ascii_digit);
        let has_alpha = tok.iter().any(u8::is_ascii_alphabetic);
        if !has_digit || !has_alpha {
            return;
        }
        // The prefix may sit just before the token or, being made of token
        // bytes itself (`sha512-`), at its start.
        if self.allow_prefixes.iter().any(|p| text[..a].ends_with(p) || tok.starts_with(p)) {
            return;
        }
        if shannon_entropy(tok) < self.min_bits {
            return;
        }
        out.push(Finding {
            start: a,
            end: b,
            layer: Layer::Entropy,
            rule: self.rule.clone(),
            label: self.label.clone(),
            priority: ENTROPY_PRIORITY,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find(text: &str) -> Vec<(usize, usize)> {
        let layer = EntropyLayer::new(&EntropyConfig::default()).unwrap();
        let mut out = Vec::new();
        layer.find(text.as_bytes(), &mut out);
        out.iter().map(|f| (f.start, f.end)).collect()
    }

    /// Found by fuzzing: a token of `min_len - 1` bytes and one `=` is
    /// `min_len` long, and the strided probe must not step over it.
    #[test]
    fn padding_counts_toward_the_length_in_the_fast_path_too() {
        let layer = EntropyLayer::new(&EntropyConfig::default()).unwrap();
        for pad in ["=", "=="] {
            let tok = &"on-qLmZ8vB4nK9tY1wE5uI3oP6aS0enX"[..32 - pad.len()];
            for pre in 0..40 {
                let text = format!("{}\n{tok}{pad}Abcd12 tail", "a ".repeat(pre));
                let (mut fast, mut naive) = (Vec::new(), Vec::new());
                layer.find(text.as_bytes(), &mut fast);
                layer.find_naive(text.as_bytes(), &mut naive);
                let spans = |v: &[Finding]| v.iter().map(|f| (f.start, f.end)).collect::<Vec<_>>();
                assert_eq!(spans(&fast), spans(&naive), "{text:?}");
                assert_eq!(naive.len(), 1, "{text:?}");
            }
        }
    }

    #[test]
    fn finds_random_tokens_anywhere() {
        let tok = "x9Kq2LmZ8vB4nR7tY1wE5uI3oP6aS0dFgH";
        for pre in ["", " ", "key: ", "0123456789012345678901234567890 "] {
            let text = format!("{pre}{tok} tail");
            assert_eq!(find(&text), vec![(pre.len(), pre.len() + tok.len())], "{text:?}");
        }
    }

    #[test]
    fn an_assignment_is_not_one_token_but_padding_is_kept() {
        let tok = "x9Kq2LmZ8vB4nR7tY1wE5uI3oP6aS0dFgH";
        let text = format!("SOME_LONG_VARIABLE_NAME_1234={tok}== end");
        let start = text.find(tok).unwrap();
        assert_eq!(find(&text), vec![(start, start + tok.len() + 2)]);
    }

    #[test]
    fn ignores_hex_words_and_allowed_digests() {
        assert!(find("commit 9fceb02d0ae598e95dc970b74767f19372d61af8a7c3b1e2").is_empty());
        assert!(find("a_very_long_identifier_name_without_any_digits_at_all").is_empty());
        assert!(find("\"integrity\": \"sha512-x9Kq2LmZ8vB4nR7tY1wE5uI3oP6aS0dFgH==\"").is_empty());
    }
}
