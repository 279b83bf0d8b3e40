//! Prometheus metrics: one registry per app (no global recorder).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct StatusLabel {
    pub(crate) status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct DecisionLabel {
    pub(crate) decision: String,
}

/// The app's counters and histograms.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    pub(crate) runs: Family<StatusLabel, Counter>,
    pub(crate) decisions: Family<DecisionLabel, Counter>,
    pub(crate) denials: Counter,
    pub(crate) fuel: Counter,
    pub(crate) refused: Family<StatusLabel, Counter>,
    pub(crate) latency: Histogram,
    pub(crate) shed: Counter,
    pub(crate) refused_connections: Counter,
}

impl Metrics {
    pub(crate) fn new() -> Self {
        let mut registry = Registry::with_prefix("cordon");
        let runs = Family::<StatusLabel, Counter>::default();
        let decisions = Family::<DecisionLabel, Counter>::default();
        let refused = Family::<StatusLabel, Counter>::default();
        let denials = Counter::default();
        let fuel = Counter::default();
        let latency = Histogram::new(exponential_buckets(0.0001, 2.0, 20));
        registry.register("runs", "Runs finished, by status", runs.clone());
        registry.register(
            "decisions",
            "Host-call decisions, by outcome",
            decisions.clone(),
        );
        registry.register("denials", "Denied host calls", denials.clone());
        registry.register("fuel_used", "Fuel used by finished runs", fuel.clone());
        registry.register(
            "runs_refused",
            "Runs refused before starting, by reason",
            refused.clone(),
        );
        registry.register(
            "run_duration_seconds",
            "Wall time of runs, seconds",
            latency.clone(),
        );
        let shed = Counter::default();
        let refused_connections = Counter::default();
        registry.register(
            "requests_shed",
            "Requests answered 503 because their in-flight budget was spent",
            shed.clone(),
        );
        registry.register(
            "connections_refused",
            "Connections closed on accept: their address had max_connections_per_address open, or max_connections were open and all serving",
            refused_connections.clone(),
        );
        Metrics {
            registry,
            shed,
            refused_connections,
            runs,
            decisions,
            denials,
            fuel,
            refused,
            latency,
        }
    }

    pub(crate) fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}
