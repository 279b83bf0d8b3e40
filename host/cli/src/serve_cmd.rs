//! `cordon serve`: the HTTP service, and `cordon token`: a development identity provider that
//! makes an ed25519 key and signs on-behalf-of tokens with it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use cordon_server::{AppState, ServerConfig, load_or_create_admin_token};

use crate::egress::EgressSettings;
use serde::Deserialize;

#[derive(Args)]
#[command(after_help = "\
State lives in the data directory (--data): server.redb (tenants, hashed tokens, components, \
policy bundle versions, identity keys), audit.redb (the decision log), audit-keys.redb (its \
subject commitment keys) and admin.token (the \
operator's bearer token, generated on first start with mode 0600 unless --admin-token-file is \
given). SIGTERM or SIGINT (Ctrl-C) stops accepting, lets runs finish (cancelling those still \
going after the grace period), closes the log and exits, whatever the clients do.

Example:
  cordon serve --bind 127.0.0.1:8080 --data ./cordon-data
  curl -H \"Authorization: Bearer $(cat cordon-data/admin.token)\" -X PUT \\
      -d '{\"allow_unattended\": false}' http://127.0.0.1:8080/v1/admin/tenants/acme")]
pub(crate) struct ServeArgs {
    /// Address to listen on.
    #[arg(long)]
    bind: Option<SocketAddr>,

    /// Read the operator's token from this file instead of `<data>/admin.token`.
    #[arg(long)]
    admin_token_file: Option<PathBuf>,

    /// A JSON config file: {"bind", "max_upload_bytes", "max_body_bytes", "request_timeout_ms",
    /// "max_in_flight", "max_anonymous_in_flight", "max_connections",
    /// "max_connections_per_address", "header_read_timeout_ms",
    /// "body_read_timeout_ms", "max_runs", "shutdown_grace_ms", "region", "egress"}; flags win
    /// over it. `max_in_flight` (1024) and `max_anonymous_in_flight` (64) cap requests in flight
    /// with and without a valid token; `max_connections` (4096) caps open connections (at the
    /// cap a new one evicts the longest-idle one) and `max_connections_per_address` (256)
    /// those from one IP address;
    /// `header_read_timeout_ms` (10000) closes a connection that is slow to send a request's
    /// headers or idle that long between requests; `body_read_timeout_ms` (30000) fails a body
    /// that sends nothing for that long. `"runs": {"keep_per_tenant": 1000, "max_age_secs":
    /// 604800, "inline_report_bytes": 16384, "max_report_bytes": 8388608}` bounds finished
    /// runs (larger reports go to files under `<data>/runs`, pruned with their runs);
    /// `"tokens": {"leeway_secs": 30, "max_lifetime_secs": 86400}` bounds on-behalf-of JWTs;
    /// `"public_metrics": true` serves /metrics without the operator's token.
    /// `max_runs` (default 64) is how many runs the host holds at once across tenants: instance
    /// slots are preallocated for them, and a run beyond them is refused with 503. `region`
    /// (default `local`) is the host's region, seen by record policies as `context.host_region`.
    /// `egress` is what every run's http may reach: {"allow_ranges": ["10.20.0.0/16"],
    /// "trusted_ca_files": ["ca.pem"], "request_timeout_ms": 30000, "max_response_bytes":
    /// 8388608}; by default no special-purpose range (loopback, private, link-local, ...).
    #[arg(long)]
    config: Option<PathBuf>,

    /// The folder of runner components for source runs (`python.wasm`, `javascript.wasm`),
    /// compiled at start. Default: `<data>/runners`, then `build/runners` of the Cordon checkout
    /// this binary was built in; with none found, source runs are refused (501 `no-runner`).
    #[arg(long, value_name = "DIR", env = "CORDON_RUNNERS")]
    runners: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ConfigFile {
    bind: Option<SocketAddr>,
    max_upload_bytes: Option<usize>,
    max_body_bytes: Option<usize>,
    request_timeout_ms: Option<u64>,
    max_in_flight: Option<usize>,
    max_runs: Option<u32>,
    #[serde(default)]
    egress: EgressSettings,
    shutdown_grace_ms: Option<u64>,
    region: Option<String>,
    max_anonymous_in_flight: Option<usize>,
    max_connections: Option<usize>,
    max_connections_per_address: Option<usize>,
    header_read_timeout_ms: Option<u64>,
    body_read_timeout_ms: Option<u64>,
    public_metrics: Option<bool>,
    #[serde(default)]
    runs: RunSettings,
    #[serde(default)]
    tokens: TokenSettings,
}

/// `"runs"`: how many finished runs each tenant keeps, and how their reports are stored.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RunSettings {
    keep_per_tenant: Option<usize>,
    max_age_secs: Option<u64>,
    inline_report_bytes: Option<usize>,
    max_report_bytes: Option<usize>,
}

/// `"tokens"`: what on-behalf-of JWTs' times must satisfy.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TokenSettings {
    leeway_secs: Option<u64>,
    max_lifetime_secs: Option<u64>,
}

