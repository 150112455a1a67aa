//! The keyword prefilter: every occurrence of every keyword, ASCII
//! case-insensitively, without a lowercased copy of the text and without a
//! byte-at-a-time automaton.
//!
//! Each keyword is represented by one of its 3-byte substrings, its
//! *gram*, chosen to be rare in ordinary text (by a byte-frequency rank). A
//! keyword occurrence always contains its gram at a known offset, so a scan
//! that finds every gram occurrence finds every keyword occurrence.
//!
//! The scan folds each 3-byte window with `| 0x20` (which maps both cases of
//! a letter to one value; other bytes may collide, which only adds
//! candidates) and tests a hash of it against a bitset that fits in L1. The
//! loop carries no dependency from one position to the next, unlike an
//! automaton's state, so it runs at several times the speed of a DFA. A set
//! bit is a candidate: the exact gram is looked up and each keyword with that
//! gram is compared in place, case-insensitively.
//!
//! Unlike a leftmost-first automaton, every occurrence is reported, the
//! overlapping ones included; a keyword inside a longer one is found on its
//! own.

/// Bits of the gram hash: a 64 Ki-bit (8 KiB) table. A few hundred grams
/// set well under 1% of it, so false candidates are rare.
const HASH_BITS: u32 = 16;

/// Keywords of three bytes or more, found by their grams.
#[derive(Debug)]
pub(crate) struct Prefilter {
    bits: Box<[u64; 1 << (HASH_BITS - 6)]>,
    /// Hash -> its range of `entries` (`starts[h]..starts[h + 1]`).
    starts: Box<[u32]>,
    /// (exact lowercase gram, keyword, offset of the gram in it), by hash.
    entries: Box<[([u8; 3], u32, u32)]>,
    /// Lowercase keywords.
    keywords: Vec<Box<[u8]>>,
}

#[inline(always)]
fn fold(w: &[u8]) -> u32 {
    (w[0] as u32 | (w[1] as u32) << 8 | (w[2] as u32) << 16) | 0x0020_2020
}

#[inline(always)]
fn hash(folded: u32) -> usize {
    (folded.wrapping_mul(0x9E37_79B1) >> (32 - HASH_BITS)) as usize
}

/// How common a byte is in text (higher: more common). Letters by their
/// English frequency, punctuation of code in between.
fn commonness(b: u8) -> u32 {
    const LETTERS: &[u8] = b"zqjxkvbpgwyfmculdhrsnioate";
    match b.to_ascii_lowercase() {
        c @ b'a'..=b'z' => 1 + LETTERS.iter().position(|&l| l == c).unwrap_or(0) as u32,
        b'0'..=b'9' => 12,
        b'_' | b'.' => 14,
        b'-' | b'/' | b'=' | b':' => 10,
        _ => 4,
    }
}

impl Prefilter {
    /// A prefilter over `keywords` (each 3 bytes or more, ASCII; matched
    /// case-insensitively). Keyword `i` is reported as `i`.
    pub(crate) fn new(keywords: &[String]) -> Prefilter {
        let mut bits = Box::new([0u64; 1 << (HASH_BITS - 6)]);
        let mut entries: Vec<(usize, [u8; 3], u32, u32)> = Vec::new();
        let mut kws = Vec::with_capacity(keywords.len());
        for (i, kw) in keywords.iter().enumerate() {
            let kw = kw.to_ascii_lowercase().into_bytes();
            assert!(kw.len() >= 3, "prefilter keywords are 3 bytes or more");
            let (off, gram) = kw
                .windows(3)
                .enumerate()
                .min_by_key(|(_, w)| w.iter().map(|&b| commonness(b)).sum::<u32>())
                .expect("3 bytes or more");
            let gram: [u8; 3] = gram.try_into().expect("a window of 3");
            let h = hash(fold(&gram));
            bits[h >> 6] |= 1 << (h & 63);
            entries.push((h, gram, i as u32, off as u32));
            kws.push(kw.into_boxed_slice());
        }
        entries.sort_unstable();
        let mut starts = vec![0u32; (1 << HASH_BITS) + 1].into_boxed_slice();
        for &(h, ..) in &entries {
            starts[h + 1] += 1;
        }
        for h in 0..1 << HASH_BITS {
            starts[h + 1] += starts[h];
        }
        let entries = entries.into_iter().map(|(_, g, k, off)| (g, k, off)).collect();
        Prefilter { bits, starts, entries, keywords: kws }
    }

    /// Length of keyword `k`.
    pub(crate) fn keyword_len(&self, k: u32) -> usize {
        self.keywords[k as usize].len()
    }

    /// Calls `hit(keyword, start)` for every occurrence of every keyword,
    /// in order of the gram's position (not strictly of `start`).
    #[inline]
    pub(crate) fn find(&self, text: &[u8], mut hit: impl FnMut(u32, usize)) {
        let bits = &*self.bits;
        for (i, w) in text.windows(3).enumerate() {
            let h = hash(fold(w));
            if bits[h >> 6] >> (h & 63) & 1 != 0 {
                self.verify(text, i, h, &mut hit);
            }
        }
    }

    #[inline(never)]
    fn verify(&self, text: &[u8], at: usize, h: usize, hit: &mut impl FnMut(u32, usize)) {
        let g = [text[at].to_ascii_lowercase(), text[at + 1].to_ascii_lowercase(), text[at + 2].to_ascii_lowercase()];
        let (a, b) = (self.starts[h] as usize, self.starts[h + 1] as usize);
        for &(gram, k, off) in &self.entries[a..b] {
            if gram != g {
                continue;
            }
            let kw = &self.keywords[k as usize];
            let Some(start) = at.checked_sub(off as usize) else { continue };
            if text.get(start..start + kw.len()).is_some_and(|s| s.eq_ignore_ascii_case(kw)) {
                hit(k, start);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(kws: &[&str], text: &str) -> Vec<(u32, usize)> {
        let p = Prefilter::new(&kws.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let mut out = Vec::new();
        p.find(text.as_bytes(), |k, s| out.push((k, s)));
        out.sort();
        out
    }

    #[test]
    fn finds_every_occurrence_in_any_case_overlaps_included() {
        let kws = ["password", "pass", "secret", "sk-ant-", "sk-"];
        let text = "PassWord passecret SK-ANT-x sk-y";
        let mut want = Vec::new();
        let lower = text.to_ascii_lowercase();
        for (k, kw) in kws.iter().enumerate() {
            for (i, _) in lower.match_indices(kw) {
                want.push((k as u32, i));
            }
        }
        want.sort();
        assert_eq!(all(&kws, text), want);
        assert!(want.len() >= 7, "{want:?}");
    }

    #[test]
    fn keywords_at_both_edges() {
        assert_eq!(all(&["abc", "xyz"], "abcxyz"), vec![(0, 0), (1, 3)]);
        assert!(all(&["abc"], "ab").is_empty());
    }
}
