//! Reading configuration from environment variables: a bad value is a
//! warning and the default, never a panic.

use std::time::Duration;

/// Where variables come from: the process environment, or a map in tests.
pub(crate) type Lookup<'a> = dyn Fn(&str) -> Option<String> + 'a;

pub(crate) fn process() -> impl Fn(&str) -> Option<String> {
    |key: &str| std::env::var(key).ok()
}

/// A positive integer, else the default with a warning (an empty
/// variable is an unset one: the default, quietly).
pub(crate) fn number(env: &Lookup<'_>, key: &str, default: u64) -> u64 {
    let Some(raw) = env(key).filter(|v| !v.trim().is_empty()) else {
        return default;
    };
    match raw.trim().parse::<u64>() {
        Ok(n) if n > 0 => n,
        _ => {
            crate::warn(format_args!(
                "{key}={raw:?} is not a positive integer; using {default}"
            ));
            default
        }
    }
}

/// `raw`, the value of `key`, as a positive integer, else a warning and
/// `None`.
pub(crate) fn positive(key: &str, raw: &str) -> Option<u64> {
    match raw.trim().parse::<u64>() {
        Ok(n) if n > 0 => Some(n),
        _ => {
            crate::warn(format_args!(
                "{key}={raw:?} is not a positive integer; ignored"
            ));
            None
        }
    }
}

/// `raw`, the value of `key`, as the value of one of `choices` by its
/// name in any case (OpenTelemetry reads enumerated values so), else a
/// warning naming the choices, and `None`.
pub(crate) fn one_of<T: Copy>(key: &str, raw: &str, choices: &[(&str, T)]) -> Option<T> {
    let found = choices
        .iter()
        .find(|(name, _)| raw.trim().eq_ignore_ascii_case(name))
        .map(|&(_, value)| value);
    if found.is_none() {
        let names: Vec<&str> = choices.iter().map(|&(name, _)| name).collect();
        crate::warn(format_args!(
            "{key}={raw:?} is not supported ({}); ignored",
            names.join(", ")
        ));
    }
    found
}

/// Milliseconds, else the default with a warning.
pub(crate) fn millis(env: &Lookup<'_>, key: &str, default: Duration) -> Duration {
    Duration::from_millis(number(env, key, default.as_millis() as u64))
}

/// `key=value,...` pairs (`OTEL_EXPORTER_OTLP_HEADERS`), values
/// percent-decoded; malformed entries skipped with a warning.
pub(crate) fn pairs(key: &str, raw: &str) -> Vec<(String, String)> {
    tracekit::__support::parse_pairs(key, raw)
}
