//! Where spans leave the process: one POST per batch to an OTLP/HTTP
//! receiver, retried on the statuses the OTLP spec calls retryable.

use crate::config::{Compression, OtlpConfig, Protocol};
use crate::{encode, json, proto};
use prost::Message;
use std::io::{Read, Write};
use std::time::{Duration, Instant, SystemTime};
use tracekit::{ExportError, Exporter, SpanRecord};

/// Exports batches over OTLP/HTTP. Install it behind a
/// [`BatchReporter`](tracekit::BatchReporter) (see [`reporter`](crate::reporter)),
/// which calls it on its own thread.
///
/// Responses: 2xx is success (a partial success's message is logged);
/// 429, 502, 503, 504 and connection failures are retried with exponential
/// backoff and jitter (100 ms doubling to 5 s), or after `Retry-After` when
/// the server sends a longer wait, all within the export timeout (a wait
/// past it gives up at once); any other status drops the batch with one
/// log line.
///
/// ```no_run
/// use tracekit_otlp::{OtlpConfig, OtlpExporter, Resource};
/// let exporter = OtlpExporter::new(&OtlpConfig::new("http://localhost:4318", Resource::new("api")));
/// # drop(exporter);
/// ```
pub struct OtlpExporter {
    sender: Sender,
    protocol: Protocol,
    limits: encode::SpanLimits,
    resource: proto::Resource,
    /// The resource as protobuf, written once.
    resource_bytes: Vec<u8>,
    writer: crate::wire::Writer,
    /// Spans of the last batch the backend rejected (a partial success).
    rejected: u64,
}

/// The first wait before a retry (and the floor under a shorter
/// `Retry-After`); it doubles, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

impl OtlpExporter {
    /// An exporter for this configuration (its `batch` part is the
    /// reporter's business).
    ///
    /// ```
    /// let e = tracekit_otlp::OtlpExporter::new(&tracekit_otlp::OtlpConfig::from_env());
    /// # drop(e);
    /// ```
    pub fn new(config: &OtlpConfig) -> OtlpExporter {
        let resource = encode::resource(&config.resource);
        OtlpExporter {
            sender: Sender::new(
                &config.endpoint,
                &config.headers,
                config.timeout,
                config.compression,
                Signal::Traces,
            ),
            protocol: config.protocol,
            limits: config.limits,
            resource_bytes: resource.encode_to_vec(),
            resource,
            writer: crate::wire::Writer::default(),
            rejected: 0,
        }
    }

    /// The request body for a batch, as sent (before compression), and its
    /// content type.
    pub(crate) fn body(&mut self, batch: &[SpanRecord]) -> (Vec<u8>, &'static str) {
        match self.protocol {
            Protocol::HttpProtobuf => (
                self.writer
                    .request(&self.resource_bytes, &self.limits, batch),
                "application/x-protobuf",
            ),
            Protocol::HttpJson => (
                json::body(&self.resource, &self.limits, batch).into_bytes(),
                "application/json",
            ),
        }
    }
}

/// What is exported, for the log lines and the partial-success answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Signal {
    Traces,
    Metrics,
}

/// One OTLP/HTTP endpoint: POSTs a body, retried on the statuses the OTLP
/// spec calls retryable, within a deadline.
pub(crate) struct Sender {
    agent: ureq::Agent,
    endpoint: String,
    headers: Vec<(String, String)>,
    timeout: Duration,
    compression: Compression,
    signal: Signal,
}

impl Sender {
    pub(crate) fn new(
        endpoint: &str,
        headers: &[(String, String)],
        timeout: Duration,
        compression: Compression,
        signal: Signal,
    ) -> Sender {
        Sender {
            // Redirects would turn the POST into a GET; a receiver does not redirect.
            agent: ureq::AgentBuilder::new().redirects(0).build(),
            endpoint: endpoint.to_owned(),
            headers: headers.to_vec(),
            // Zero would fail every request before it is sent.
            timeout: match timeout {
                Duration::ZERO => crate::config::DEFAULT_TIMEOUT,
                t => t,
            },
            compression,
            signal,
        }
    }

