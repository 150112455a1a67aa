//! Warden's vocabulary: the few domain values that travel from the policy
//! through the gate to the store and out through the APIs.
//!
//! Each has exactly one spelling on the wire and in the database (the
//! `as_str` form, which serde uses too) and one Rust type everywhere in
//! between, so nothing compares tiers or statuses as strings. The WIT mirror
//! of [`Tier`] (plugins' `tier` enum) is converted at the plugin boundary
//! only (`warden-plugin-host`).

#![deny(missing_docs)]

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Defines an enum with one canonical spelling per variant, used by serde,
/// `Display`, `FromStr` and the database alike.
macro_rules! spelled {
    ($(#[$m:meta])* pub enum $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal,)+ } what = $what:literal;) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name {
            $($(#[$vm])* #[serde(rename = $s)] $v,)+
        }

        impl $name {
            /// Every value, in order.
            pub const ALL: &'static [$name] = &[$($name::$v),+];

            /// The canonical spelling.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$v => $s,)+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;
            fn from_str(s: &str) -> Result<$name, UnknownValue> {
                match s {
                    $($s => Ok($name::$v),)+
                    _ => Err(UnknownValue { what: $what, expected: &[$($s),+] }),
                }
            }
        }
    };
}

spelled! {
    /// A tool call's risk. Ordered: a later tier is riskier, so "raise to at
    /// least" is `max`.
    #[derive(PartialOrd, Ord)]
    pub enum Tier {
        /// Read-only.
        Green = "GREEN",
        /// Changes the tenant's own state.
        Yellow = "YELLOW",
        /// Talks to the outside world on the tenant's behalf.
        YellowExternal = "YELLOW_EXTERNAL",
        /// Destructive.
        Red = "RED",
        /// Never without an explicit human decision.
        CriticalRed = "CRITICAL_RED",
    }
    what = "tier";
}

spelled! {
    /// What the gate does with a call.
    pub enum Decision {
        /// Run it.
        Execute = "execute",
        /// Refuse it.
        Deny = "deny",
        /// Hold it for a human.
        Gate = "gate",
    }
    what = "decision";
}

spelled! {
    /// Where an approval stands.
    pub enum ApprovalStatus {
        /// Waiting for a human.
        Pending = "pending",
        /// A human allowed it (once or always).
        Allowed = "allowed",
        /// A human denied it.
        Denied = "denied",
        /// Nobody answered in time: ends as a deny.
        Expired = "expired",
        /// Allowed once, and that one run has been handed out: it never
        /// answers `allowed` to a new request again.
        Consumed = "consumed",
    }
    what = "approval status";
}

spelled! {
    /// A human's answer to an approval.
    pub enum Answer {
        /// Run this call, this once.
        AllowOnce = "allow-once",
        /// Run this call now and the identical call from now on (never for
        /// `CRITICAL_RED`).
        AllowAlways = "allow-always",
        /// Do not run it.
        Deny = "deny",
    }
    what = "decision";
}

impl ApprovalStatus {
    /// Whether the approval still waits for an answer.
    pub fn is_pending(self) -> bool {
        self == ApprovalStatus::Pending
    }
}

impl Answer {
    /// The status an approval takes when answered so.
    pub fn status(self) -> ApprovalStatus {
        match self {
            Answer::AllowOnce | Answer::AllowAlways => ApprovalStatus::Allowed,
            Answer::Deny => ApprovalStatus::Denied,
        }
    }
}

/// A spelling that names no value of the type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownValue {
    what: &'static str,
    expected: &'static [&'static str],
}

impl fmt::Display for UnknownValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown {}; expected one of: {}", self.what, self.expected.join(", "))
    }
}

impl std::error::Error for UnknownValue {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip_through_str_and_serde() {
        for t in Tier::ALL {
            assert_eq!(t.as_str().parse::<Tier>().unwrap(), *t);
            let json = serde_json::to_string(t).unwrap();
            assert_eq!(json, format!("\"{t}\""));
            assert_eq!(serde_json::from_str::<Tier>(&json).unwrap(), *t);
        }
        for s in ApprovalStatus::ALL {
            assert_eq!(s.as_str().parse::<ApprovalStatus>().unwrap(), *s);
        }
        for a in Answer::ALL {
            assert_eq!(a.as_str().parse::<Answer>().unwrap(), *a);
        }
        let err = "maybe".parse::<Answer>().unwrap_err().to_string();
        assert_eq!(err, "unknown decision; expected one of: allow-once, allow-always, deny");
    }

    #[test]
    fn tiers_order_by_risk() {
        assert!(Tier::Green < Tier::Yellow && Tier::Yellow < Tier::YellowExternal);
        assert!(Tier::YellowExternal < Tier::Red && Tier::Red < Tier::CriticalRed);
        assert_eq!(Tier::Red.max(Tier::Yellow), Tier::Red);
    }
}
