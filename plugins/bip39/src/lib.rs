//! Detects BIP-39 wallet seed phrases: 12, 15, 18, 21 or 24 consecutive
//! words from the 2048-word English list whose built-in checksum verifies.
//!
//! Regular expressions do this badly: the word list is too large for a
//! useful pattern, and without the checksum, any run of ordinary list words
//! ("about above across act...") would count. Here a run is a candidate only
//! when every word is on the list, and it is reported only when the last
//! bits of the last word match the SHA-256 of the entropy the words encode.
//! For a random 12-word run that happens one time in 16, for 24 words one
//! time in 256.
#![no_std]

extern crate alloc;

mod scan;

use warden_plugin_sdk::{DetectorPlugin, Finding, String, ToString, Vec};

struct Bip39;

impl DetectorPlugin for Bip39 {
    fn detect(text: String) -> Result<Vec<Finding>, String> {
        Ok(scan::find(&text)
            .into_iter()
            .map(|(start, end, words)| Finding {
                start: start as u32,
                end: end as u32,
                label: "SEED_PHRASE".to_string(),
                confidence: if words >= 15 { 0.999 } else { 0.94 },
            })
            .collect())
    }
}

warden_plugin_sdk::export_detector!(Bip39);
