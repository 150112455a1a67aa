//! Vault values kept out of what comes back to the agent.
//!
//! A destination can reflect what it was sent (an echo service, a provider's
//! error message quoting the `Authorization` header, a stored value read
//! back). Every answer from the forward proxy and the gateway passes through
//! the vault's exact layer on its raw bytes, streamed or whole, before the
//! agent sees it: a vault value, in any of its registered forms, becomes
//! `[SECRET_NAME]`. Bytes need not be UTF-8 (downloads, images).

use std::borrow::Cow;

use bytes::Bytes;
use warden_redact::ExactSet;

/// Replace every vault value in `bytes`.
pub fn redact_bytes<'b>(set: &ExactSet, bytes: &'b [u8]) -> Cow<'b, [u8]> {
    let found = set.find_bytes(bytes);
    if found.is_empty() {
        return Cow::Borrowed(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    for (start, end, label) in found {
        out.extend_from_slice(&bytes[at..start]);
        out.extend_from_slice(format!("[{label}]").as_bytes());
        at = end;
    }
    out.extend_from_slice(&bytes[at..]);
    Cow::Owned(out)
}

/// The same over a stream of chunks: holds back fewer bytes than the
/// longest form, so a value cut between chunks is still caught; the output
/// equals [`redact_bytes`] over the whole.
pub struct ExactStream {
    set: ExactSet,
    buf: Vec<u8>,
    hold: usize,
}

impl ExactStream {
    /// A stream over `set`.
    pub fn new(set: ExactSet) -> ExactStream {
        let hold = set.max_len().saturating_sub(1);
        ExactStream { set, buf: Vec::new(), hold }
    }

    /// Feed a chunk; what can be released now.
    pub fn push(&mut self, chunk: &[u8]) -> Bytes {
        if self.set.is_empty() {
            return Bytes::copy_from_slice(chunk);
        }
        self.buf.extend_from_slice(chunk);
        if self.buf.len() <= self.hold {
            return Bytes::new();
        }
        let mut cut = self.buf.len() - self.hold;
        let found = self.set.find_bytes(&self.buf);
        for (start, end, _) in &found {
            if *start < cut && *end > cut {
                cut = *start;
            }
        }
        let mut out = Vec::with_capacity(cut);
        let mut at = 0;
        for (start, end, label) in found.iter().filter(|(_, e, _)| *e <= cut) {
            out.extend_from_slice(&self.buf[at..*start]);
            out.extend_from_slice(format!("[{label}]").as_bytes());
            at = *end;
        }
        out.extend_from_slice(&self.buf[at..cut]);
        self.buf.drain(..cut);
        Bytes::from(out)
    }

    /// End of the stream: the rest.
    pub fn finish(&mut self) -> Bytes {
        let rest = std::mem::take(&mut self.buf);
        Bytes::from(redact_bytes(&self.set, &rest).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_output_equals_whole_output_at_every_cut() {
        let set = ExactSet::new([("k", "s3cr3t-value"), ("o", "other-secret")]).unwrap();
        let text = b"a s3cr3t-value b s3cr3t%2Dvalue? c other-secret\xff\x00 s3cr3t-value";
        let whole = redact_bytes(&set, text).into_owned();
        assert!(!whole.windows(12).any(|w| w == b"s3cr3t-value"));
        for size in 1..text.len() {
            let mut s = ExactStream::new(set.clone());
            let mut out = Vec::new();
            for chunk in text.chunks(size) {
                out.extend_from_slice(&s.push(chunk));
            }
            out.extend_from_slice(&s.finish());
            assert_eq!(out, whole, "chunks of {size}");
        }
    }
}
