//! A classifier component for the tool-call gate.

use crate::bindings::classifier::warden::plugin::types as wit;
use crate::bindings::classifier::{Classifier, ClassifierPre};
use crate::error::{FailureKind, LoadError, PluginError};
use crate::host::{failure, LoadedComponent, PluginHost, StoreState, World};
use crate::limits::Limits;

pub use warden_domain::Tier;

/// The WIT mirror of [`Tier`] becomes the domain type here, at the plugin
/// boundary, and nowhere else.
fn tier_from_wit(t: wit::Tier) -> Tier {
    match t {
        wit::Tier::Green => Tier::Green,
        wit::Tier::Yellow => Tier::Yellow,
        wit::Tier::YellowExternal => Tier::YellowExternal,
        wit::Tier::Red => Tier::Red,
        wit::Tier::CriticalRed => Tier::CriticalRed,
    }
}

/// A tool call to classify.
#[derive(Clone, Debug)]
pub struct ToolCall {
    /// The tool's name.
    pub tool_name: String,
    /// Its arguments, as a JSON document.
    pub arguments: String,
    /// The agent that made it.
    pub agent_id: String,
}

/// A classifier's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Classification {
    /// The tier.
    pub tier: Tier,
    /// Why, for the human approver.
    pub reason: String,
}

/// A classifier plugin: a pre-instantiated component plus its limits.
pub struct ClassifierPlugin {
    host: PluginHost,
    name: String,
    pre: ClassifierPre<StoreState>,
    limits: Limits,
}

impl std::fmt::Debug for ClassifierPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClassifierPlugin").field("name", &self.name).finish()
    }
}

/// The longest reason kept; a longer one is an invalid result.
const MAX_REASON: usize = 1024;

impl ClassifierPlugin {
    /// Pre-instantiate a loaded classifier component.
    pub fn new(host: &PluginHost, loaded: &LoadedComponent, limits: Limits) -> Result<ClassifierPlugin, LoadError> {
        if loaded.world != World::Classifier {
            return Err(LoadError::World { name: loaded.name.clone(), msg: "is a detector, not a classifier".into() });
        }
        let invalid = |e: wasmtime::Error| LoadError::Invalid { name: loaded.name.clone(), msg: format!("{e:#}") };
        let instance_pre = host.linker(loaded).and_then(|l| l.instantiate_pre(&loaded.component)).map_err(invalid)?;
        let pre = ClassifierPre::new(instance_pre).map_err(invalid)?;
        Ok(ClassifierPlugin { host: host.clone(), name: loaded.name.clone(), pre, limits })
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Classify one call. On any failure the caller must treat the call as
    /// needing approval (fail closed); failures are counted and logged
    /// without the arguments.
    pub fn classify(&self, call: &ToolCall) -> Result<Classification, PluginError> {
        let result = self.classify_unrecorded(call);
        if let Err(e) = &result {
            self.host.stats().record(e);
            tracing::warn!(plugin = %self.name, kind = e.kind.as_str(), detail = %e.detail, tool = %call.tool_name, "classifier plugin failed");
        }
        result
    }

    fn classify_unrecorded(&self, call: &ToolCall) -> Result<Classification, PluginError> {
        let fail = |kind, detail| PluginError { plugin: self.name.clone(), kind, detail };
        let size = call.arguments.len() + call.tool_name.len() + call.agent_id.len();
        if size > self.limits.max_input {
            return Err(fail(FailureKind::InputTooLarge, format!("{size} bytes > {}", self.limits.max_input)));
        }
        let mut store = self.host.store(&self.limits).map_err(|d| fail(FailureKind::Instantiate, d))?;
        let instance: Classifier = self.pre.instantiate(&mut store).map_err(|e| failure(&self.name, &e, true))?;
        let arg = wit::ToolCall {
            tool_name: call.tool_name.clone(),
            arguments: call.arguments.clone(),
            agent_id: call.agent_id.clone(),
        };
        let out = instance.call_classify(&mut store, &arg).map_err(|e| failure(&self.name, &e, false))?;
        let v = out.map_err(|msg| fail(FailureKind::PluginError, msg.chars().take(200).collect()))?;
        if v.reason.len() > MAX_REASON {
            return Err(fail(FailureKind::InvalidResult, format!("reason of {} bytes > {MAX_REASON}", v.reason.len())));
        }
        Ok(Classification { tier: tier_from_wit(v.tier), reason: v.reason })
    }
}