pub(crate) fn serve(args: ServeArgs, data: &Path) -> anyhow::Result<ExitCode> {
    let file: ConfigFile = match &args.config {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .with_context(|| format!("cannot read config `{}`", p.display()))?;
            serde_json::from_str(&text)
                .with_context(|| format!("config `{}` is not valid", p.display()))?
        }
        None => ConfigFile::default(),
    };
    let bind = args
        .bind
        .or(file.bind)
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
    let admin = load_or_create_admin_token(data, args.admin_token_file.as_deref())
        .context("cannot read or create the admin token")?;
    let mut config = ServerConfig::new(data, admin);
    if let Some(v) = file.max_upload_bytes {
        config.max_upload_bytes = v;
    }
    if let Some(v) = file.max_body_bytes {
        config.max_body_bytes = v;
    }
    if let Some(v) = file.request_timeout_ms {
        config.request_timeout = Duration::from_millis(v);
    }
    if let Some(v) = file.max_in_flight {
        config.max_in_flight = v;
    }
    if let Some(v) = file.max_anonymous_in_flight {
        config.max_anonymous_in_flight = v;
    }
    if let Some(v) = file.max_connections {
        anyhow::ensure!(v >= 1, "`max_connections` must be at least 1");
        config.max_connections = v;
    }
    if let Some(v) = file.max_connections_per_address {
        anyhow::ensure!(v >= 1, "`max_connections_per_address` must be at least 1");
        config.max_connections_per_address = v;
    }
    if let Some(v) = file.header_read_timeout_ms {
        config.header_read_timeout = Duration::from_millis(v);
    }
    if let Some(v) = file.body_read_timeout_ms {
        config.body_read_timeout = Duration::from_millis(v);
    }
    if let Some(v) = file.public_metrics {
        config.public_metrics = v;
    }
    let r = &mut config.run_retention;
    if let Some(v) = file.runs.keep_per_tenant {
        r.keep_per_tenant = v;
    }
    if let Some(v) = file.runs.max_age_secs {
        r.max_age = Duration::from_secs(v);
    }
    if let Some(v) = file.runs.inline_report_bytes {
        r.inline_report_bytes = v;
    }
    if let Some(v) = file.runs.max_report_bytes {
        r.max_report_bytes = v;
    }
    if let Some(v) = file.tokens.leeway_secs {
        config.token_rules.leeway_secs = v;
    }
    if let Some(v) = file.tokens.max_lifetime_secs {
        config.token_rules.max_lifetime_secs = v;
    }
    if let Some(v) = file.max_runs {
        anyhow::ensure!(
            (1..=4096).contains(&v),
            "`max_runs` {v} is outside 1..=4096"
        );
        config.max_runs = v;
    }
    if let Some(v) = file.region {
        config.region = v;
    }
    config.egress = file
        .egress
        .into_policy()
        .context("the config's `egress` is not valid")?;
    config.runners = crate::runners::folder(args.runners.as_deref(), data);
    let grace = Duration::from_millis(file.shutdown_grace_ms.unwrap_or(10_000));
    let state = AppState::open(config).context("cannot open the server's state")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(bind)
            .await
            .with_context(|| format!("cannot listen on {bind}"))?;
        let addr = listener.local_addr()?;
        eprintln!(
            "cordon serve: listening on http://{addr} (data in {})",
            data.display()
        );
        let signal = stop_signal()?;
        cordon_server::serve(state, listener, signal, grace)
            .await
            .context("the server failed")
    })?;
    Ok(ExitCode::SUCCESS)
}

