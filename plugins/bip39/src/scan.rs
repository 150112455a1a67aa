//! The scanner, free of any plugin plumbing: the plugin wraps it, and the
//! host's benchmark compiles this same file natively as its baseline.

use alloc::vec::Vec;
use bip39::Language;
use sha2::{Digest, Sha256};

/// Phrase lengths, longest first: a 24-word phrase is reported whole, not as
/// its 12-word prefix.
const LENGTHS: [usize; 5] = [24, 21, 18, 15, 12];

/// A word of the text and its index in the list, if it is on it.
struct Word {
    start: usize,
    end: usize,
    index: Option<u16>,
}

fn lookup(word: &[u8]) -> Option<u16> {
    if !(3..=8).contains(&word.len()) {
        return None;
    }
    let mut buf = [0u8; 8];
    for (d, s) in buf.iter_mut().zip(word) {
        *d = s.to_ascii_lowercase();
    }
    let w = core::str::from_utf8(&buf[..word.len()]).ok()?;
    Language::English.find_word(w)
}

fn words(text: &[u8]) -> Vec<Word> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < text.len() {
        if text[i].is_ascii_alphabetic() {
            let s = i;
            while i < text.len() && text[i].is_ascii_alphabetic() {
                i += 1;
            }
            out.push(Word { start: s, end: i, index: lookup(&text[s..i]) });
        } else {
            i += 1;
        }
    }
    out
}

/// Words of one phrase may be separated by blanks, commas, or the numbers of
/// a numbered list (`1. abandon 2. ability`), but not by prose.
fn separates(gap: &[u8]) -> bool {
    !gap.is_empty()
        && gap.len() <= 8
        && gap.iter().all(|b| b.is_ascii_whitespace() || b.is_ascii_digit() || b",.)-:".contains(b))
}

/// Whether `indices` (11 bits each) carry a valid checksum.
fn checksum_ok(indices: &[u16]) -> bool {
    let total_bits = indices.len() * 11;
    let cs_bits = total_bits / 33;
    let ent_bits = total_bits - cs_bits;
    let mut bits: Vec<bool> = Vec::with_capacity(total_bits);
    for &ix in indices {
        for b in (0..11).rev() {
            bits.push((ix >> b) & 1 == 1);
        }
    }
    let mut entropy = [0u8; 32];
    for (i, bit) in bits[..ent_bits].iter().enumerate() {
        if *bit {
            entropy[i / 8] |= 0x80 >> (i % 8);
        }
    }
    let hash = Sha256::digest(&entropy[..ent_bits / 8]);
    (0..cs_bits).all(|i| ((hash[i / 8] >> (7 - i % 8)) & 1 == 1) == bits[ent_bits + i])
}

/// Seed phrases in `text`: `(start, end, words)` byte spans.
pub fn find(text: &str) -> Vec<(usize, usize, usize)> {
    let bytes = text.as_bytes();
    let ws = words(bytes);
    // run[i]: how many list words follow one another from word i on.
    let mut run: Vec<usize> = alloc::vec![0; ws.len()];
    for i in (0..ws.len()).rev() {
        run[i] = match ws[i].index {
            None => 0,
            Some(_) if i + 1 < ws.len() && separates(&bytes[ws[i].end..ws[i + 1].start]) => run[i + 1] + 1,
            Some(_) => 1,
        };
    }
    let mut found = Vec::new();
    let mut i = 0;
    while i < ws.len() {
        let hit = LENGTHS.iter().copied().filter(|&n| n <= run[i]).find(|&n| {
            let idx: Vec<u16> = ws[i..i + n].iter().map(|w| w.index.unwrap_or(0)).collect();
            checksum_ok(&idx)
        });
        match hit {
            Some(n) => {
                found.push((ws[i].start, ws[i + n - 1].end, n));
                i += n;
            }
            None => i += 1,
        }
    }
    found
}
