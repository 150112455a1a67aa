//! The smallest useful detector: reports each occurrence of the word
//! `hunter2`. It exists to measure the host's per-call overhead, so it does
//! as little as possible.
#![no_std]

use warden_plugin_sdk::{DetectorPlugin, Finding, String, ToString, Vec};

struct Trivial;

impl DetectorPlugin for Trivial {
    fn detect(text: String) -> Result<Vec<Finding>, String> {
        let needle = "hunter2";
        Ok(text
            .match_indices(needle)
            .map(|(i, _)| Finding {
                start: i as u32,
                end: (i + needle.len()) as u32,
                label: "PASSWORD".to_string(),
                confidence: 1.0,
            })
            .collect())
    }
}

warden_plugin_sdk::export_detector!(Trivial);
