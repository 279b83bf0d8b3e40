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
pub(crate) struct SourceLabel {
    /// `compiled`, `component-cache` or `loaded` (cordon-runtime's `CodeSource`).
    pub(crate) source: String,
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
    pub(crate) component_loads: Family<SourceLabel, Counter>,
    pub(crate) functions_reused: Counter,
    pub(crate) functions_compiled: Counter,
    pub(crate) compile_time: Histogram,
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
        let component_loads = Family::<SourceLabel, Counter>::default();
        let functions_reused = Counter::default();
        let functions_compiled = Counter::default();
        let compile_time = Histogram::new(exponential_buckets(0.001, 2.0, 18));
        registry.register(
            "component_loads",
            "Components loaded for upload or run, by where their code came from (compiled, component-cache, loaded)",
            component_loads.clone(),
        );
        registry.register(
            "functions_reused",
            "Functions whose machine code the function cache supplied at compile time",
            functions_reused.clone(),
        );
        registry.register(
            "functions_compiled",
            "Functions compiled because the function cache did not hold them",
            functions_compiled.clone(),
        );
        registry.register(
            "component_load_seconds",
            "Wall time of component loads that read or compiled code, seconds",
            compile_time.clone(),
        );
        Metrics {
            registry,
            component_loads,
            functions_reused,
            functions_compiled,
            compile_time,
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

    /// Count one [`LoadedComponent`](cordon_runtime::LoadedComponent)'s load.
    pub(crate) fn component_loaded(&self, report: &cordon_runtime::CompileReport) {
        let source = match report.source {
            cordon_runtime::CodeSource::Loaded => "loaded",
            cordon_runtime::CodeSource::ComponentCache => "component-cache",
            cordon_runtime::CodeSource::Compiled => "compiled",
        };
        self.component_loads
            .get_or_create(&SourceLabel {
                source: source.into(),
            })
            .inc();
        self.functions_reused.inc_by(report.functions_reused);
        self.functions_compiled.inc_by(report.functions_compiled);
        if report.source != cordon_runtime::CodeSource::Loaded {
            self.compile_time
                .observe(std::time::Duration::from_millis(report.millis).as_secs_f64());
        }
    }

    pub(crate) fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}
