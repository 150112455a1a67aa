//! The gate's view of the policy in force: [`warden_gate::Policy`] over the
//! active bundle, and [`warden_gate::Observer`] over the metrics.

use std::sync::Arc;

use warden_domain::Tier;
use warden_gate::{Call, GateError, Verdict};
use warden_redact::{Engine, Finding};

use crate::egress::EgressContext;
use crate::metrics::Metrics;
use crate::policy::Activator;

/// Judges calls with the active policy and redacts with its engine plus the
/// vault's values, both from one snapshot.
pub struct ActivePolicy {
    activator: Arc<Activator>,
    egress: Arc<EgressContext>,
}

impl ActivePolicy {
    /// Over the activator's policy and the egress context's vault view.
    pub fn new(activator: Arc<Activator>, egress: Arc<EgressContext>) -> ActivePolicy {
        ActivePolicy { activator, egress }
    }
}

impl warden_gate::Policy for ActivePolicy {
    fn judge(&self, call: &Call) -> Result<(Verdict, Engine), GateError> {
        let policy = self.activator.current();
        let engine = self.egress.engine_of(&policy).map_err(|e| GateError::unavailable(e.to_string()))?;
        let v = policy.gate_call(&call.tool, call.canonical_args(), &call.agent_id);
        Ok((Verdict { tier: v.tier, decision: v.decision, reason: v.reason }, engine))
    }
}

impl warden_gate::Observer for Metrics {
    fn findings(&self, findings: &[Finding]) {
        crate::egress::record_findings(self, findings);
    }

    fn decided(&self, tier: Tier, what: &str) {
        Metrics::decided(self, tier.as_str(), what);
    }
}
