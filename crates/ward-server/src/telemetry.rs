//! Logs and metrics. Request ids are taken from `X-Request-Id` when a proxy sent a sane one,
//! generated otherwise, and echoed on the response. The access log records the path
//! without its query string, so nothing a client put there reaches the log.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;
use ward_config::{LogConfig, LogFormat};

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The PostgreSQL driver's URL parser, which logs parameter values.
const SILENCED: &str = "sqlx_postgres::options=off";

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    #[error("log.level {level:?}: {reason}")]
    Level { level: String, reason: String },
    #[error("a logger is already installed: {0}")]
    AlreadyInstalled(String),
}

/// Installs the global tracing subscriber. Called once by the binary.
pub fn init_logging(config: &LogConfig) -> Result<(), LoggingError> {
    let mut filter = EnvFilter::try_new(&config.level)
        .map_err(|e| LoggingError::Level { level: config.level.clone(), reason: e.to_string() })?;
    // The PostgreSQL driver logs unknown database URL parameters with their values, which
    // may be passwords; the store names them without values instead.
    if let Ok(directive) = SILENCED.parse() {
        filter = filter.add_directive(directive);
    }
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let result = match config.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).try_init(),
    };
    result.map_err(|e| LoggingError::AlreadyInstalled(e.to_string()))
}

/// How often histogram samples are folded into their summaries.
const METRICS_UPKEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);

/// The process-wide Prometheus recorder. The `metrics` facade is global by design; this
/// installs it once and hands every server in the process the same handle.
pub fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics will be empty");
            }
            // Histogram samples pile up in memory until something drains them: without this
            // a gate under load that nobody scrapes grows by ~16 bytes per transaction.
            let upkeep = handle.clone();
            // A thread of its own, outside any runtime: the one place a thread sleeps.
            #[allow(clippy::disallowed_methods)]
            let spawned = std::thread::Builder::new().name("ward-metrics-upkeep".into()).spawn(move || {
                loop {
                    std::thread::sleep(METRICS_UPKEEP_INTERVAL);
                    upkeep.run_upkeep();
                }
            });
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "cannot start metrics upkeep; histograms are drained only when scraped");
            }
            handle
        })
        .clone()
}

#[derive(Clone)]
pub struct RequestId(pub HeaderValue);

pub async fn access_log(State(enabled): State<bool>, mut req: Request, next: Next) -> Response {
    let start = Instant::now();
    let request_id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .filter(|v| v.len() <= 64 && v.as_bytes().iter().all(|b| b.is_ascii_graphic()))
        .cloned()
        .unwrap_or_else(new_request_id);
    req.extensions_mut().insert(RequestId(request_id.clone()));
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let route = req.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());

    let mut response = next.run(req).await;

    let status = response.status().as_u16();
    let elapsed = start.elapsed();
    metrics::counter!("ward_http_requests_total", "route" => route.clone(), "status" => status_class(status))
        .increment(1);
    metrics::histogram!("ward_http_request_duration_seconds", "route" => route).record(elapsed.as_secs_f64());
    if enabled {
        tracing::info!(
            target: "ward::access",
            request_id = request_id.to_str().unwrap_or("-"),
            method = %method,
            path,
            status,
            micros = elapsed.as_micros() as u64,
        );
    }
    response.headers_mut().insert(REQUEST_ID_HEADER, request_id);
    response
}

fn new_request_id() -> HeaderValue {
    let mut bytes = [0u8; 8];
    ward_core::Entropy::fill(&ward_token::OsEntropy, &mut bytes);
    HeaderValue::from_str(&ward_core::hex::encode(&bytes)).unwrap_or(HeaderValue::from_static("-"))
}

fn status_class(status: u16) -> &'static str {
    match status {
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}
