//! Model tokens per hour, agent and model (`usage_hourly`).

use rusqlite::params;

use crate::{now_ms, Store, StoreError};

/// Tokens to add to the current hour's bucket of one agent and model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageDelta {
    /// Agent id.
    pub agent: String,
    /// Model.
    pub model: String,
    /// Requests.
    pub requests: u64,
    /// Input tokens.
    pub input: u64,
    /// Output tokens.
    pub output: u64,
}

/// One hour of one agent's use of one model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageBucket {
    /// Start of the hour (seconds since epoch).
    pub hour: i64,
    /// Agent id.
    pub agent: String,
    /// Model.
    pub model: String,
    /// Requests counted.
    pub requests: u64,
    /// Input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
}

impl Store {
    /// Add one request's tokens to its hourly bucket.
    pub fn add_usage(&self, agent: &str, model: &str, input: u64, output: u64) -> Result<(), StoreError> {
        self.add_usage_batch(&[UsageDelta { agent: agent.into(), model: model.into(), requests: 1, input, output }])
    }

    /// Add many requests' tokens in one transaction (one fsync).
    pub fn add_usage_batch(&self, deltas: &[UsageDelta]) -> Result<(), StoreError> {
        let hour = now_ms() / 1000 / 3600 * 3600;
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        for d in deltas {
            tx.execute(
                "INSERT INTO usage_hourly (hour, agent, model, requests, input_tokens, output_tokens) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(hour, agent, model) DO UPDATE SET requests = requests + excluded.requests,
                   input_tokens = input_tokens + excluded.input_tokens, output_tokens = output_tokens + excluded.output_tokens",
                params![hour, d.agent, d.model, d.requests as i64, d.input as i64, d.output as i64],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Buckets from `since_hour` on, oldest first.
    pub fn usage_since(&self, since_hour: i64) -> Result<Vec<UsageBucket>, StoreError> {
        let conn = self.read();
        let mut stmt = conn.prepare(
            "SELECT hour, agent, model, requests, input_tokens, output_tokens FROM usage_hourly WHERE hour >= ?1 ORDER BY hour, agent, model",
        )?;
        let rows = stmt.query_map(params![since_hour], usage_bucket)?.collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}

/// A `usage_hourly` row selected as hour, agent, model, requests, input, output.
pub(crate) fn usage_bucket(r: &rusqlite::Row<'_>) -> rusqlite::Result<UsageBucket> {
    Ok(UsageBucket {
        hour: r.get(0)?,
        agent: r.get(1)?,
        model: r.get(2)?,
        requests: r.get::<_, i64>(3)? as u64,
        input_tokens: r.get::<_, i64>(4)? as u64,
        output_tokens: r.get::<_, i64>(5)? as u64,
    })
}
