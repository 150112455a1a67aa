//! A detector component as the redaction engine's fifth layer.

use std::sync::Arc;

use warden_redact::{Finding, Layer};

use crate::bindings::detector::{Detector, DetectorPre};
use crate::error::{FailureKind, LoadError, PluginError};
use crate::host::{failure, LoadedComponent, PluginHost, StoreState, World};
use crate::limits::Limits;

/// A detector plugin: a pre-instantiated component plus its limits.
///
/// Each call gets a fresh instance from the pool, so no state survives from
/// one text to the next, and a plugin that broke its limits last time starts
/// clean.
pub struct DetectorPlugin {
    host: PluginHost,
    name: String,
    rule: Arc<str>,
    pre: DetectorPre<StoreState>,
    limits: Limits,
}

impl std::fmt::Debug for DetectorPlugin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DetectorPlugin").field("name", &self.name).field("limits", &self.limits).finish()
    }
}

impl DetectorPlugin {
    /// Pre-instantiate a loaded detector component.
    pub fn new(host: &PluginHost, loaded: &LoadedComponent, limits: Limits) -> Result<DetectorPlugin, LoadError> {
        if loaded.world != World::Detector {
            return Err(LoadError::World { name: loaded.name.clone(), msg: "is a classifier, not a detector".into() });
        }
        let invalid = |e: wasmtime::Error| LoadError::Invalid { name: loaded.name.clone(), msg: format!("{e:#}") };
        let instance_pre = host.linker(loaded).and_then(|l| l.instantiate_pre(&loaded.component)).map_err(invalid)?;
        let pre = DetectorPre::new(instance_pre).map_err(invalid)?;
        Ok(DetectorPlugin {
            host: host.clone(),
            name: loaded.name.clone(),
            rule: Arc::from(format!("plugin:{}", loaded.name)),
            pre,
            limits,
        })
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Run the plugin once on `text` and check what it returns. Failures are
    /// counted and logged (without the text) and returned as errors; whether
    /// to fail closed is the caller's choice (see the [`warden_redact::Detector`]
    /// impl, which honours `observe_only`).
    pub fn call(&self, text: &str) -> Result<Vec<Finding>, PluginError> {
        let result = self.call_unrecorded(text);
        if let Err(e) = &result {
            self.host.stats().record(e);
            tracing::warn!(plugin = %self.name, kind = e.kind.as_str(), detail = %e.detail, input_len = text.len(), "detector plugin failed");
        }
        result
    }

    /// An instance kept for several texts of one request (a batch), so the
    /// instantiation is paid once. Limits apply per call: fuel and the
    /// deadline are reset before each. The guest may keep state between the
    /// calls of one warm instance, never across instances.
    pub fn warm(&self) -> Result<WarmDetector<'_>, PluginError> {
        let mut store = self.host.store(&self.limits).map_err(|d| self.fail(FailureKind::Instantiate, d))?;
        let instance = self.pre.instantiate(&mut store).map_err(|e| failure(&self.name, &e, true))?;
        Ok(WarmDetector { plugin: self, store, instance })
    }

    fn fail(&self, kind: FailureKind, detail: String) -> PluginError {
        PluginError { plugin: self.name.clone(), kind, detail }
    }

    fn call_unrecorded(&self, text: &str) -> Result<Vec<Finding>, PluginError> {
        self.check_input(text)?;
        let mut store = self.host.store(&self.limits).map_err(|d| self.fail(FailureKind::Instantiate, d))?;
        let instance: Detector = self.pre.instantiate(&mut store).map_err(|e| failure(&self.name, &e, true))?;
        self.run(&mut store, &instance, text)
    }

    /// The call itself on a ready instance, and the check of its result.
    fn run(
        &self,
        store: &mut wasmtime::Store<StoreState>,
        instance: &Detector,
        text: &str,
    ) -> Result<Vec<Finding>, PluginError> {
        let out = instance.call_detect(store, text).map_err(|e| failure(&self.name, &e, false))?;
        let found = out.map_err(|msg| self.fail(FailureKind::PluginError, truncate(msg)))?;
        self.validate(text, found)
    }

    fn check_input(&self, text: &str) -> Result<(), PluginError> {
        if text.len() > self.limits.max_input {
            return Err(
                self.fail(FailureKind::InputTooLarge, format!("{} bytes > {}", text.len(), self.limits.max_input))
            );
        }
        Ok(())
    }

    fn validate(
        &self,
        text: &str,
        found: Vec<crate::bindings::detector::warden::plugin::types::Finding>,
    ) -> Result<Vec<Finding>, PluginError> {
        let invalid = |d: String| self.fail(FailureKind::InvalidResult, d);
        if found.len() > self.limits.max_findings {
            return Err(invalid(format!("{} findings > {}", found.len(), self.limits.max_findings)));
        }
        let mut out = Vec::with_capacity(found.len());
        for f in found {
            let (s, e) = (f.start as usize, f.end as usize);
            if s >= e || e > text.len() {
                return Err(invalid(format!("span {s}..{e} is empty or outside the {}-byte input", text.len())));
            }
            if !text.is_char_boundary(s) || !text.is_char_boundary(e) {
                return Err(invalid(format!("span {s}..{e} cuts a UTF-8 character")));
            }
            if e - s > self.limits.max_finding_len {
                return Err(invalid(format!("finding of {} bytes > {}", e - s, self.limits.max_finding_len)));
            }
            if !warden_redact::valid_label(&f.label)
                || (!self.limits.labels.is_empty() && !self.limits.labels.contains(&f.label))
            {
                return Err(invalid(format!("label {:?} is not allowed", truncate(f.label))));
            }
            if !(0.0..=1.0).contains(&f.confidence) {
                return Err(invalid(format!("confidence {} is not between 0 and 1", f.confidence)));
            }
            out.push(Finding {
                start: s,
                end: e,
                layer: Layer::Plugin,
                rule: self.rule.clone(),
                label: Arc::from(f.label),
                priority: self.limits.priority,
            });
        }
        Ok(out)
    }
}

/// A detector instance reused for a batch; see [`DetectorPlugin::warm`].
pub struct WarmDetector<'a> {
    plugin: &'a DetectorPlugin,
    store: wasmtime::Store<StoreState>,
    instance: Detector,
}

impl WarmDetector<'_> {
    /// Run on one text, with fresh fuel and deadline. After a failure the
    /// instance is poisoned: make a new one.
    pub fn detect(&mut self, text: &str) -> Result<Vec<Finding>, PluginError> {
        let p = self.plugin;
        p.check_input(text)?;
        p.host.reset(&mut self.store, &p.limits).map_err(|d| p.fail(FailureKind::Instantiate, d))?;
        p.run(&mut self.store, &self.instance, text)
    }
}

fn truncate(mut s: String) -> String {
    if s.len() > 200 {
        let mut cut = 200;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}

impl warden_redact::Detector for DetectorPlugin {
    fn name(&self) -> &str {
        &self.name
    }

    fn max_len(&self) -> usize {
        self.limits.max_finding_len
    }

    fn detect(&self, text: &str) -> Result<Vec<Finding>, String> {
        match self.call(text) {
            Ok(found) => Ok(found),
            Err(_) if self.limits.observe_only => Ok(Vec::new()),
            Err(e) => Err(e.to_string()),
        }
    }
}
