//! Trace points: the static description of every instrumented function,
//! registered once at link time so the runtime can list them.

use crate::parts::SpanKind;
use crate::value::{Key, Value};
use std::borrow::Cow;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU8, Ordering};

/// Where an instrumented function lives and how its spans are named.
///
/// `#[trace_fn]` emits one `static` of this type per function, listed where
/// the runtime finds it (a linker section on ELF targets). All its strings
/// (the function's path, its file, the span name when it is not a part of
/// the path, the argument and field names) are one string made at compile
/// time, because every pointer in a static of a position-independent binary
/// costs a relocation entry three times its size.
///
/// ```
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
/// #[tracekit::trace_fn]
/// fn load_user(id: u64) -> u64 { id }
///
/// let point = tracekit::trace_points().find(|p| p.name() == "load_user").unwrap();
/// assert_eq!(point.function(), "load_user");
/// assert!(point.file().ends_with(".rs"));
/// ```
#[derive(Debug)]
pub struct Metadata {
    /// `module[::Type]::function \0 file \0 [name \0] tag \0 tag ...`
    strings: &'static str,
    /// Where the parts of `strings` end or start; see [`Lens`].
    lens: [u16; 6],
    line: u32,
    kind: SpanKind,
    /// How many argument names, then field keys, `strings` ends with.
    n_args: u8,
    n_tags: u8,
    /// On, off, or not worked out yet (see `filter`).
    pub(crate) state: AtomicU8,
}

/// The positions in [`Metadata`]'s `lens`.
struct Lens;
impl Lens {
    /// The module path's length: `strings[..MODULE]`.
    const MODULE: usize = 0;
    /// The namespace's length (the module path, then `::Type` in an impl).
    const NAMESPACE: usize = 1;
    /// The whole path's length, the function's name last.
    const PATH: usize = 2;
    /// The file's length; it starts after the path's NUL.
    const FILE: usize = 3;
    /// Where the span name starts and how long it is: inside the path
    /// (`function`, or `Type::function`), or after the file (a `name = ...`).
    const NAME_AT: usize = 4;
    const NAME_LEN: usize = 5;
}

impl Metadata {
    #[doc(hidden)]
    // Called by generated code, in a `static` initializer: where each part
    // of `strings` lies is worked out and checked here, at compile time
    // (so the expansion passes no lengths it would need `module_path!()` and
    // `file!()` a second time for, and reading a part later needs no check;
    // a layout that does not fit fails the build). `type_len` and `fn_len`
    // split the path, which ends at the first NUL; the file ends at the
    // second; with `own_name` the span's name follows, up to a third.
    #[allow(clippy::too_many_arguments)]
    pub const fn new(
        strings: &'static str,
        type_len: usize,
        fn_len: usize,
        own_name: bool,
        line: u32,
        kind: SpanKind,
        n_args: u8,
        n_tags: u8,
    ) -> Metadata {
        const fn nul_from(b: &[u8], mut i: usize) -> usize {
            while i < b.len() && b[i] != 0 {
                i += 1;
            }
            i
        }
        let b = strings.as_bytes();
        let len = b.len();
        let path = nul_from(b, 0);
        let file_end = nul_from(b, path + 1);
        let name_parts = if type_len == 0 {
            fn_len
        } else {
            type_len + 2 + fn_len
        };
        assert!(
            len <= u16::MAX as usize
                && file_end < len
                && path >= name_parts + 2
                && b[path - fn_len - 2] == b':'
                && b[path - fn_len - 1] == b':'
                && (type_len == 0
                    || (b[path - name_parts - 2] == b':' && b[path - name_parts - 1] == b':')),
            "tracekit: a trace point's strings do not match their lengths"
        );
        let namespace = path - fn_len - 2;
        let module_len = path - name_parts - 2;
        let (name_at, name_len) = if own_name {
            let at = file_end + 1;
            let end = nul_from(b, at);
            assert!(
                end < len,
                "tracekit: a trace point's strings do not match their lengths"
            );
            (at, end - at)
        } else {
            (module_len + 2, name_parts)
        };
        Metadata {
            strings,
            lens: [
                module_len as u16,
                namespace as u16,
                path as u16,
                (file_end - path - 1) as u16,
                name_at as u16,
                name_len as u16,
            ],
            line,
            kind,
            n_args,
            n_tags,
            state: AtomicU8::new(crate::filter::UNRESOLVED),
        }
    }

