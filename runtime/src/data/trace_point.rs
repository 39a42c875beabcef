//! Trace points: the static description of every instrumented function,
//! registered once at link time so the runtime can list them.

use crate::data::parts::SpanKind;
use crate::data::value::{Key, Value};
use std::borrow::Cow;
use std::fmt;
use std::ptr::NonNull;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU8, AtomicU16, Ordering};

/// A trace point's switch: not worked out yet (its first call that can
/// record asks the filter, `sampling/filter.rs`), on, off, or on for a
/// point whose every call starts a new trace (`#[trace_fn(root)]`: such a
/// call never takes the fast path of a child, which tests for `ON` alone).
/// Kept in the point, so the hot path reads it with one load and no call.
pub(crate) const UNRESOLVED: u8 = 0;
pub(crate) const ON: u8 = 1;
pub(crate) const OFF: u8 = 2;
pub(crate) const ON_ROOT: u8 = 3;

/// The bit of a point's line that says its calls start new traces (a line
/// number never reaches it).
const ROOT_BIT: u32 = 1 << 31;

/// Where an instrumented function lives and how its spans are named.
///
/// `#[trace_fn]` emits one `static` per function, listed where the runtime
/// finds it (a linker section on ELF targets). Its strings (the function's
/// path, its file, the span name when it is not a part of the path, the
/// argument and field names) are one string made at compile time and
/// stored in the static itself, after a small header: in a
/// position-independent binary a pointer to them would cost a relocation
/// entry three times its own size, per function.
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
///
/// `S` is how the strings are held: `[u8]` in every `Metadata` a program
/// sees (the default, so it is named just `Metadata`); a byte array of
/// their length in the `static` the macro emits.
#[repr(C)]
pub struct Metadata<S: ?Sized = [u8]> {
    head: Head,
    /// `module[::Type]::function \0 file \0 [name \0] tag \0 tag ...`, UTF-8.
    strings: S,
}

/// What a trace point's static holds before its strings: everything the
/// hot path reads. Aligned to 2, so the strings follow it with no padding.
#[repr(C)]
struct Head {
    /// Where the parts of the strings end or start, and their whole length;
    /// see [`Lens`].
    lens: [u16; 7],
    /// The line, in two halves (a `u32` would align the header to 4).
    line: [u16; 2],
    kind: SpanKind,
    /// How many argument names, then field keys, the strings end with.
    n_args: u8,
    n_tags: u8,
    /// On, off, or not worked out yet (see `filter`).
    state: AtomicU8,
    /// The point's slot in the metrics tables, 0 until its first counted
    /// call (`data/metrics.rs`).
    slot: AtomicU16,
}

// The header the strings follow, with no padding between (the docs say
// "after a small header"), and the section's entries, one pointer each.
const _: () = assert!(size_of::<Head>() == 24 && align_of::<Head>() == 2);
const _: () = assert!(size_of::<Option<Point>>() == size_of::<usize>());

/// A trace point as the runtime holds it: a thin pointer to its static.
/// Made only from a reference to the whole static (header and strings), so
/// it may reach the strings; the header alone is read on the hot path.
#[doc(hidden)]
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(transparent)]
pub struct Point(NonNull<Head>);

// SAFETY: a point refers to a `static` that lives for the whole program;
// the one part of it ever written is an atomic.
unsafe impl Send for Point {}
// SAFETY: as above.
unsafe impl Sync for Point {}

/// The positions in [`Head`]'s `lens`.
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
    /// The length of all the strings.
    const ALL: usize = 6;
}

impl<const N: usize> Metadata<[u8; N]> {
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
        root: bool,
        kind: SpanKind,
        n_args: u8,
        n_tags: u8,
    ) -> Metadata<[u8; N]> {
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
            len == N
                && len <= u16::MAX as usize
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
        let Some(bytes) = b.first_chunk::<N>() else {
            panic!("tracekit: a trace point's strings do not match their lengths")
        };
        Metadata {
            head: Head {
                lens: [
                    module_len as u16,
                    namespace as u16,
                    path as u16,
                    (file_end - path - 1) as u16,
                    name_at as u16,
                    name_len as u16,
                    len as u16,
                ],
                line: {
                    let line = if root { line | ROOT_BIT } else { line };
                    [line as u16, (line >> 16) as u16]
                },
                kind,
                n_args,
                n_tags,
                state: AtomicU8::new(UNRESOLVED),
                slot: AtomicU16::new(0),
            },
            strings: *bytes,
        }
    }
}

