//! The service's name, as OpenTelemetry reads it from the environment:
//! shared by the console reporter and the OTLP exporter, so that both name
//! a process alike.

/// The service name the environment gives, as OpenTelemetry reads it.
pub(crate) fn name_from(env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let clean = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    env("OTEL_SERVICE_NAME")
        .and_then(|s| clean(&s))
        .or_else(|| {
            let attributes = env("OTEL_RESOURCE_ATTRIBUTES")?;
            attributes
                .split(',')
                .rev()
                .filter_map(|pair| pair.split_once('='))
                .find(|(k, _)| k.trim() == "service.name")
                .and_then(|(_, v)| crate::data::percent::decode(v.trim()))
                .and_then(|v| clean(&v))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_service_name_comes_from_the_environment_as_otel_reads_it() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(name_from(&env(&[])), None);
        assert_eq!(
            name_from(&env(&[("OTEL_SERVICE_NAME", " checkout ")])).as_deref(),
            Some("checkout")
        );
        const ATTRS: [(&str, &str); 1] =
            [("OTEL_RESOURCE_ATTRIBUTES", "team=a,service.name=cart%20api")];
        assert_eq!(name_from(&env(&ATTRS)).as_deref(), Some("cart api"));
        const BOTH: [(&str, &str); 2] = [
            ("OTEL_RESOURCE_ATTRIBUTES", "service.name=from-attrs"),
            ("OTEL_SERVICE_NAME", "wins"),
        ];
        assert_eq!(name_from(&env(&BOTH)).as_deref(), Some("wins"));
        assert_eq!(name_from(&env(&[("OTEL_SERVICE_NAME", "  ")])), None);
    }
}
