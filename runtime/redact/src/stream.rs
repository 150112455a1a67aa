//! Redacting a body that arrives in chunks.
//!
//! Detection is local (see [`crate::engine`]): a finding depends only on the
//! bytes within [`Engine::max_len`] of it. So after each chunk everything but
//! the last `max_len` bytes can be released, unless a finding crosses that
//! point, in which case we release up to the finding's start. The released
//! text keeps `max_len` bytes of context for the next scan. The output equals
//! [`Engine::redact`] on the whole text; a property test checks that.

use crate::{Engine, Error, Session};

/// Bytes a redactor holds, beyond its reach, for one finding that has not
/// ended yet (a value under a sensitive JSON key whose closing quote has not
/// come). Past this the stream fails rather than leak or grow unbounded.
pub const MAX_HELD: usize = 1 << 20;

/// Redacts a stream of chunks; see the module docs.
#[derive(Debug)]
pub struct StreamRedactor {
    engine: Engine,
    /// Context already released, then pending bytes (maybe a cut character).
    buf: Vec<u8>,
    /// Bytes of `buf` already released.
    released: usize,
    /// Bytes dropped from the front of `buf` so far (for error offsets).
    dropped: usize,
    hold: usize,
}

impl StreamRedactor {
    /// A redactor using `engine`.
    pub fn new(engine: &Engine) -> StreamRedactor {
        StreamRedactor { engine: engine.clone(), buf: Vec::new(), released: 0, dropped: 0, hold: engine.max_len() }
    }

    /// Bytes held back at most: the engine's reach.
    pub fn hold_back(&self) -> usize {
        self.hold
    }

    /// Feed a chunk (which may end inside a UTF-8 character); returns the
    /// redacted text that can be released now.
    pub fn push(&mut self, chunk: &[u8], session: &mut Session) -> Result<String, Error> {
        self.buf.extend_from_slice(chunk);
        let valid = self.valid_prefix()?;
        if valid <= self.released + self.hold {
            return Ok(String::new());
        }
        // Safe: `valid_prefix` checked these bytes.
        let text = std::str::from_utf8(&self.buf[..valid]).expect("checked UTF-8");
        let findings = self.engine.find(text)?;
        let mut cut = valid - self.hold;
        for f in &findings {
            if f.start < cut && f.end > cut {
                cut = f.start;
            }
        }
        let cut = floor_char(text, cut.max(self.released));
        if valid - cut > self.hold + MAX_HELD {
            // A finding that never ends (a sensitive JSON value whose quote
            // never comes): releasing any of it would leak, holding it all
            // would grow without bound. Fail closed.
            return Err(Error::held_too_long(self.dropped + cut, MAX_HELD));
        }
        let out = self.release(text, &findings, cut, session);
        // Keep `hold` bytes of context before the cut.
        let keep_from = floor_char(text, cut.saturating_sub(self.hold));
        self.buf.drain(..keep_from);
        self.dropped += keep_from;
        self.released = cut - keep_from;
        Ok(out)
    }

    /// End of input: release the rest.
    pub fn finish(self, session: &mut Session) -> Result<String, Error> {
        let valid = self.valid_prefix()?;
        if valid != self.buf.len() {
            return Err(Error::utf8(self.dropped + valid));
        }
        let text = std::str::from_utf8(&self.buf).expect("checked UTF-8");
        let findings = self.engine.find(text)?;
        let out = self.release(text, &findings, text.len(), session);
        Ok(out)
    }

    /// Redacted text of `released..cut`.
    fn release(&self, text: &str, findings: &[crate::Finding], cut: usize, session: &mut Session) -> String {
        let mut out = String::with_capacity(cut - self.released);
        let mut at = self.released;
        for f in findings {
            if f.end <= at || f.start >= cut {
                continue;
            }
            // A finding reaching back into released text is cut at its edge:
            // what was released is gone, the rest must still be covered.
            let s = f.start.max(at);
            out.push_str(&text[at..s]);
            out.push_str(&session.placeholder(&f.label, &text[s..f.end.min(cut)], f.layer));
            at = f.end.min(cut);
        }
        out.push_str(&text[at..cut]);
        out
    }

    /// Length of the longest valid UTF-8 prefix of `buf`; an error if the
    /// bytes are invalid rather than merely cut short.
    fn valid_prefix(&self) -> Result<usize, Error> {
        match std::str::from_utf8(&self.buf[self.released..]) {
            Ok(_) => Ok(self.buf.len()),
            Err(e) if e.error_len().is_none() => Ok(self.released + e.valid_up_to()),
            Err(e) => Err(Error::utf8(self.dropped + self.released + e.valid_up_to())),
        }
    }
}

fn floor_char(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Engine, KeysConfig, Session};

    fn engine(max_value_len: usize) -> Engine {
        let keys = KeysConfig { max_value_len, ..KeysConfig::default() };
        Engine::builder().keys(keys).build().unwrap()
    }

    fn streamed(e: &Engine, text: &str, chunk: usize) -> Result<String, Error> {
        let mut s = e.stream();
        let mut session = Session::new();
        let mut out = String::new();
        for piece in text.as_bytes().chunks(chunk) {
            out.push_str(&s.push(piece, &mut session)?);
        }
        out.push_str(&s.finish(&mut session)?);
        Ok(out)
    }

    /// A value under a sensitive key longer than the redactor's reach is
    /// held until its quote comes and redacted whole, as in one piece.
    #[test]
    fn a_value_longer_than_the_reach_is_redacted_whole() {
        let e = engine(64);
        let secret = "s3cr3t-".repeat(500);
        let text = format!(r#"{{"a": "{}", "password": "{secret}", "b": "after"}}"#, "x".repeat(300));
        let whole = e.redact(&text, &mut Session::new()).unwrap().text;
        assert!(!whole.contains("s3cr3t"), "{whole}");
        for chunk in [1, 7, 100, 4096] {
            let out = streamed(&e, &text, chunk).unwrap();
            assert_eq!(out, whole, "chunk {chunk}");
        }
    }

    /// A value whose quote never comes fails the stream once it has held
    /// `MAX_HELD` bytes, releasing none of it.
    #[test]
    fn a_value_that_never_ends_fails_closed() {
        let e = engine(64);
        let text = format!(r#"{{"password": "{}"#, "s".repeat(MAX_HELD + 4096));
        let mut s = e.stream();
        let mut session = Session::new();
        let mut released = String::new();
        let mut failed = None;
        for piece in text.as_bytes().chunks(64 * 1024) {
            match s.push(piece, &mut session) {
                Ok(out) => released.push_str(&out),
                Err(err) => {
                    failed = Some(err);
                    break;
                }
            }
        }
        let err = failed.expect("the stream refuses an endless value");
        assert!(err.to_string().contains("has not ended"), "{err}");
        assert!(!released.contains("sss"), "released part of the value: {released}");
    }
}
