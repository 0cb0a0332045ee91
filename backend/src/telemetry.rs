//! Logging: JSON lines on stdout by default (for CloudWatch), or text for a terminal.
//! `RUST_LOG` filters as `info,sqlx=warn`-style directives; the default is `info`, without
//! PostgreSQL's notices (such as "relation already exists, skipping" on every start).

use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::LogFormat;

pub fn init(format: LogFormat) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|directives| directives.parse::<Targets>().ok())
        .unwrap_or_else(|| {
            Targets::new()
                .with_default(LevelFilter::INFO)
                .with_target("sqlx::postgres::notice", LevelFilter::WARN)
        });
    let registry = tracing_subscriber::registry().with(filter);
    // `try_init` so that a second call (tests starting several servers) is harmless.
    let _ = match format {
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(true)
                    .with_span_list(false),
            )
            .try_init(),
        LogFormat::Text => registry
            .with(tracing_subscriber::fmt::layer().with_ansi(false))
            .try_init(),
    };
}