impl Point {
    /// The header, the part the hot path reads.
    #[inline(always)]
    fn head(self) -> &'static Head {
        // SAFETY: the pointer is to a `static`'s header (see `Point`).
        unsafe { self.0.as_ref() }
    }

    /// The whole point, strings included.
    #[inline]
    pub(crate) fn metadata(self) -> &'static Metadata {
        let len = usize::from(self.head().lens[Lens::ALL]);
        let whole = std::ptr::slice_from_raw_parts(self.0.as_ptr().cast_const().cast::<u8>(), len);
        // SAFETY: the pointer was made from a reference to the whole static
        // (`Metadata::point`), whose layout is `Metadata`'s with `len` bytes
        // of strings (both `repr(C)`, the same header, then bytes), and so
        // may reach all of it.
        unsafe { &*(whole as *const Metadata) }
    }

    /// The point's address, to key tables by.
    pub(crate) fn addr(self) -> usize {
        self.0.as_ptr() as usize
    }

    /// The span name; see [`Metadata::name`]. Read on the hot path, from
    /// the header without the strings' length.
    #[inline(always)]
    pub(crate) fn name(self) -> &'static str {
        let lens = &self.head().lens;
        let at = usize::from(lens[Lens::NAME_AT]);
        let len = usize::from(lens[Lens::NAME_LEN]);
        // SAFETY: `Metadata::new` checked that the name lies within the
        // strings, on character boundaries (see `Metadata::slice`); the
        // pointer may reach the strings (see `Point`), which start right
        // after the header.
        unsafe {
            let from = self.0.as_ptr().cast::<u8>().add(size_of::<Head>() + at);
            std::str::from_utf8_unchecked(std::slice::from_raw_parts(from, len))
        }
    }

    /// The kind of the point's spans.
    #[inline(always)]
    pub(crate) fn kind(self) -> SpanKind {
        self.head().kind
    }

    /// How many argument and field values a span of this point records.
    pub(crate) fn n_tags(self) -> usize {
        usize::from(self.head().n_tags)
    }

    /// The point's switch as last worked out: [`ON`], [`OFF`] or
    /// [`UNRESOLVED`] (the filter works it out: `sampling/filter.rs`).
    #[inline(always)]
    pub(crate) fn state(self) -> u8 {
        self.head().state.load(Ordering::Relaxed)
    }

    /// Sets the point's switch.
    pub(crate) fn set_state(self, state: u8) {
        self.head().state.store(state, Ordering::Relaxed);
    }

    /// The point's slot in the metrics tables if it has one yet.
    #[inline(always)]
    pub(crate) fn made_slot(self) -> Option<usize> {
        match self.head().slot.load(Ordering::Relaxed) {
            0 => None,
            s => Some(usize::from(s)),
        }
    }

    /// The point's slot in the metrics tables.
    #[inline(always)]
    pub(crate) fn metrics_slot(self) -> usize {
        crate::data::metrics::slot_of(self, &self.head().slot)
    }

    /// Whether every call of this point starts a new trace
    /// (`#[trace_fn(root)]`).
    pub(crate) fn is_root(self) -> bool {
        self.head().line() & ROOT_BIT != 0
    }
}

impl Head {
    /// The line with the root bit.
    fn line(&self) -> u32 {
        let [low, high] = self.line;
        u32::from(low) | u32::from(high) << 16
    }
}

impl fmt::Debug for Point {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.metadata().fmt(f)
    }
}

impl fmt::Debug for Metadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Metadata")
            .field("name", &self.name())
            .field("module_path", &self.module_path())
            .field("file", &self.file())
            .field("line", &self.line())
            .field("kind", &self.kind())
            .finish_non_exhaustive()
    }
}

impl Metadata {
    /// The point, for the runtime: from this reference to the whole static.
    #[doc(hidden)]
    #[inline(always)]
    pub const fn point(&'static self) -> Point {
        // From the reference to the whole static: the pointer may reach the
        // strings after the header.
        // SAFETY: a reference is never null.
        Point(unsafe { NonNull::new_unchecked((self as *const Metadata).cast_mut().cast()) })
    }

    /// The strings, all of them.
    #[inline(always)]
    fn strings(&self) -> &str {
        // SAFETY: `Metadata::new`, the one way to make one, copied them
        // from a `str`.
        unsafe { std::str::from_utf8_unchecked(&self.strings) }
    }

