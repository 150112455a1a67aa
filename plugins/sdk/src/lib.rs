//! Warden plugin SDK for Rust guests.
//!
//! A plugin crate depends on this one, implements [`DetectorPlugin`] or
//! [`ClassifierPlugin`], and names its type in [`export_detector!`] or
//! [`export_classifier!`]. The SDK supplies everything else a `no_std`
//! WebAssembly component needs: the generated bindings for the WIT in
//! `wit/`, a global allocator, and a panic handler that traps (the host then
//! counts a plugin failure and fails closed).
//!
//! ```ignore
//! #![no_std]
//! use warden_plugin_sdk::{DetectorPlugin, Finding, String, Vec};
//!
//! struct Shout;
//! impl DetectorPlugin for Shout {
//!     fn detect(text: String) -> Result<Vec<Finding>, String> {
//!         Ok(Vec::new())
//!     }
//! }
//! warden_plugin_sdk::export_detector!(Shout);
//! ```
#![no_std]

extern crate alloc;

pub use alloc::{borrow::ToOwned, boxed::Box, format, string::String, string::ToString, vec, vec::Vec};

/// Bindings of the `detector` world (generated from `wit/plugin.wit`).
pub mod detector {
    wit_bindgen::generate!({
        world: "detector",
        path: "../../wit",
        pub_export_macro: true,
        export_macro_name: "export_detector_bindings",
        default_bindings_module: "warden_plugin_sdk::detector",
    });
}

/// Bindings of the `classifier` world (generated from `wit/plugin.wit`).
pub mod classifier {
    wit_bindgen::generate!({
        world: "classifier",
        path: "../../wit",
        pub_export_macro: true,
        export_macro_name: "export_classifier_bindings",
        default_bindings_module: "warden_plugin_sdk::classifier",
    });
}

/// A tool call to classify.
pub use classifier::warden::plugin::types::{Tier, ToolCall, Verdict};
/// A finding: byte offsets into the input, a label, a confidence.
pub use detector::warden::plugin::types::Finding;

/// What a classifier plugin implements.
pub use classifier::Guest as ClassifierPlugin;
/// What a detector plugin implements.
pub use detector::Guest as DetectorPlugin;

/// Export `$ty` (implementing [`DetectorPlugin`]) as this component's detector.
#[macro_export]
macro_rules! export_detector {
    ($ty:ident) => {
        $crate::detector::export_detector_bindings!($ty);
    };
}

/// Export `$ty` (implementing [`ClassifierPlugin`]) as this component's classifier.
#[macro_export]
macro_rules! export_classifier {
    ($ty:ident) => {
        $crate::classifier::export_classifier_bindings!($ty);
    };
}

// The runtime a no_std component needs. Only on wasm32: on the host (docs,
// `cargo check`) std provides both.
#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOC: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

#[cfg(all(target_arch = "wasm32", not(test)))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // A trap: the host sees a plugin failure and fails closed.
    core::arch::wasm32::unreachable()
}