    /// Sends `body` (compressed here if configured), retrying until
    /// `deadline`; returns how many items a 2xx answer said it rejected.
    pub(crate) fn post(
        &self,
        body: Vec<u8>,
        content_type: &str,
        deadline: Instant,
    ) -> Result<u64, ExportError> {
        let body = match self.compression {
            Compression::None => body,
            Compression::Gzip => gzip(&body).map_err(|e| ExportError::new(format!("gzip: {e}")))?,
        };
        let mut backoff = FIRST_BACKOFF;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(ExportError::new(format!(
                    "{}: export timeout reached",
                    self.endpoint
                )));
            }
            let what = match self.send(&body, content_type, self.timeout.min(left)) {
                Attempt::Done(rejected) => return Ok(rejected),
                Attempt::Fail(what) => return Err(ExportError::new(what)),
                Attempt::Retry(what, after) => (what, after),
            };
            // The backoff is the floor even when the server names a wait:
            // `Retry-After: 0` from a struggling proxy must not turn the
            // retries into a busy loop for the whole export timeout.
            let floor = jitter(backoff);
            backoff = (backoff * 2).min(MAX_BACKOFF);
            let wait = what.1.map_or(floor, |after| after.max(floor));
            // Compared with what is left, not added to now: a wait of years
            // (a far `Retry-After`) must not overflow an `Instant`.
            if wait >= deadline.saturating_duration_since(Instant::now()) {
                return Err(ExportError::new(format!(
                    "{}; gave up, the next try (in {wait:?}) would pass the export timeout",
                    what.0
                )));
            }
            std::thread::sleep(wait);
        }
    }

    fn send(&self, body: &[u8], content_type: &str, timeout: Duration) -> Attempt {
        let mut request = self
            .agent
            .post(&self.endpoint)
            .timeout(timeout)
            .set("Content-Type", content_type)
            .set(
                "User-Agent",
                // The exporter, its version and its language, as the OTLP
                // exporter specification asks.
                concat!("tracekit-otlp/", env!("CARGO_PKG_VERSION"), " (Rust)"),
            );
        if self.compression == Compression::Gzip {
            request = request.set("Content-Encoding", "gzip");
        }
        for (k, v) in &self.headers {
            request = request.set(k, v);
        }
        match request.send_bytes(body) {
            Ok(response) if (200..300).contains(&response.status()) => {
                match self.partial_success(response) {
                    Ok(rejected) => Attempt::Done(rejected),
                    Err(what) => Attempt::Fail(what),
                }
            }
            Ok(response) => Attempt::Fail(format!(
                "{} answered HTTP {} {}",
                self.endpoint,
                response.status(),
                response.status_text()
            )),
            Err(ureq::Error::Status(code, response)) => {
                let retry_after = response.header("Retry-After").and_then(parse_retry_after);
                let reason = response.status_text().to_owned();
                let what = format!(
                    "{} answered HTTP {code} {reason}{}",
                    self.endpoint,
                    message_of(response)
                );
                if matches!(code, 429 | 502 | 503 | 504) {
                    Attempt::Retry(what, retry_after)
                } else {
                    Attempt::Fail(what)
                }
            }
            Err(ureq::Error::Transport(t)) if t.kind() == ureq::ErrorKind::BadHeader => {
                // Never ureq's text, which quotes the header whole: its
                // value may be a credential.
                let what = match self.headers.iter().find(|(k, v)| !sendable(k, v)) {
                    Some((name, _)) => format!(
                        "cannot send to {}: the configured header {name:?} has a control or \
                         non-ASCII character, so no request can be made",
                        self.endpoint
                    ),
                    None => format!(
                        "{} answered with a header that cannot be read",
                        self.endpoint
                    ),
                };
                Attempt::Fail(what)
            }
            Err(ureq::Error::Transport(t)) => {
                // ureq's own text repeats the URL; say it once.
                let detail = t.message().map(|m| format!(": {m}")).unwrap_or_default();
                let what = format!("cannot reach {}: {}{detail}", self.endpoint, t.kind());
                // An endpoint that can never work (a bad URL, a scheme with
                // no support built in, such as https without the `tls`
                // feature, a header the HTTP client refuses to send) fails
                // at once; a network that may come back is retried.
                use ureq::ErrorKind as K;
                match t.kind() {
                    K::InvalidUrl
                    | K::UnknownScheme
                    | K::InsecureRequestHttpsOnly
                    | K::InvalidProxyUrl
                    | K::ProxyUnauthorized
                    | K::TooManyRedirects => Attempt::Fail(what),
                    _ => Attempt::Retry(what, None),
                }
            }
        }
    }

    /// How many items a 2xx answer says were rejected (an OTLP partial
    /// success), said on stderr with the backend's message. An answer
    /// past [`MAX_RESPONSE`] is an error, not retried, as the OTLP
    /// specification says (its partial success cannot be read whole).
    fn partial_success(&self, response: ureq::Response) -> Result<u64, String> {
        let json = response.content_type().contains("json");
        let mut body = Vec::new();
        if response
            .into_reader()
            .take(MAX_RESPONSE + 1)
            .read_to_end(&mut body)
            .is_err()
            || body.is_empty()
        {
            return Ok(0);
        }
        if body.len() as u64 > MAX_RESPONSE {
            return Err(format!(
                "{} answered with more than {} KiB, which was discarded unread",
                self.endpoint,
                MAX_RESPONSE / 1024
            ));
        }
        let (field, what) = match self.signal {
            Signal::Traces => ("rejectedSpans", "spans"),
            Signal::Metrics => ("rejectedDataPoints", "data points"),
        };
        let (rejected, message) = if json {
            let text = String::from_utf8_lossy(&body);
            (
                json_field(&text, field).unwrap_or_default(),
                json_field(&text, "errorMessage").unwrap_or_default(),
            )
        } else {
            let decoded = match self.signal {
                Signal::Traces => {
                    proto::ExportTraceServiceResponse::decode(body.as_slice()).map(|r| {
                        r.partial_success
                            .map(|p| (p.rejected_spans, p.error_message))
                    })
                }
                Signal::Metrics => proto::ExportMetricsServiceResponse::decode(body.as_slice())
                    .map(|r| {
                        r.partial_success
                            .map(|p| (p.rejected_data_points, p.error_message))
                    }),
            };
            match decoded {
                Ok(p) => p.map_or((String::new(), String::new()), |(n, m)| (n.to_string(), m)),
                Err(_) => return Ok(0),
            }
        };
        // The count is an int64, so a string in JSON.
        let count = rejected.trim_matches('"').parse::<u64>().unwrap_or(0);
        if count != 0 || !message.is_empty() {
            crate::warn(format_args!(
                "{} accepted the export in part: {count} {what} rejected: {message}",
                self.endpoint
            ));
        }
        Ok(count)
    }
}