    /// `strings[from..from + len]`.
    #[inline(always)]
    fn slice(&self, from: usize, len: usize) -> &str {
        let strings = self.strings();
        // Every part `new` laid out is within the string and starts and ends
        // beside an ASCII `:` or NUL it checked, or at an end of the string:
        // on character boundaries. Checked again here in debug builds.
        debug_assert!(strings.is_char_boundary(from));
        debug_assert!(strings.is_char_boundary(from + len));
        // SAFETY: as said above; the part is valid UTF-8 as a slice of a
        // `str` on character boundaries.
        unsafe { std::str::from_utf8_unchecked(strings.as_bytes().get_unchecked(from..from + len)) }
    }

    fn lens(&self) -> &[u16; 7] {
        &self.head.lens
    }

    /// Where the argument and field names start.
    fn tags_at(&self) -> usize {
        let lens = self.lens();
        let after_file = usize::from(lens[Lens::PATH]) + 1 + usize::from(lens[Lens::FILE]) + 1;
        let name_at = usize::from(lens[Lens::NAME_AT]);
        if name_at >= after_file {
            // A name of its own, after the file.
            name_at + usize::from(lens[Lens::NAME_LEN]) + 1
        } else {
            after_file
        }
        .min(self.strings.len())
    }

    /// The argument names, then the field keys.
    pub(crate) fn tag_names(&self) -> std::iter::Take<std::str::Split<'_, char>> {
        let at = self.tags_at();
        let n = usize::from(self.head.n_tags);
        self.slice(at, self.strings.len() - at).split('\0').take(n)
    }

    /// The span name (`function`, or `Type::method` inside `#[trace_impl]`).
    ///
    /// ```
    /// # #[tracekit::trace_fn] fn f() {}
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert!(tracekit::trace_points().any(|p| p.name() == "f"));
    /// ```
    #[inline(always)]
    pub fn name(&self) -> &str {
        self.slice(
            usize::from(self.lens()[Lens::NAME_AT]),
            usize::from(self.lens()[Lens::NAME_LEN]),
        )
    }

    /// The function's own name.
    ///
    /// ```
    /// # #[tracekit::trace_fn] fn g() {}
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert!(tracekit::trace_points().any(|p| p.function() == "g"));
    /// ```
    pub fn function(&self) -> &str {
        let path = usize::from(self.lens()[Lens::PATH]);
        let from = (usize::from(self.lens()[Lens::NAMESPACE]) + 2).min(path);
        self.slice(from, path - from)
    }

    /// The function's full path: its namespace, `::` and its own name, as
    /// OpenTelemetry's `code.function.name` says a function (the span's,
    /// and its metrics' series).
    ///
    /// ```
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// struct Repo;
    /// #[tracekit::trace_impl]
    /// impl Repo { fn find(&self) {} }
    /// let p = tracekit::trace_points().find(|p| p.name() == "Repo::find").unwrap();
    /// assert_eq!(p.path(), format!("{}::find", p.namespace()));
    /// assert!(p.path().ends_with("::Repo::find"));
    /// ```
    pub fn path(&self) -> &str {
        self.slice(0, usize::from(self.lens()[Lens::PATH]))
    }

    /// The namespace: the module path, then `::Type` inside an impl.
    ///
    /// ```
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// struct Repo;
    /// #[tracekit::trace_impl]
    /// impl Repo { fn find(&self) {} }
    /// let p = tracekit::trace_points().find(|p| p.name() == "Repo::find").unwrap();
    /// assert!(p.namespace().ends_with("::Repo"));
    /// ```
    pub fn namespace(&self) -> &str {
        self.slice(0, usize::from(self.lens()[Lens::NAMESPACE]))
    }

    /// The module path (`module_path!()`) of the function.
    ///
    /// ```
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// # #[tracekit::trace_fn] fn h() {}
    /// let p = tracekit::trace_points().find(|p| p.name() == "h").unwrap();
    /// assert!(!p.module_path().is_empty());
    /// ```
    pub fn module_path(&self) -> &str {
        self.slice(0, usize::from(self.lens()[Lens::MODULE]))
    }

    /// The source file.
    ///
    /// ```
    /// # #[tracekit::trace_fn] fn i() {}
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// assert!(tracekit::trace_points().any(|p| p.name() == "i" && p.file().ends_with(".rs")));
    /// ```
    pub fn file(&self) -> &str {
        self.slice(
            usize::from(self.lens()[Lens::PATH]) + 1,
            usize::from(self.lens()[Lens::FILE]),
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
        self.head.line() & !ROOT_BIT
    }

    /// The names of the recorded arguments, in order.
    ///
    /// ```
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// # #[tracekit::trace_fn] fn k(a: u8, b: u8) {}
    /// let p = tracekit::trace_points().find(|p| p.name() == "k").unwrap();
    /// assert_eq!(p.args().collect::<Vec<_>>(), ["a", "b"]);
    /// ```
    pub fn args(&self) -> impl Iterator<Item = &str> {
        self.tag_names().take(usize::from(self.head.n_args))
    }

    /// The keys of the `fields(...)` tags, in order.
    ///
    /// ```
    /// # if !tracekit::TRACE_ALL { return; } // tracing compiled out: nothing to show
    /// # #[tracekit::trace_fn(fields(db.system = "postgres"))] fn q() {}
    /// let p = tracekit::trace_points().find(|p| p.name() == "q").unwrap();
    /// assert_eq!(p.fields().collect::<Vec<_>>(), ["db.system"]);
    /// ```
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.tag_names().skip(usize::from(self.head.n_args))
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
        self.head.kind
    }

    /// The `code.*` tags, made when first read and kept in one table for
    /// the program: stored in each function's static they would triple its
    /// size, for functions that may never be reported.
    pub(crate) fn code_tags(&'static self) -> &'static [(Key, Value)] {
        /// Trace point address to its tags, sorted by address.
        type Table = Vec<(usize, &'static [(Key, Value)])>;
        static TABLE: RwLock<Table> = RwLock::new(Vec::new());
        let me = self.point().addr();
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

    fn make_code_tags(&'static self) -> [(Key, Value); 4] {
        {
            [
                // OpenTelemetry's code attributes as they now stand: the
                // full path is the function's name; the namespace stays
                // beside it (deprecated there, but what metrics group by).
                (
                    Cow::Borrowed("code.function.name"),
                    Value::from_static(self.path()),
                ),
                (
                    Cow::Borrowed("code.namespace"),
                    Value::from_static(self.namespace()),
                ),
                (
                    Cow::Borrowed("code.file.path"),
                    Value::from_static(self.file()),
                ),
                (
                    Cow::Borrowed("code.line.number"),
                    Value::I64(i64::from(self.line())),
                ),
            ]
        }
    }
}

#[doc(hidden)]
pub struct TracePoint(pub Point);

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

//
// The section's name carries this crate's semver-compatible version
// (`tracekit_points_v0_1`; build.rs makes the name): a program that links two
// copies of tracekit (0.1 and 0.2 in one dependency tree) has two sections,
// and each copy lists, switches and reads only its own points, with its
// own layout. One shared name would hand each copy the other's statics.
#[cfg(tracekit_elf_points)]
include!(concat!(env!("OUT_DIR"), "/points_section.rs"));

#[cfg(tracekit_elf_points)]
mod section {
    use super::Point;

    /// The runtime's own entry, none: the section, and so its bounds, exist
    /// in every program that links tracekit.
    #[used]
    #[unsafe(link_section = __tk_points_section!())]
    static NONE: Option<Point> = None;

    // The bounds the linker defines; only their addresses are used.
    unsafe extern "C" {
        #[link_name = concat!("__start_", __tk_points_section!())]
        static START: u8;
        #[link_name = concat!("__stop_", __tk_points_section!())]
        static STOP: u8;
    }

    /// Every entry of the section.
    pub(super) fn entries() -> &'static [Option<Point>] {
        let start = (&raw const START).cast::<Option<Point>>();
        let stop = (&raw const STOP).cast::<Option<Point>>();
        // The section holds `Option<Point>`s only, each pointer-sized and
        // -aligned, so the bounds are a whole number of them apart.
        let len = (stop as usize - start as usize) / size_of::<Option<Point>>();
        // SAFETY: the linker laid the section's entries out contiguously
        // between its bounds; each is a static, initialised, never written.
        unsafe { std::slice::from_raw_parts(start, len) }
    }
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
    return section::entries().iter().flatten().map(|p| p.metadata());
    #[cfg(not(tracekit_elf_points))]
    return inventory::iter::<TracePoint>
        .into_iter()
        .map(|p| p.0.metadata());
}

#[cfg(test)]
mod tests {
    use super::Metadata;
    use crate::data::parts::SpanKind;

    /// A point as generated code makes one, in a static.
    macro_rules! point {
        ($strings:expr, $type_len:expr, $fn_len:expr, $own:expr) => {{
            const S: &str = $strings;
            static P: Metadata<[u8; S.len()]> = Metadata::new(
                S,
                $type_len,
                $fn_len,
                $own,
                7,
                false,
                SpanKind::Internal,
                1,
                1,
            );
            let m: &'static Metadata = &P;
            // Through the runtime's thin pointer and back.
            m.point().metadata()
        }};
    }

    /// `Metadata::new` run when the program runs, to see it refuse.
    fn refused<const N: usize>(strings: &'static str, type_len: usize, fn_len: usize, own: bool) {
        Metadata::<[u8; N]>::new(
            strings,
            type_len,
            fn_len,
            own,
            7,
            false,
            SpanKind::Internal,
            1,
            1,
        );
    }

    #[test]
    fn the_parts_of_a_point_come_from_one_string() {
        let p = point!("app::f\0x.rs\0a\0", 0, 1, false);
        assert_eq!(
            (p.name(), p.function(), p.module_path(), p.file(), p.line()),
            ("f", "f", "app", "x.rs", 7)
        );
        assert_eq!(p.tag_names().collect::<Vec<_>>(), ["a"]);
        let m = point!("app::db::Ty::find\0src/db.rs\0id\0", 2, 4, false);
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
        assert_eq!(m.path(), "app::db::Ty::find");
        assert_eq!(p.path(), "app::f");
        assert_eq!(m.tag_names().collect::<Vec<_>>(), ["id"]);
        assert_eq!(
            m.point().name(),
            "Ty::find",
            "the hot path's read of the name"
        );
        let n = point!("app::f\0x.rs\0héllo\0a\0", 0, 1, true);
        assert_eq!((n.name(), n.function()), ("héllo", "f"));
        assert_eq!(n.point().name(), "héllo");
        assert_eq!(n.tag_names().collect::<Vec<_>>(), ["a"]);
    }

    #[test]
    fn a_line_past_65535_is_kept_whole() {
        const S: &str = "app::f\0x.rs\0";
        static P: Metadata<[u8; S.len()]> =
            Metadata::new(S, 0, 1, false, 70_001, false, SpanKind::Server, 0, 0);
        let p = Metadata::point(&P);
        assert_eq!(
            (p.metadata().line(), p.kind(), p.n_tags()),
            (70_001, SpanKind::Server, 0)
        );
    }

    #[test]
    fn a_root_point_keeps_its_line_and_says_it_is_a_root() {
        const S: &str = "app::f\0x.rs\0";
        static ROOT: Metadata<[u8; S.len()]> =
            Metadata::new(S, 0, 1, false, 70_001, true, SpanKind::Internal, 0, 0);
        static CHILD: Metadata<[u8; S.len()]> =
            Metadata::new(S, 0, 1, false, 70_001, false, SpanKind::Internal, 0, 0);
        let (root, child) = (Metadata::point(&ROOT), Metadata::point(&CHILD));
        assert_eq!((root.metadata().line(), root.is_root()), (70_001, true));
        assert_eq!((child.metadata().line(), child.is_root()), (70_001, false));
    }

    #[test]
    #[should_panic(expected = "do not match their lengths")]
    fn a_name_length_that_does_not_fit_the_path_is_refused() {
        refused::<12>("app::f\0x.rs\0", 0, 3, false);
    }

    #[test]
    #[should_panic(expected = "do not match their lengths")]
    fn a_string_without_its_file_is_refused() {
        refused::<11>("app::f\0x.rs", 0, 1, false);
    }

    #[test]
    #[should_panic(expected = "do not match their lengths")]
    fn an_own_name_without_its_end_is_refused() {
        refused::<18>("app::f\0x.rs\0héllo", 0, 1, true);
    }

    #[test]
    #[should_panic(expected = "do not match their lengths")]
    fn a_length_that_would_cut_a_character_is_refused() {
        // `fé` is 3 bytes: 2 would start the name inside it, not after `::`.
        refused::<13>("app::fé\0x.rs\0", 0, 2, false);
    }

    #[test]
    #[should_panic(expected = "do not match their lengths")]
    fn strings_of_another_length_than_the_static_are_refused() {
        refused::<13>("app::f\0x.rs\0", 0, 1, false);
    }
}
