//! What the viewer shows: spans with everything the page needs, from any
//! source (an OTLP JSON file or the spans of this process), kept apart from
//! how they are read and how they are drawn.

/// An attribute value as the page shows it: its text and its kind.
#[derive(Clone, Debug, PartialEq)]
pub struct Attr {
    /// The key.
    pub key: String,
    /// The value as text (strings unquoted).
    pub text: String,
    /// `s` string, `i` integer, `d` double, `b` bool, `a` array, `k` map, `x` bytes.
    pub kind: char,
}

impl Attr {
    /// An attribute.
    ///
    /// ```
    /// let a = tracekit_view::Attr::new("http.route", "/users", 's');
    /// assert_eq!(a.text, "/users");
    /// ```
    pub fn new(key: impl Into<String>, text: impl Into<String>, kind: char) -> Attr {
        Attr {
            key: key.into(),
            text: text.into(),
            kind,
        }
    }
}

/// A timestamped event on a span.
#[derive(Clone, Debug, PartialEq)]
pub struct SpanEvent {
    /// Unix time in nanoseconds.
    pub time: u64,
    /// The event's name.
    pub name: String,
    /// Its fields.
    pub attrs: Vec<Attr>,
}

/// A link to another span.
#[derive(Clone, Debug, PartialEq)]
pub struct SpanLink {
    /// The linked trace, 32 hex digits.
    pub trace_id: String,
    /// The linked span, 16 hex digits.
    pub span_id: String,
}

/// One span, with its resource and scope by index into the [`TraceData`]'s tables.
#[derive(Clone, Debug, PartialEq)]
pub struct ViewSpan {
    /// 32 lowercase hex digits.
    pub trace_id: String,
    /// 16 lowercase hex digits.
    pub span_id: String,
    /// The parent's id, empty for a root.
    pub parent_id: String,
    /// The span's name.
    pub name: String,
    /// OTLP's span kind: 0 unspecified, 1 internal, 2 server, 3 client,
    /// 4 producer, 5 consumer.
    pub kind: u8,
    /// Unix time in nanoseconds.
    pub start: u64,
    /// Unix time in nanoseconds, never before `start`.
    pub end: u64,
    /// The span did not finish: it has no valid end time (`end` is then
    /// `start`), or tracekit marked it `unfinished` (its thread ended
    /// inside it). Its duration is no call's, so the functions view leaves
    /// it out.
    pub unfinished: bool,
    /// OTLP's status code: 0 unset, 1 ok, 2 error.
    pub status: u8,
    /// The status message.
    pub status_message: String,
    /// Tags.
    pub attrs: Vec<Attr>,
    /// Events.
    pub events: Vec<SpanEvent>,
    /// Links.
    pub links: Vec<SpanLink>,
    /// Index into [`TraceData::resources`].
    pub resource: usize,
    /// Index into [`TraceData::scopes`].
    pub scope: usize,
}

impl ViewSpan {
    /// Whether the span failed: an error status, or an `error=true` tag
    /// (the OpenTracing convention some producers still use).
    ///
    /// ```
    /// let mut s = tracekit_view::ViewSpan::default();
    /// s.status = 2;
    /// assert!(s.is_error());
    /// ```
    pub fn is_error(&self) -> bool {
        self.status == 2 || self.tagged("error")
    }

    /// Whether the tag `key` is `true`.
    fn tagged(&self, key: &str) -> bool {
        self.attrs.iter().any(|a| a.key == key && a.text == "true")
    }

    /// Marks the span unfinished when tracekit tagged it so (see
    /// [`ViewSpan::unfinished`]).
    pub(crate) fn with_unfinished_tag(mut self) -> ViewSpan {
        self.unfinished |= self.tagged("unfinished");
        self
    }
}

impl Default for ViewSpan {
    fn default() -> ViewSpan {
        ViewSpan {
            trace_id: "0".repeat(32),
            span_id: "0".repeat(16),
            parent_id: String::new(),
            name: String::new(),
            kind: 0,
            start: 0,
            end: 0,
            unfinished: false,
            status: 0,
            status_message: String::new(),
            attrs: Vec::new(),
            events: Vec::new(),
            links: Vec::new(),
            resource: 0,
            scope: 0,
        }
    }
}

/// The resource a span came from (`service.name` and the rest).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ViewResource {
    /// Its attributes.
    pub attrs: Vec<Attr>,
}

impl ViewResource {
    /// `service.name`, or `unknown_service`.
    ///
    /// ```
    /// let r = tracekit_view::ViewResource { attrs: vec![tracekit_view::Attr::new("service.name", "api", 's')] };
    /// assert_eq!(r.service_name(), "api");
    /// ```
    pub fn service_name(&self) -> &str {
        self.attrs
            .iter()
            .find(|a| a.key == "service.name")
            .map_or("unknown_service", |a| a.text.as_str())
    }
}

/// The instrumentation scope (library) that made a span.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ViewScope {
    /// The scope's name.
    pub name: String,
    /// The scope's version.
    pub version: String,
}

/// Everything read: spans of any number of traces, with their resources
/// and scopes, and what was wrong with the input.
///
/// ```
/// let data = tracekit_view::TraceData::default();
/// assert!(data.spans.is_empty());
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TraceData {
    /// The spans, in the order read.
    pub spans: Vec<ViewSpan>,
    /// Resources, referred to by index.
    pub resources: Vec<ViewResource>,
    /// Scopes, referred to by index.
    pub scopes: Vec<ViewScope>,
    /// Problems met while reading (a bad line, a duplicate span), shown on
    /// the page as well.
    pub warnings: Vec<String>,
}

impl TraceData {
    /// Keeps only the spans of one trace (32 hex digits, any case).
    ///
    /// ```
    /// let mut data = tracekit_view::TraceData::default();
    /// data.spans.push(tracekit_view::ViewSpan::default());
    /// data.retain_trace(&"1".repeat(32));
    /// assert!(data.spans.is_empty());
    /// ```
    pub fn retain_trace(&mut self, trace_id: &str) {
        let want = trace_id.to_ascii_lowercase();
        self.spans.retain(|s| s.trace_id == want);
    }

    /// Leaves out every span already read (the same trace and span id), the
    /// first kept, each with a warning: both outputs show a span once.
    pub(crate) fn drop_duplicates(&mut self) {
        let mut seen = std::collections::HashSet::new();
        let mut dropped = Vec::new();
        self.spans.retain(|s| {
            let new = seen.insert((s.trace_id.clone(), s.span_id.clone()));
            if !new {
                dropped.push(format!(
                    "span {} of trace {} appears twice; the first is shown",
                    s.span_id, s.trace_id
                ));
            }
            new
        });
        self.warnings.extend(dropped);
    }

    /// The index of this resource, added when new.
    pub(crate) fn resource_index(&mut self, resource: ViewResource) -> usize {
        match self.resources.iter().position(|r| *r == resource) {
            Some(i) => i,
            None => {
                self.resources.push(resource);
                self.resources.len() - 1
            }
        }
    }

    /// The index of this scope, added when new.
    pub(crate) fn scope_index(&mut self, scope: ViewScope) -> usize {
        match self.scopes.iter().position(|s| *s == scope) {
            Some(i) => i,
            None => {
                self.scopes.push(scope);
                self.scopes.len() - 1
            }
        }
    }
}
