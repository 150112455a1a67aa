//! A deliberately hostile detector for testing the host's limits. What it
//! does depends on the input:
//!
//! | input | behaviour |
//! |---|---|
//! | `loop` | spins forever |
//! | `bomb` | allocates until memory runs out |
//! | `trap` | executes `unreachable` |
//! | `offsets` | returns a finding far outside the input |
//! | starts with `é` | returns a finding that cuts that character in two |
//! | `label` | returns a label that is not allowed |
//! | `huge` | returns 200,000 findings |
//! | `error` | returns an error |
//! | anything else | behaves: one finding over the whole input |
#![no_std]

use warden_plugin_sdk::{format, vec, DetectorPlugin, Finding, String, ToString, Vec};

struct Hostile;

fn finding(start: u32, end: u32, label: &str) -> Finding {
    Finding { start, end, label: label.to_string(), confidence: 0.5 }
}

impl DetectorPlugin for Hostile {
    fn detect(text: String) -> Result<Vec<Finding>, String> {
        match text.as_str() {
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = core::hint::black_box(n.wrapping_add(1));
                }
            }
            "bomb" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    core::hint::black_box(&hoard);
                }
            }
            "trap" => core::arch::wasm32::unreachable(),
            "offsets" => Ok(vec![finding(2, 10_000_000, "HOSTILE")]),
            t if t.starts_with('é') => Ok(vec![finding(1, 2, "HOSTILE")]),
            "label" => Ok(vec![finding(0, 1, "not a label!")]),
            "huge" => Ok((0..200_000).map(|_| finding(0, 1, "HOSTILE")).collect()),
            "error" => Err(format!("refusing input of {} bytes", text.len())),
            _ => Ok(vec![finding(0, text.len() as u32, "HOSTILE")]),
        }
    }
}

warden_plugin_sdk::export_detector!(Hostile);
