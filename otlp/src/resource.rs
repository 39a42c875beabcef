//! The resource: who emitted the spans (`service.name` and friends).

use crate::env::Lookup;
use tracekit::Value;

/// The attributes of the process that emits spans, sent once per export.
///
/// ```
/// let r = tracekit_otlp::Resource::new("checkout").with("deployment.environment", "prod");
/// assert_eq!(r.service_name(), "checkout");
/// assert!(r.attributes().iter().any(|(k, _)| k == "telemetry.sdk.name"));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Resource {
    attributes: Vec<(String, Value)>,
}

impl Resource {
    /// A resource for this service, with the `telemetry.sdk.*` attributes.
    ///
    /// ```
    /// let r = tracekit_otlp::Resource::new("frontend");
    /// # drop(r);
    /// ```
    pub fn new(service_name: impl Into<String>) -> Resource {
        Resource {
            attributes: vec![
                ("service.name".into(), Value::from(service_name.into())),
                ("telemetry.sdk.name".into(), Value::from_static("tracekit")),
                ("telemetry.sdk.language".into(), Value::from_static("rust")),
                (
                    "telemetry.sdk.version".into(),
                    Value::from_static(env!("CARGO_PKG_VERSION")),
                ),
            ],
        }
    }

    /// Adds or replaces an attribute.
    ///
    /// ```
    /// let r = tracekit_otlp::Resource::new("a").with("service.version", "1.4.2");
    /// # drop(r);
    /// ```
    pub fn with(mut self, key: impl Into<String>, value: impl Into<Value>) -> Resource {
        let (key, value) = (key.into(), value.into());
        match self.attributes.iter_mut().find(|(k, _)| *k == key) {
            Some(slot) => slot.1 = value,
            None => self.attributes.push((key, value)),
        }
        self
    }

    /// From `OTEL_RESOURCE_ATTRIBUTES` (`key=value,...`, values
    /// percent-decoded) and `OTEL_SERVICE_NAME`, which wins over a
    /// `service.name` there; without either, `unknown_service:<program>`.
    /// A malformed entry is reported on stderr and skipped.
    ///
    /// ```
    /// let r = tracekit_otlp::Resource::from_env();
    /// assert!(!r.service_name().is_empty());
    /// ```
    pub fn from_env() -> Resource {
        Resource::from_lookup(&crate::env::process())
    }

    pub(crate) fn from_lookup(env: &Lookup<'_>) -> Resource {
        let pairs = env("OTEL_RESOURCE_ATTRIBUTES")
            .map(|raw| crate::env::pairs("OTEL_RESOURCE_ATTRIBUTES", &raw))
            .unwrap_or_default();
        let service = tracekit::__support::service_name_from(env).unwrap_or_else(unknown_service);
        let mut r = Resource::new(service);
        for (k, v) in pairs {
            if k != "service.name" {
                r = r.with(k, v);
            }
        }
        r
    }

    /// The `service.name`.
    ///
    /// ```
    /// assert_eq!(tracekit_otlp::Resource::new("x").service_name(), "x");
    /// ```
    pub fn service_name(&self) -> &str {
        match self.attributes.iter().find(|(k, _)| k == "service.name") {
            Some((_, Value::Str(s))) => s,
            _ => "",
        }
    }

    /// Every attribute, in order.
    ///
    /// ```
    /// assert_eq!(tracekit_otlp::Resource::new("x").attributes()[0].0, "service.name");
    /// ```
    pub fn attributes(&self) -> &[(String, Value)] {
        &self.attributes
    }
}

fn unknown_service() -> String {
    let program = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
    match program {
        Some(p) => format!("unknown_service:{p}"),
        None => "unknown_service".to_owned(),
    }
}