/// Resolves on the first SIGTERM or SIGINT (Ctrl-C).
fn stop_signal() -> anyhow::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    Ok(async move {
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        eprintln!("cordon serve: {name}: draining and shutting down");
    })
}

/// A development identity provider: for demos and tests only.
#[derive(Subcommand)]
pub(crate) enum TokenCommand {
    /// Make an ed25519 key pair: `<out>.key` (PKCS#8 PEM, mode 0600) and `<out>.pub` (PEM).
    Keygen {
        /// The path prefix of the two files.
        out: PathBuf,
    },
    /// Sign an on-behalf-of JWT (EdDSA) with a key from `cordon token keygen`; prints it.
    Sign {
        /// The private key (`<out>.key`).
        #[arg(long)]
        key: PathBuf,
        /// The human (`sub`).
        #[arg(long)]
        sub: String,
        /// A role (repeatable).
        #[arg(long = "role")]
        roles: Vec<String>,
        /// `iss`.
        #[arg(long, default_value = "https://idp.example")]
        issuer: String,
        /// `aud`.
        #[arg(long, default_value = "cordon")]
        audience: String,
        /// Seconds until it expires.
        #[arg(long, default_value_t = 600)]
        ttl: u64,
        /// The purpose it is granted for.
        #[arg(long)]
        purpose: Option<String>,
        /// The engagement it is granted for.
        #[arg(long)]
        engagement: Option<String>,
    },
}

const PKCS8_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];
const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    format!("-----BEGIN {label}-----\n{b64}\n-----END {label}-----\n")
}

fn unpem(text: &str) -> anyhow::Result<Vec<u8>> {
    use base64::Engine as _;
    let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
    Ok(base64::engine::general_purpose::STANDARD.decode(body.trim())?)
}

pub(crate) fn token(cmd: TokenCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        TokenCommand::Keygen { out } => {
            let mut seed = [0u8; 32];
            getrandom::fill(&mut seed).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
            let key = ed25519_dalek::SigningKey::from_bytes(&seed);
            let mut der = PKCS8_PREFIX.to_vec();
            der.extend_from_slice(&seed);
            let mut spki = SPKI_PREFIX.to_vec();
            spki.extend_from_slice(key.verifying_key().as_bytes());
            let private = out.with_extension("key");
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create(true).truncate(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            let mut f = opts
                .open(&private)
                .with_context(|| format!("cannot write `{}`", private.display()))?;
            std::io::Write::write_all(&mut f, pem("PRIVATE KEY", &der).as_bytes())?;
            let public = out.with_extension("pub");
            std::fs::write(&public, pem("PUBLIC KEY", &spki))
                .with_context(|| format!("cannot write `{}`", public.display()))?;
            crate::out::line(public.display())?;
        }
        TokenCommand::Sign {
            key,
            sub,
            roles,
            issuer,
            audience,
            ttl,
            purpose,
            engagement,
        } => {
            let text = std::fs::read_to_string(&key)
                .with_context(|| format!("cannot read `{}`", key.display()))?;
            let der = unpem(&text).context("the key is not PEM")?;
            let exp = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_secs()
                + ttl;
            let mut claims = serde_json::json!({
                "iss": issuer, "aud": audience, "sub": sub, "roles": roles, "exp": exp,
            });
            if let Some(p) = purpose {
                claims["purpose"] = p.into();
            }
            if let Some(e) = engagement {
                claims["engagement"] = e.into();
            }
            let jwt = jsonwebtoken::encode(
                &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA),
                &claims,
                &jsonwebtoken::EncodingKey::from_ed_der(&der),
            )
            .context("cannot sign the token")?;
            crate::out::line(jwt)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
