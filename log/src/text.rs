//! Plain-text log lines with the key-values on them: the line format, an
//! adapter for loggers that take a format closure, and a small logger that
//! writes such lines.

use crate::filter::Filter;
use log::kv::{self, Key, VisitSource};
use log::{LevelFilter, Log, Metadata, Record};
use std::fmt;
use std::io::{self, Write};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Writes one line for `record`: UTC time, level, target, message, then
/// every key-value as ` key=value` (the ids [`TraceLogger`](crate::TraceLogger)
/// adds among them). For loggers that take a format function, such as
/// `env_logger::Builder::format(|buf, record| tracekit_log::format(buf, record))`.
///
/// ```
/// let record = log::Record::builder()
///     .args(format_args!("reserved"))
///     .level(log::Level::Info)
///     .target("shop")
///     .build();
/// let mut line = Vec::new();
/// tracekit_log::format(&mut line, &record).unwrap();
/// assert!(String::from_utf8(line).unwrap().ends_with(" INFO  shop: reserved\n"));
/// ```
pub fn format(out: &mut dyn Write, record: &Record<'_>) -> io::Result<()> {
    writeln!(
        out,
        "{} {:<5} {}: {}{}",
        Rfc3339(SystemTime::now()),
        record.level(),
        record.target(),
        record.args(),
        KeyValues(record)
    )
}

/// A record's key-values as ` key=value key=value`, for a format of your
/// own; a text value that is empty or has spaces, quotes or `=` is quoted.
///
/// ```
/// let kvs = [("trace_id", "4bf92f3577b34da6a3ce929d0e0e4736"), ("user", "ann lee")];
/// let record = log::Record::builder().args(format_args!("hi")).key_values(&kvs).build();
/// assert_eq!(
///     tracekit_log::KeyValues(&record).to_string(),
///     " trace_id=4bf92f3577b34da6a3ce929d0e0e4736 user=\"ann lee\""
/// );
/// ```
pub struct KeyValues<'a, 'r>(pub &'a Record<'r>);

impl fmt::Display for KeyValues<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Pairs<'f, 'g>(&'f mut fmt::Formatter<'g>);
        impl<'kvs> VisitSource<'kvs> for Pairs<'_, '_> {
            fn visit_pair(
                &mut self,
                key: Key<'kvs>,
                value: kv::Value<'kvs>,
            ) -> Result<(), kv::Error> {
                let text = value.to_string();
                let plain = !text.is_empty()
                    && !text.contains(|c: char| c.is_whitespace() || c == '"' || c == '=');
                if plain {
                    write!(self.0, " {key}={text}")?;
                } else {
                    write!(self.0, " {key}={text:?}")?;
                }
                Ok(())
            }
        }
        self.0
            .key_values()
            .visit(&mut Pairs(f))
            .map_err(|_| fmt::Error)
    }
}

/// A minimal plain-text logger: one [`format()`] line a record, to stderr or
/// any writer, at or above a level.
///
/// ```
/// let logger = tracekit_log::TextLogger::stderr().with_level(log::LevelFilter::Debug);
/// # drop(logger);
/// ```
pub struct TextLogger {
    out: Mutex<Box<dyn Write + Send>>,
    filter: Filter,
}

impl TextLogger {
    /// Lines to stderr, at `Info` and above.
    ///
    /// ```
    /// let logger = tracekit_log::TextLogger::stderr();
    /// # drop(logger);
    /// ```
    pub fn stderr() -> TextLogger {
        TextLogger::to_writer(io::stderr())
    }

    /// Lines to `out` (a file, a pipe, a buffer), at `Info` and above.
    ///
    /// ```
    /// let logger = tracekit_log::TextLogger::to_writer(std::io::sink());
    /// # drop(logger);
    /// ```
    pub fn to_writer(out: impl Write + Send + 'static) -> TextLogger {
        TextLogger {
            out: Mutex::new(Box::new(out)),
            filter: Filter::all(LevelFilter::Info),
        }
    }

    /// Lines to stderr, filtered as `RUST_LOG` says (its common forms:
    /// `debug`, `warn,my_app=debug`, `my_app::db=trace`), at `Info` and
    /// above when it is unset. A directive it cannot read is said on stderr
    /// and left out.
    ///
    /// ```
    /// let logger = tracekit_log::TextLogger::from_env();
    /// # drop(logger);
    /// ```
    pub fn from_env() -> TextLogger {
        let spec = std::env::var("RUST_LOG").unwrap_or_default();
        TextLogger::stderr().with_filter(&spec)
    }

    /// Filters records as `RUST_LOG`-style `directives` say; targets they
    /// do not name are logged at `Info` and above unless a bare level sets
    /// another. A directive it cannot read is said on stderr and left out.
    ///
    /// ```
    /// let logger = tracekit_log::TextLogger::stderr().with_filter("warn,my_app=debug");
    /// # drop(logger);
    /// ```
    pub fn with_filter(mut self, directives: &str) -> TextLogger {
        let (filter, bad) = Filter::parse(directives, LevelFilter::Info);
        for part in bad {
            let _ = writeln!(
                io::stderr(),
                "tracekit-log: cannot read the log directive {part:?}; left out"
            );
        }
        self.filter = filter;
        self
    }

    /// The most verbose level any target is logged at.
    ///
    /// ```
    /// let logger = tracekit_log::TextLogger::stderr().with_filter("warn,my_app=debug");
    /// assert_eq!(logger.max_level(), log::LevelFilter::Debug);
    /// ```
    pub fn max_level(&self) -> LevelFilter {
        self.filter.max_level()
    }

    /// Logs records at `level` and above.
    ///
    /// ```
    /// let logger = tracekit_log::TextLogger::stderr().with_level(log::LevelFilter::Warn);
    /// # drop(logger);
    /// ```
    pub fn with_level(mut self, level: LevelFilter) -> TextLogger {
        self.filter = Filter::all(level);
        self
    }
}

impl Log for TextLogger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.level() <= self.filter.level_for(metadata.target())
    }

    fn log(&self, record: &Record<'_>) {
        if !self.enabled(record.metadata()) {
            return;
        }
        // Format first, write once: a line is never interleaved with another
        // thread's, and a poisoned lock (a writer that panicked) still logs.
        let mut line = Vec::with_capacity(160);
        if format(&mut line, record).is_ok() {
            let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
            let _ = out.write_all(&line);
        }
    }

    fn flush(&self) {
        let _ = self.out.lock().unwrap_or_else(|e| e.into_inner()).flush();
    }
}

/// A time as RFC 3339 UTC with milliseconds.
struct Rfc3339(SystemTime);

impl fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let since = self.0.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = since.as_secs();
        let (days, rest) = (secs / 86_400, secs % 86_400);
        let (y, m, d) = civil_from_days(days as i64);
        write!(
            f,
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
            rest / 3600,
            rest / 60 % 60,
            rest % 60,
            since.subsec_millis()
        )
    }
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (the
/// well-known era-based conversion).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn rfc3339_times() {
        let at = |s: u64, ms: u64| {
            Rfc3339(UNIX_EPOCH + Duration::from_secs(s) + Duration::from_millis(ms)).to_string()
        };
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(at(1_795_435_199, 999), "2026-11-23T11:59:59.999Z");
    }
}
