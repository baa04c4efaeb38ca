//! The JSON log line format: tracing-subscriber's JSON lines without the
//! `log.file`, `log.line`, `log.module_path` and `log.target` fields that
//! records bridged from the `log` crate (Rocket's) carry. Those are source
//! paths of the build machine, not facts about the running service.

use std::fmt;

use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{Format, Json, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// JSON lines (tracing-subscriber's, without colour) minus `log.*` fields.
pub struct JsonWithoutSource(Format<Json>);

impl Default for JsonWithoutSource {
    fn default() -> Self {
        Self(Format::default().json().with_ansi(false))
    }
}

impl<S, N> FormatEvent<S, N> for JsonWithoutSource
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        let Ok(mut value) = serde_json::from_str::<serde_json::Value>(&line) else {
            // Not one JSON object after all: pass it on untouched.
            return writer.write_str(&line);
        };
        if let Some(fields) = value.get_mut("fields").and_then(|f| f.as_object_mut()) {
            fields.retain(|k, _| !k.starts_with("log."));
        }
        writeln!(writer, "{value}")
    }
}
