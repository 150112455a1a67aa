//! Warden's plugin host: WebAssembly components as detectors and classifiers.
//!
//! Plugins implement a world of the `warden:plugin` WIT package (`wit/`). The
//! host compiles each component once (and caches the compiled code on disk,
//! keyed by the component's SHA-256 and the engine's compatibility hash),
//! pre-instantiates it, and gives every call a **fresh instance** from the
//! pooling allocator with hard limits:
//!
//! | limit | enforced by | on breach |
//! |---|---|---|
//! | CPU, deterministic | fuel | trap `OutOfFuel` |
//! | CPU, wall clock | epoch deadline (a ticker thread) | trap `Interrupt` |
//! | memory | `StoreLimits` | `memory.grow` traps |
//! | input size | checked before the call | refused |
//! | output | every finding checked: count, offsets inside the input and on UTF-8 boundaries, length, label from the allowed set | refused |
//!
//! Any breach, trap or plugin-reported error is a [`PluginError`]: counted,
//! logged without the input, and failing closed: a detector's caller
//! gets an error (the proxy refuses the request), a classifier's caller gets
//! an error (the gate asks a human). A plugin marked observe-only has its
//! failures counted and ignored instead.
//!
//! Plugins import nothing: the linker is empty, so a component that asks for
//! WASI, a clock or anything else fails to load.

mod cache;
mod classifier;
mod detector;
mod error;
mod host;
mod limits;

pub use cache::CodeCache;
pub use classifier::{Classification, ClassifierPlugin, Tier, ToolCall};
pub use detector::{DetectorPlugin, WarmDetector};
pub use error::{FailureKind, LoadError, PluginError};
pub use host::{ExportInfo, HostConfig, LoadedComponent, PluginHost, PluginStats, World};
pub use limits::Limits;

/// Host bindings generated from `wit/plugin.wit` by `wasmtime::component::bindgen!`.
pub mod bindings {
    /// The `detector` world.
    pub mod detector {
        wasmtime::component::bindgen!({ world: "detector", path: "../../wit" });
    }
    /// The `classifier` world.
    pub mod classifier {
        wasmtime::component::bindgen!({ world: "classifier", path: "../../wit" });
    }
}
