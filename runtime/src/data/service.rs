//! The service's name and resource, as OpenTelemetry reads them from the
//! environment: shared by the console reporter, the Prometheus text and
//! the OTLP exporter, so that all of them name a process alike.

/// The service name the environment gives, as OpenTelemetry reads it.
pub(crate) fn name_from(env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let clean = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    env("OTEL_SERVICE_NAME")
        .and_then(|s| clean(&s))
        .or_else(|| {
            // Read as the resource reads it: the last `service.name` of a
            // list that is whole.
            let attributes = env("OTEL_RESOURCE_ATTRIBUTES")?;
            resource_list(&attributes)
                .into_iter()
                .rfind(|(k, _)| k == "service.name")
                .and_then(|(_, v)| clean(&v))
        })
}

/// `unknown_service:<program>`, OpenTelemetry's name for a service that
/// was given none.
pub(crate) fn unknown() -> String {
    let program = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()));
    match program {
        Some(p) => format!("unknown_service:{p}"),
        None => "unknown_service".to_owned(),
    }
}

/// `key=value,...` pairs (`OTEL_EXPORTER_OTLP_HEADERS`), keys and values
/// trimmed and percent-decoded (a `+` is a `+`); a malformed entry is
/// skipped with a warning that names `key`. (`OTEL_RESOURCE_ATTRIBUTES`
/// is read all or nothing: [`resource_from`].)
pub(crate) fn pairs(key: &str, raw: &str) -> Vec<(String, String)> {
    entries(raw)
        .filter_map(|entry| {
            entry
                .map_err(|(entry, why)| {
                    crate::data::diag::warn(format_args!("{key}: {entry:?} {why}; skipped"))
                })
                .ok()
        })
        .collect()
}

/// The pairs of `OTEL_RESOURCE_ATTRIBUTES`, all or none: a malformed entry
/// discards the whole value (OpenTelemetry's resource rules). That is said
/// once a process for each value, however many read it (the console's
/// name, Prometheus's `target_info`, each OTLP exporter).
fn resource_list(raw: &str) -> Vec<(String, String)> {
    let (entry, why) = match entries(raw).collect() {
        Ok(pairs) => return pairs,
        Err(bad) => bad,
    };
    /// The malformed values said so far (a few: tests read several).
    static SAID: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let first = match SAID.lock() {
        Ok(said) if said.iter().any(|s| s == raw) => false,
        Ok(mut said) => {
            if said.len() < 16 {
                said.push(raw.to_owned());
            }
            true
        }
        Err(_) => true,
    };
    if first {
        crate::data::diag::warn(format_args!(
            "OTEL_RESOURCE_ATTRIBUTES: {entry:?} {why}; the whole value is discarded"
        ));
    }
    Vec::new()
}

/// The entries of a `key=value,...` list: each its decoded pair, or the
/// malformed entry and what is wrong with it.
fn entries(raw: &str) -> impl Iterator<Item = Result<(String, String), (&str, &'static str)>> {
    use crate::data::percent::decode_exact;
    raw.split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(|entry| match entry.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                match (decode_exact(k.trim()), decode_exact(v.trim())) {
                    (Some(k), Some(v)) => Ok((k, v)),
                    _ => Err((entry, "is not valid UTF-8")),
                }
            }
            _ => Err((entry, "is not key=value")),
        })
}

/// The `telemetry.sdk.*` attributes: who made the telemetry.
pub(crate) const SDK: [(&str, &str); 3] = [
    ("telemetry.sdk.name", "tracekit"),
    ("telemetry.sdk.language", "rust"),
    ("telemetry.sdk.version", env!("CARGO_PKG_VERSION")),
];

/// The process's resource attributes as the environment gives them:
/// `service.name` first ([`name_from`], else [`unknown`]), then the
/// `telemetry.sdk.*` attributes, then the rest of `OTEL_RESOURCE_ATTRIBUTES`
/// in order; a key given again replaces the value where it first stood. A
/// malformed entry discards the whole list, with a warning.
pub(crate) fn resource_from(env: &dyn Fn(&str) -> Option<String>) -> Vec<(String, String)> {
    let service = (
        "service.name".to_owned(),
        name_from(env).unwrap_or_else(unknown),
    );
    let mut out: Vec<(String, String)> = std::iter::once(service)
        .chain(SDK.iter().map(|&(k, v)| (k.to_owned(), v.to_owned())))
        .collect();
    let given = env("OTEL_RESOURCE_ATTRIBUTES")
        .map(|raw| resource_list(&raw))
        .unwrap_or_default();
    for (k, v) in given {
        if k == "service.name" {
            continue;
        }
        match out.iter_mut().find(|(k2, _)| *k2 == k) {
            Some(slot) => slot.1 = v,
            None => out.push((k, v)),
        }
    }
    out
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
        // Read as the resource reads the list: keys decoded, `+` kept, and
        // nothing of a list with a malformed entry.
        const ENCODED: [(&str, &str); 1] = [("OTEL_RESOURCE_ATTRIBUTES", "service%2Ename=a+b,x=1")];
        assert_eq!(name_from(&env(&ENCODED)).as_deref(), Some("a+b"));
        const MALFORMED: [(&str, &str); 1] = [("OTEL_RESOURCE_ATTRIBUTES", "service.name=a,x")];
        assert_eq!(name_from(&env(&MALFORMED)), None);
    }

    #[test]
    fn the_resource_is_the_name_the_sdk_and_the_attributes_given() {
        let env = |k: &str| {
            (k == "OTEL_RESOURCE_ATTRIBUTES").then(|| {
                "deployment.environment=prod, service.name=ignored-here,team=a%20b,team=c"
                    .to_owned()
            })
        };
        let r = resource_from(&env);
        let keys: Vec<&str> = r.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "service.name",
                "telemetry.sdk.name",
                "telemetry.sdk.language",
                "telemetry.sdk.version",
                "deployment.environment",
                "team"
            ]
        );
        assert_eq!(
            r[0].1, "ignored-here",
            "no OTEL_SERVICE_NAME: the attribute's"
        );
        assert_eq!(
            r[5].1, "c",
            "given again: the last value, where it first stood"
        );
        assert!(resource_from(&|_| None)[0].1.starts_with("unknown_service"));
        // A malformed entry (no `=`, no key, not UTF-8 once decoded)
        // discards the whole list, the service name in it too.
        for bad in ["team=a,bad", "team=a, =x", "team=a,b=%FF"] {
            let r = resource_from(&|k: &str| {
                (k == "OTEL_RESOURCE_ATTRIBUTES").then(|| format!("service.name=s,{bad}"))
            });
            assert_eq!(r.len(), 1 + SDK.len(), "{bad}: {r:?}");
            assert!(r[0].1.starts_with("unknown_service"), "{bad}: {r:?}");
        }
        // A `+` is itself (build metadata, base64); keys are decoded too.
        assert_eq!(
            pairs(
                "H",
                "Authorization=Basic a+b/c=,service%2Eversion=2.1.0+build.7"
            ),
            [
                ("Authorization".to_owned(), "Basic a+b/c=".to_owned()),
                ("service.version".to_owned(), "2.1.0+build.7".to_owned())
            ]
        );
    }
}
