//! The fifth layer: detectors that live outside the engine (Wasm plugins).

use crate::Finding;

/// A detector the engine calls after its own layers.
///
/// A plugin host implements this for each detector component. The engine
/// validates what comes back (offsets inside the text, on UTF-8 boundaries)
/// and treats any error as fatal for the scan: the caller must then refuse to
/// forward the text (fail closed).
pub trait Detector: Send + Sync {
    /// Short name for findings, metrics and errors (e.g. the plugin id).
    fn name(&self) -> &str;

    /// The longest finding this detector can report, and the context it needs
    /// on each side. Bounds the streaming hold-back.
    fn max_len(&self) -> usize;

    /// Find sensitive spans in `text`. Findings must use `Layer::Plugin`.
    fn detect(&self, text: &str) -> Result<Vec<Finding>, String>;
}