    /// `strings[from..from + len]`.
    #[inline(always)]
    fn slice(&self, from: usize, len: usize) -> &'static str {
        // Every part `new` laid out is within the string and starts and ends
        // beside an ASCII `:` or NUL it checked, or at an end of the string:
        // on character boundaries. Checked again here in debug builds.
        debug_assert!(self.strings.is_char_boundary(from));
        debug_assert!(self.strings.is_char_boundary(from + len));
        // SAFETY: as said above; the part is valid UTF-8 as a slice of a
        // `str` on character boundaries.
        unsafe {
            std::str::from_utf8_unchecked(self.strings.as_bytes().get_unchecked(from..from + len))
        }
    }

    /// Where the argument and field names start.
    fn tags_at(&self) -> usize {
        let after_file =
            usize::from(self.lens[Lens::PATH]) + 1 + usize::from(self.lens[Lens::FILE]) + 1;
        let name_at = usize::from(self.lens[Lens::NAME_AT]);
        if name_at >= after_file {
            // A name of its own, after the file.
            name_at + usize::from(self.lens[Lens::NAME_LEN]) + 1
        } else {
            after_file
        }
        .min(self.strings.len())
    }

    /// Whether calls of this point make spans: one relaxed load, and the
    /// filter's answer on the first call.
    #[inline(always)]
    pub(crate) fn is_on(&'static self) -> bool {
        match self.state.load(Ordering::Relaxed) {
            crate::filter::ON => true,
            crate::filter::OFF => false,
            _ => crate::filter::resolve(self),
        }
    }

    /// Whether a call of this point starts a span here: the point is on,
    /// and the thread's top span records something (under one that records
    /// nothing, a call opens no span at all).
    #[inline]
    pub(crate) fn starts_here(&'static self) -> bool {
        self.is_on() && !crate::local::is_quiet()
    }

    /// The point's switch as last worked out: `filter::ON`, `OFF` or
    /// `UNRESOLVED`.
    #[inline(always)]
    pub(crate) fn state(&self) -> u8 {
        self.state.load(Ordering::Relaxed)
    }

    /// Whether calls of this point make spans now (the filter, the
    /// switches set on it, and tracing as a whole agree).
    ///
    /// ```
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// #[tracekit::trace_fn]
    /// fn audited() {}
    /// let p = tracekit::trace_points().find(|p| p.name() == "audited").unwrap();
    /// assert!(p.is_enabled());
    /// ```
    pub fn is_enabled(&'static self) -> bool {
        self.is_on()
    }

    /// Switches this point on or off while the program runs; it wins over
    /// the filter until [`set_filter`](crate::set_filter) is called again.
    /// Spans started inside a point switched off become children of the
    /// nearest enabled ancestor.
    ///
    /// ```
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// #[tracekit::trace_fn]
    /// fn outer() { inner() }
    /// #[tracekit::trace_fn]
    /// fn inner() { leaf() }
    /// #[tracekit::trace_fn]
    /// fn leaf() {}
    ///
    /// let inner_point = tracekit::trace_points().find(|p| p.name() == "inner").unwrap();
    /// inner_point.set_enabled(false);
    /// let ((), c) = tracekit::testing::capture(outer);
    /// assert_eq!(c.tree(), "outer\n  leaf\n");
    /// inner_point.set_enabled(true);
    /// ```
    pub fn set_enabled(&'static self, on: bool) {
        crate::filter::set_point(self, on);
    }

    /// The argument names, then the field keys.
    pub(crate) fn tag_names(&self) -> std::iter::Take<std::str::Split<'static, char>> {
        let at = self.tags_at();
        let n = usize::from(self.n_tags);
        self.slice(at, self.strings.len() - at).split('\0').take(n)
    }

    /// How many argument and field values a span of this point records.
    pub(crate) fn n_tags(&self) -> usize {
        usize::from(self.n_tags)
    }

    /// The span name (`function`, or `Type::method` inside `#[trace_impl]`).
    ///
    /// ```
    /// # #[tracekit::trace_fn] fn f() {}
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert!(tracekit::trace_points().any(|p| p.name() == "f"));
    /// ```
    #[inline(always)]
    pub fn name(&self) -> &'static str {
        self.slice(
            usize::from(self.lens[Lens::NAME_AT]),
            usize::from(self.lens[Lens::NAME_LEN]),
        )
    }

    /// The function's own name.
    ///
    /// ```
    /// # #[tracekit::trace_fn] fn g() {}
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert!(tracekit::trace_points().any(|p| p.function() == "g"));
    /// ```
    pub fn function(&self) -> &'static str {
        let path = usize::from(self.lens[Lens::PATH]);
        let from = (usize::from(self.lens[Lens::NAMESPACE]) + 2).min(path);
        self.slice(from, path - from)
    }

    /// The namespace: the module path, then `::Type` inside an impl.
    fn namespace(&self) -> &'static str {
        self.slice(0, usize::from(self.lens[Lens::NAMESPACE]))
    }

    /// The module path (`module_path!()`) of the function.
    ///
    /// ```
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// # #[tracekit::trace_fn] fn h() {}
    /// let p = tracekit::trace_points().find(|p| p.name() == "h").unwrap();
    /// assert!(!p.module_path().is_empty());
    /// ```
    pub fn module_path(&self) -> &'static str {
        self.slice(0, usize::from(self.lens[Lens::MODULE]))
    }

    /// The source file.
    ///
    /// ```
    /// # #[tracekit::trace_fn] fn i() {}
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert!(tracekit::trace_points().any(|p| p.name() == "i" && p.file().ends_with(".rs")));
    /// ```
    pub fn file(&self) -> &'static str {
        self.slice(
            usize::from(self.lens[Lens::PATH]) + 1,
            usize::from(self.lens[Lens::FILE]),
        )
    }

    /// The line of the function.
    ///
    /// ```
    /// # #[tracekit::trace_fn] fn j() {}
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert!(tracekit::trace_points().any(|p| p.name() == "j" && p.line() > 0));
    /// ```
    pub fn line(&self) -> u32 {
        self.line
    }

    /// The names of the recorded arguments, in order.
    ///
    /// ```
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// # #[tracekit::trace_fn] fn k(a: u8, b: u8) {}
    /// let p = tracekit::trace_points().find(|p| p.name() == "k").unwrap();
    /// assert_eq!(p.args().collect::<Vec<_>>(), ["a", "b"]);
    /// ```
    pub fn args(&self) -> impl Iterator<Item = &'static str> + use<> {
        self.tag_names().take(usize::from(self.n_args))
    }

    /// The keys of the `fields(...)` tags, in order.
    ///
    /// ```
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// # #[tracekit::trace_fn(fields(db.system = "postgres"))] fn q() {}
    /// let p = tracekit::trace_points().find(|p| p.name() == "q").unwrap();
    /// assert_eq!(p.fields().collect::<Vec<_>>(), ["db.system"]);
    /// ```
    pub fn fields(&self) -> impl Iterator<Item = &'static str> + use<> {
        self.tag_names().skip(usize::from(self.n_args))
    }

    /// The kind of the spans (`kind = "..."`; internal by default).
    ///
    /// ```
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// # #[tracekit::trace_fn(kind = "server")] fn serve() {}
    /// let p = tracekit::trace_points().find(|p| p.name() == "serve").unwrap();
    /// assert_eq!(p.kind(), tracekit::SpanKind::Server);
    /// ```
    pub fn kind(&self) -> SpanKind {
        self.kind
    }

    /// The `code.*` tags, made when first read and kept in one table for
    /// the program: stored in each function's static they would triple its
    /// size, for functions that may never be reported.
    pub(crate) fn code_tags(&'static self) -> &'static [(Key, Value)] {
        /// Trace point address to its tags, sorted by address.
        type Table = Vec<(usize, &'static [(Key, Value)])>;
        static TABLE: RwLock<Table> = RwLock::new(Vec::new());
        let me = self as *const Metadata as usize;
        let find = |t: &Table| t.binary_search_by_key(&me, |(k, _)| *k).map(|i| t[i].1);
        if let Ok(tags) = find(&TABLE.read().unwrap_or_else(|p| p.into_inner())) {
            return tags;
        }
        let mut table = TABLE.write().unwrap_or_else(|p| p.into_inner());
        match find(&table) {
            Ok(tags) => tags,
            Err(at) => {
                let tags: &'static [(Key, Value)] = Box::leak(Box::new(self.make_code_tags()));
                table.insert(at, (me, tags));
                tags
            }
        }
    }

    fn make_code_tags(&self) -> [(Key, Value); 4] {
        {
            [
                (
                    Cow::Borrowed("code.function"),
                    Value::from_static(self.function()),
                ),
                (
                    Cow::Borrowed("code.namespace"),
                    Value::from_static(self.namespace()),
                ),
                (
                    Cow::Borrowed("code.filepath"),
                    Value::from_static(self.file()),
                ),
                (
                    Cow::Borrowed("code.lineno"),
                    Value::I64(i64::from(self.line)),
                ),
            ]
        }
    }
}

#[doc(hidden)]
pub struct TracePoint(pub &'static Metadata);

// Where the trace points are listed. On ELF platforms, a linker section of
// pointers: each point costs one pointer (and its relocation), and nothing
// runs at start-up; the linker defines `__start_`/`__stop_` bounds for a
// section whose name is an identifier. (The statics themselves in the
// section would save the pointer, but a `#[used]` static is a global
// symbol, which code in a library crate then reaches through the GOT: a
// load more on every call, and a GOT entry with its relocation anyway.)
// Elsewhere, inventory's constructors.
#[cfg(not(tracekit_elf_points))]
inventory::collect!(TracePoint);

#[cfg(tracekit_elf_points)]
mod section {
    use super::Metadata;

    /// The runtime's own entry, none: the section, and so its bounds, exist
    /// in every program that links tracekit.
    #[used]
    #[unsafe(link_section = "tracekit_points")]
    static NONE: Option<&'static Metadata> = None;

    // The bounds the linker defines; only their addresses are used.
    unsafe extern "C" {
        #[link_name = "__start_tracekit_points"]
        static START: u8;
        #[link_name = "__stop_tracekit_points"]
        static STOP: u8;
    }

    /// Every entry of the section.
    pub(super) fn entries() -> &'static [Option<&'static Metadata>] {
        let start = (&raw const START).cast::<Option<&'static Metadata>>();
        let stop = (&raw const STOP).cast::<Option<&'static Metadata>>();
        // The section holds `Option<&Metadata>`s only, each pointer-sized
        // and -aligned, so the bounds are a whole number of them apart.
        let len = (stop as usize - start as usize) / size_of::<Option<&'static Metadata>>();
        // SAFETY: the linker laid the section's entries out contiguously
        // between its bounds; each is a static, initialised, never written.
        unsafe { std::slice::from_raw_parts(start, len) }
    }
}

/// Declares the trace point `$meta` (a `static Metadata` with this
/// initializer) where [`trace_points`] finds it. Used by generated code.
#[cfg(tracekit_elf_points)]
#[doc(hidden)]
#[macro_export]
macro_rules! __tk_trace_point {
    ($meta:ident = $init:expr) => {
        static $meta: $crate::__private::Metadata = $init;
        #[used]
        #[unsafe(link_section = "tracekit_points")]
        static __TK_POINT: ::core::option::Option<&'static $crate::__private::Metadata> =
            ::core::option::Option::Some(&$meta);
    };
}

/// Declares the trace point `$meta` (a `static Metadata` with this
/// initializer) where [`trace_points`] finds it. Used by generated code.
#[cfg(not(tracekit_elf_points))]
#[doc(hidden)]
#[macro_export]
macro_rules! __tk_trace_point {
    ($meta:ident = $init:expr) => {
        static $meta: $crate::__private::Metadata = $init;
        $crate::__private::inventory::submit! {
            $crate::__private::TracePoint(&$meta)
        }
    };
}

/// Every function instrumented with `#[trace_fn]` or `#[trace_impl]` in the
/// program, whether or not it has been called.
///
/// ```
/// #[tracekit::trace_fn]
/// fn never_called() {}
///
/// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
/// assert!(tracekit::trace_points().any(|p| p.name() == "never_called"));
/// ```
pub fn trace_points() -> impl Iterator<Item = &'static Metadata> {
    #[cfg(tracekit_elf_points)]
    return section::entries().iter().flatten().copied();
    #[cfg(not(tracekit_elf_points))]
    return inventory::iter::<TracePoint>.into_iter().map(|p| p.0);
}

