//! Trace points: the static description of every instrumented function,
//! registered once at link time so the runtime can list them.

use crate::parts::SpanKind;
use crate::value::{Key, Value};
use std::borrow::Cow;

/// Where an instrumented function lives and how its spans are named.
///
/// `#[trace_fn]` emits one `static` of this type per function; its `code.*`
/// tags are built at compile time so spans carry them at no run-time cost.
///
/// ```
/// #[tracekit::trace_fn]
/// fn load_user(id: u64) -> u64 { id }
///
/// let point = tracekit::trace_points().find(|p| p.name() == "load_user").unwrap();
/// assert_eq!(point.function(), "load_user");
/// assert!(point.file().ends_with(".rs"));
/// ```
#[derive(Debug)]
pub struct Metadata {
    name: &'static str,
    module_path: &'static str,
    file: &'static str,
    line: u32,
    kind: SpanKind,
    /// The argument names, then the `fields(...)` keys.
    tags: &'static [&'static str],
    n_args: usize,
    code: [(Key, Value); 4],
}

impl Metadata {
    #[doc(hidden)]
    // Called only by generated code, in a `static` initializer: one flat
    // `const fn` keeps each expansion a single item.
    #[allow(clippy::too_many_arguments)]
    pub const fn new(
        name: &'static str,
        function: &'static str,
        namespace: &'static str,
        module_path: &'static str,
        file: &'static str,
        line: u32,
        kind: SpanKind,
        tags: &'static [&'static str],
        n_args: usize,
    ) -> Metadata {
        Metadata {
            name,
            module_path,
            file,
            line,
            kind,
            tags,
            n_args,
            code: [
                (Cow::Borrowed("code.function"), Value::from_static(function)),
                (
                    Cow::Borrowed("code.namespace"),
                    Value::from_static(namespace),
                ),
                (Cow::Borrowed("code.filepath"), Value::from_static(file)),
                (Cow::Borrowed("code.lineno"), Value::I64(line as i64)),
            ],
        }
    }

    /// The span name (`function`, or `Type::method` inside `#[trace_impl]`).
    ///
    /// ```
    /// # #[tracekit::trace_fn] fn f() {}
    /// assert!(tracekit::trace_points().any(|p| p.name() == "f"));
    /// ```
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The function's own name.
    ///
    /// ```
    /// # #[tracekit::trace_fn] fn g() {}
    /// assert!(tracekit::trace_points().any(|p| p.function() == "g"));
    /// ```
    pub fn function(&self) -> &'static str {
        match &self.code[0].1 {
            Value::Str(Cow::Borrowed(s)) => s,
            _ => self.name,
        }
    }

    /// The module path (`module_path!()`) of the function.
    ///
    /// ```
    /// # #[tracekit::trace_fn] fn h() {}
    /// let p = tracekit::trace_points().find(|p| p.name() == "h").unwrap();
    /// assert!(!p.module_path().is_empty());
    /// ```
    pub fn module_path(&self) -> &'static str {
        self.module_path
    }

    /// The source file.
    ///
    /// ```
    /// # #[tracekit::trace_fn] fn i() {}
    /// assert!(tracekit::trace_points().any(|p| p.name() == "i" && p.file().ends_with(".rs")));
    /// ```
    pub fn file(&self) -> &'static str {
        self.file
    }

    /// The line of the function.
    ///
    /// ```
    /// # #[tracekit::trace_fn] fn j() {}
    /// assert!(tracekit::trace_points().any(|p| p.name() == "j" && p.line() > 0));
    /// ```
    pub fn line(&self) -> u32 {
        self.line
    }

    /// The names of the recorded arguments, in order.
    ///
    /// ```
    /// # #[tracekit::trace_fn] fn k(a: u8, b: u8) {}
    /// assert!(tracekit::trace_points().any(|p| p.name() == "k" && p.args() == ["a", "b"]));
    /// ```
    pub fn args(&self) -> &'static [&'static str] {
        &self.tags[..self.n_args]
    }

    /// The keys of the `fields(...)` tags, in order.
    ///
    /// ```
    /// # #[tracekit::trace_fn(fields(db.system = "postgres"))] fn q() {}
    /// assert!(tracekit::trace_points().any(|p| p.name() == "q" && p.fields() == ["db.system"]));
    /// ```
    pub fn fields(&self) -> &'static [&'static str] {
        &self.tags[self.n_args..]
    }

    /// The kind of the spans (`kind = "..."`; internal by default).
    ///
    /// ```
    /// # #[tracekit::trace_fn(kind = "server")] fn serve() {}
    /// let p = tracekit::trace_points().find(|p| p.name() == "serve").unwrap();
    /// assert_eq!(p.kind(), tracekit::SpanKind::Server);
    /// ```
    pub fn kind(&self) -> SpanKind {
        self.kind
    }

    /// The argument names then the field keys, matching the values the
    /// generated code records.
    pub(crate) fn tag_names(&self) -> &'static [&'static str] {
        self.tags
    }

    pub(crate) fn code_tags(&'static self) -> &'static [(Key, Value)] {
        &self.code
    }
}

#[doc(hidden)]
pub struct TracePoint(pub &'static Metadata);

inventory::collect!(TracePoint);

/// Every function instrumented with `#[trace_fn]` or `#[trace_impl]` in the
/// program, whether or not it has been called.
///
/// ```
/// #[tracekit::trace_fn]
/// fn never_called() {}
///
/// assert!(tracekit::trace_points().any(|p| p.name() == "never_called"));
/// ```
pub fn trace_points() -> impl Iterator<Item = &'static Metadata> {
    inventory::iter::<TracePoint>.into_iter().map(|p| p.0)
}
