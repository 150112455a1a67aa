//! Plugin failures. None of them carries the input text.

/// Why a call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum FailureKind {
    /// The fuel budget ran out.
    Fuel,
    /// The wall-clock deadline passed.
    Timeout,
    /// Memory growth beyond the cap.
    Memory,
    /// Any other trap (`unreachable`, out-of-bounds access, a panic).
    Trap,
    /// The input was larger than the plugin accepts.
    InputTooLarge,
    /// The result broke a rule (offsets, count, label, length).
    InvalidResult,
    /// The plugin itself returned an error.
    PluginError,
    /// The instance could not be created (e.g. the pool is exhausted).
    Instantiate,
}

impl FailureKind {
    /// Name used in logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Fuel => "fuel",
            FailureKind::Timeout => "timeout",
            FailureKind::Memory => "memory",
            FailureKind::Trap => "trap",
            FailureKind::InputTooLarge => "input_too_large",
            FailureKind::InvalidResult => "invalid_result",
            FailureKind::PluginError => "plugin_error",
            FailureKind::Instantiate => "instantiate",
        }
    }
}

/// A failed plugin call.
#[derive(Clone, Debug, thiserror::Error)]
#[error("plugin {plugin}: {} ({detail})", kind.as_str())]
pub struct PluginError {
    /// The plugin's name.
    pub plugin: String,
    /// What kind of failure.
    pub kind: FailureKind,
    /// Details for the operator, never the input.
    pub detail: String,
}

/// A component that could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// Not a valid component, or it does not compile.
    #[error("{name}: not a loadable component: {msg}")]
    Invalid {
        /// The plugin's name.
        name: String,
        /// Why.
        msg: String,
    },
    /// It implements neither Warden world, or another one than expected.
    #[error("{name}: {msg}")]
    World {
        /// The plugin's name.
        name: String,
        /// What it exports instead.
        msg: String,
    },
    /// The code cache could not be used.
    #[error("plugin code cache {path}: {msg}")]
    Cache {
        /// The cache directory or file.
        path: String,
        /// Why.
        msg: String,
    },
}