#[cfg(test)]
mod tests {
    use super::Metadata;
    use crate::parts::SpanKind;

    fn point(strings: &'static str, type_len: usize, fn_len: usize, own: bool) -> Metadata {
        Metadata::new(strings, type_len, fn_len, own, 7, SpanKind::Internal, 1, 1)
    }

    #[test]
    fn the_parts_of_a_point_come_from_one_string() {
        let p = point("app::f\0x.rs\0a\0", 0, 1, false);
        assert_eq!(
            (p.name(), p.function(), p.module_path(), p.file()),
            ("f", "f", "app", "x.rs")
        );
        assert_eq!(p.tag_names().collect::<Vec<_>>(), ["a"]);
        let m = point("app::db::Ty::find\0src/db.rs\0id\0", 2, 4, false);
        assert_eq!(
            (
                m.name(),
                m.function(),
                m.namespace(),
                m.module_path(),
                m.file()
            ),
            ("Ty::find", "find", "app::db::Ty", "app::db", "src/db.rs")
        );
        assert_eq!(m.tag_names().collect::<Vec<_>>(), ["id"]);
        let n = point("app::f\0x.rs\0héllo\0a\0", 0, 1, true);
        assert_eq!((n.name(), n.function()), ("héllo", "f"));
        assert_eq!(n.tag_names().collect::<Vec<_>>(), ["a"]);
    }

    #[test]
    #[should_panic(expected = "do not match their lengths")]
    fn a_name_length_that_does_not_fit_the_path_is_refused() {
        point("app::f\0x.rs\0", 0, 3, false);
    }

    #[test]
    #[should_panic(expected = "do not match their lengths")]
    fn a_string_without_its_file_is_refused() {
        point("app::f\0x.rs", 0, 1, false);
    }

    #[test]
    #[should_panic(expected = "do not match their lengths")]
    fn an_own_name_without_its_end_is_refused() {
        point("app::f\0x.rs\0héllo", 0, 1, true);
    }

    #[test]
    #[should_panic(expected = "do not match their lengths")]
    fn a_length_that_would_cut_a_character_is_refused() {
        // `fé` is 3 bytes: 2 would start the name inside it, not after `::`.
        point("app::fé\0x.rs\0", 0, 2, false);
    }
}