/// Whether the HTTP client can send the header `name: value`: a name of
/// token characters, a value of visible ASCII, spaces and tabs.
fn sendable(name: &str, value: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        && value
            .bytes()
            .all(|b| b == b'\t' || (0x20..0x7f).contains(&b))
}

/// The longest answer read from a receiver.
const MAX_RESPONSE: u64 = 64 * 1024;

enum Attempt {
    /// Accepted, with this many items rejected.
    Done(u64),
    Retry(String, Option<Duration>),
    Fail(String),
}

impl Exporter for OtlpExporter {
    fn take_rejected(&mut self) -> u64 {
        std::mem::take(&mut self.rejected)
    }

    fn export(&mut self, batch: Vec<SpanRecord>, deadline: Instant) -> Result<(), ExportError> {
        // An empty request would cost the backend a round trip for nothing.
        if batch.is_empty() {
            return Ok(());
        }
        let (body, content_type) = self.body(&batch);
        self.rejected = self.sender.post(body, content_type, deadline)?;
        Ok(())
    }
}

/// Between half and all of `d`, so that many clients do not retry in step.
fn jitter(d: Duration) -> Duration {
    // Any well-mixed bits do; a random span id is at hand and costs no dependency.
    let r = tracekit::SpanId::random().to_u64() % 1000;
    d / 2 + d / 2 * r as u32 / 1000
}

fn gzip(body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(body)?;
    enc.finish()
}

/// The start of an error response's text, for the log line.
fn message_of(response: ureq::Response) -> String {
    let mut text = String::new();
    let _ = response.into_reader().take(512).read_to_string(&mut text);
    let text: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let text = text.trim();
    if text.is_empty() {
        String::new()
    } else {
        format!(": {text}")
    }
}

/// `Retry-After` as seconds or as an HTTP date.
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = parse_http_date(value)?;
    Some(
        at.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the form HTTP/1.1
/// senders must use.
pub(crate) fn parse_http_date(s: &str) -> Option<SystemTime> {
    let rest = s.split_once(", ")?.1;
    let parts: Vec<&str> = rest.split(' ').collect();
    let [day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    let day: u32 = day.parse().ok()?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| m == month)? as u32
        + 1;
    let year: i64 = year.parse().ok()?;
    let hms: Vec<u64> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, sec] = hms.as_slice() else {
        return None;
    };
    if !(1..=31).contains(&day) || *h > 23 || *m > 59 || *sec > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days.checked_mul(86_400)? + (*h * 3600 + *m * 60 + *sec) as i64;
    let secs = u64::try_from(secs).ok()?;
    SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (the well-known
/// era-based conversion).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A scalar field of a small JSON object, without a JSON parser: enough for
/// a partial-success answer.
fn json_field(text: &str, key: &str) -> Option<String> {
    let at = text.find(&format!("\"{key}\""))? + key.len() + 2;
    let rest = text[at..].trim_start().strip_prefix(':')?.trim_start();
    if let Some(s) = rest.strip_prefix('"') {
        let end = s.find('"')?;
        Some(s[..end].to_owned())
    } else {
        let end = rest.find([',', '}']).unwrap_or(rest.len());
        Some(rest[..end].trim().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        assert_eq!(parse_retry_after("3"), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after(" 0 "), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("-1"), None);
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777))
        );
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 25:49:37 GMT"), None);
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), None);
    }

    #[test]
    fn jitter_stays_between_half_and_all() {
        for _ in 0..100 {
            let j = jitter(Duration::from_millis(1000));
            assert!(j >= Duration::from_millis(500) && j <= Duration::from_millis(1000));
        }
    }

    #[test]
    fn headers_the_client_can_send() {
        assert!(sendable("x-api-key", "abc def\t1"));
        assert!(!sendable("x team", "a"));
        assert!(!sendable("", "a"));
        assert!(!sendable("x-team", "blue\nred"));
        assert!(!sendable("x-team", "\u{e9}quipe"));
    }

    #[test]
    fn partial_success_fields_from_json() {
        let t = r#"{"partialSuccess":{"rejectedSpans":"3","errorMessage":"too old"}}"#;
        assert_eq!(json_field(t, "rejectedSpans").as_deref(), Some("3"));
        assert_eq!(json_field(t, "errorMessage").as_deref(), Some("too old"));
        assert_eq!(json_field("{}", "errorMessage"), None);
    }
}
