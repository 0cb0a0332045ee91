//! Logging: JSON lines on stdout by default (for CloudWatch), or text for a terminal.
//! `RUST_LOG` filters as `info,sqlx=warn`-style directives; the default is `info`, without
//! PostgreSQL's notices (such as "relation already exists, skipping" on every start).

use tracing::level_filters::LevelFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::{
    self, MakeWriter,
    format::{Format, Json, JsonFields},
};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
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
        LogFormat::Json => registry.with(json_layer(std::io::stdout)).try_init(),
        LogFormat::Text => registry
            .with(tracing_subscriber::fmt::layer().with_ansi(false))
            .try_init(),
    };
}

/// One JSON object a line, the event's fields at the top level: the production bake's log
/// metric filter reads `$.message` and `$.accepted` of the `events accepted` line.
fn json_layer<S, W>(writer: W) -> fmt::Layer<S, JsonFields, Format<Json>, W>
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> MakeWriter<'w> + 'static,
{
    fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(false)
        .with_writer(writer)
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_accepted_events_line_has_the_fields_the_metric_filter_reads() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::registry().with(json_layer(move || writer.clone()));
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("request", route = "/v1/events");
            let _in = span.enter();
            // As routes/events.rs logs it after a stored batch.
            tracing::info!(accepted = 12_u64, "events accepted");
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        // infrastructure/modules/ecs: pattern `{ $.message = "events accepted" }`, value `$.accepted`.
        assert_eq!(line["message"], "events accepted", "{text}");
        assert_eq!(line["accepted"], 12, "{text}");
    }
}
