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
        let sdk = tracekit::__support::SDK_ATTRIBUTES
            .iter()
            .map(|&(k, v)| (k.to_owned(), Value::from_static(v)));
        Resource {
            attributes: std::iter::once(("service.name".into(), Value::from(service_name.into())))
                .chain(sdk)
                .collect(),
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
    /// A malformed entry discards the whole list, as OpenTelemetry's
    /// resource rules ask, and is said once a process through tracekit's
    /// diagnostics (stderr unless `set_diagnostics` says otherwise).
    ///
    /// ```
    /// let r = tracekit_otlp::Resource::from_env();
    /// assert!(!r.service_name().is_empty());
    /// ```
    pub fn from_env() -> Resource {
        Resource::from_lookup(&crate::env::process())
    }

    pub(crate) fn from_lookup(env: &Lookup<'_>) -> Resource {
        Resource {
            attributes: tracekit::__support::resource_from(env)
                .into_iter()
                .map(|(k, v)| (k, Value::from(v)))
                .collect(),
        }
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
