//! `#[trace_fn]` and `#[trace_impl]` as users write them.

use std::fmt;
use tracekit::testing::capture;
use tracekit::{Value, trace_fn, trace_impl};

#[trace_fn]
fn level1(n: u64) -> u64 {
    level2(n + 1) + 1
}
#[trace_fn]
fn level2(n: u64) -> u64 {
    level3(n + 1) + 1
}
#[trace_fn]
fn level3(n: u64) -> u64 {
    level4(n + 1) + 1
}
#[trace_fn]
fn level4(n: u64) -> u64 {
    level5(n + 1) + 1
}
#[trace_fn]
fn level5(n: u64) -> u64 {
    n * 10
}

#[test]
fn nesting_five_deep_gives_one_trace_with_parent_links() {
    let (out, c) = capture(|| level1(1));
    assert_eq!(out, 54);
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty());
        return;
    }
    assert_eq!(
        c.tree(),
        "level1\n  level2\n    level3\n      level4\n        level5\n"
    );
    let names = ["level1", "level2", "level3", "level4", "level5"];
    for pair in names.windows(2) {
        let (parent, child) = (c.span(pair[0]), c.span(pair[1]));
        assert_eq!(child.parent_id(), Some(parent.span_id()));
        assert_eq!(child.trace_id(), parent.trace_id());
        assert!(child.start() >= parent.start() && child.end() <= parent.end());
    }
    assert_eq!(c.span("level3").tag("n"), Some(&Value::U64(3)));
    assert!(c.span("level1").parent_id().is_none());
}

#[derive(Debug)]
struct Point {
    x: i32,
    y: i32,
}

struct Opaque;

#[allow(clippy::too_many_arguments)]
#[trace_fn]
fn many_args(
    count: u64,
    delta: i32,
    ratio: f64,
    flag: bool,
    label: &str,
    owned: String,
    point: Point,
    opaque: Opaque,
) -> i64 {
    let _ = opaque;
    count as i64
        + delta as i64
        + ratio as i64
        + flag as i64
        + label.len() as i64
        + owned.len() as i64
        + point.x as i64
        + point.y as i64
}

#[test]
fn arguments_are_tags_that_keep_their_type() {
    let (out, c) = capture(|| {
        many_args(
            7,
            -2,
            1.5,
            true,
            "GET /users",
            "owned".to_string(),
            Point { x: 1, y: 2 },
            Opaque,
        )
    });
    assert_eq!(out, 7 - 2 + 1 + 1 + 10 + 5 + 3);
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty());
        return;
    }
    let s = c.span("many_args");
    assert_eq!(s.tag("count"), Some(&Value::U64(7)));
    assert_eq!(s.tag("delta"), Some(&Value::I64(-2)));
    assert_eq!(s.tag("ratio"), Some(&Value::F64(1.5)));
    assert_eq!(s.tag("flag"), Some(&Value::Bool(true)));
    // Strings are stored bare, without quotes.
    assert_eq!(s.tag("label").unwrap().to_string(), "GET /users");
    assert_eq!(s.tag("owned").unwrap().as_str(), Some("owned"));
    // Other types are recorded as their Debug text...
    assert_eq!(s.tag("point").unwrap().to_string(), "Point { x: 1, y: 2 }");
    // ...and a type without Debug is left out rather than breaking the build.
    assert_eq!(s.tag("opaque"), None);
}

// Types written as a plain number, bool or text take the plain conversion
// without the selection (behind references, parentheses, `mut`); the rest
// of the arguments beside them still take the selection.
#[trace_fn]
#[allow(unused_parens)]
fn plain_by_name(
    small: u8,
    signed: &&mut i16,
    mut wide: (f32),
    name: &&str,
    size: usize,
    big: u128,
    owned: String,
) -> f32 {
    wide += f32::from(small) + f32::from(**signed) + size as f32 + big as f32;
    wide + name.len() as f32 + owned.len() as f32
}

#[test]
fn arguments_written_as_plain_types_keep_their_values() {
    let mut signed = -3i16;
    let (out, c) = capture(|| plain_by_name(2, &&mut signed, 0.5, &"ab", 4, 1, "xyz".into()));
    assert_eq!(out, 2.0 - 3.0 + 0.5 + 4.0 + 1.0 + 2.0 + 3.0);
    if !tracekit::TRACE_ALL {
        return;
    }
    let s = c.span("plain_by_name");
    assert_eq!(s.tag("small"), Some(&Value::U64(2)));
    assert_eq!(s.tag("signed"), Some(&Value::I64(-3)));
    assert_eq!(
        s.tag("wide"),
        Some(&Value::F64(0.5)),
        "the value at the call"
    );
    assert_eq!(s.tag("name").unwrap().as_str(), Some("ab"));
    assert_eq!(s.tag("size"), Some(&Value::U64(4)));
    assert_eq!(s.tag("big").unwrap().to_string(), "1", "u128: Debug text");
    assert_eq!(s.tag("owned").unwrap().as_str(), Some("xyz"));
}

#[trace_fn]
fn generic_debug<T: fmt::Debug>(value: T, other: impl fmt::Display) -> String {
    format!("{value:?}/{other}")
}

#[test]
fn generic_arguments_use_what_their_bounds_allow() {
    let (out, c) = capture(|| generic_debug(vec![1, 2], 5u8));
    assert_eq!(out, "[1, 2]/5");
    if tracekit::TRACE_ALL {
        let s = c.span("generic_debug");
        assert_eq!(s.tag("value").unwrap().to_string(), "[1, 2]");
        // `impl Display` has no Debug bound: left out.
        assert_eq!(s.tag("other"), None);
    }
}

#[trace_fn]
fn code_location() {}

#[test]
fn spans_carry_code_location_tags_and_trace_points_are_registered() {
    let ((), c) = capture(code_location);
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty());
        assert!(tracekit::trace_points().next().is_none());
        return;
    }
    let s = c.span("code_location");
    // OpenTelemetry's code attributes: the full path is the function's name.
    assert_eq!(
        s.tag("code.function.name").unwrap().to_string(),
        concat!(module_path!(), "::code_location")
    );
    assert_eq!(s.tag("code.namespace").unwrap().to_string(), module_path!());
    assert!(
        s.tag("code.file.path")
            .unwrap()
            .to_string()
            .ends_with("macros.rs")
    );
    assert!(s.tag("code.line.number").unwrap().as_i64().unwrap() > 0);
    let point = tracekit::trace_points()
        .find(|p| p.name() == "code_location")
        .expect("registered");
    assert_eq!(point.module_path(), module_path!());
    // Every function in this file is registered, called or not.
    for name in [
        "level5",
        "many_args",
        "Cache::get",
        "Repo::find",
        "never_called",
    ] {
        assert!(
            tracekit::trace_points().any(|p| p.name() == name),
            "{name} missing"
        );
    }
}

#[trace_fn]
#[allow(dead_code)]
fn never_called() {}

struct Cache<T> {
    items: Vec<T>,
}

#[trace_impl]
impl<T: Clone + fmt::Debug> Cache<T> {
    fn new() -> Self {
        Cache { items: Vec::new() }
    }

    fn put(&mut self, item: T) {
        self.items.push(item);
    }

    fn get(&self, index: usize) -> Option<T> {
        self.items.get(index).cloned()
    }

    #[trace_fn(name = "cache.size", skip(verbose))]
    fn size(&self, verbose: bool) -> usize {
        let _ = verbose;
        self.items.len()
    }

    #[no_trace]
    fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    fn into_items(self) -> Vec<T> {
        self.items
    }
}

#[test]
fn trace_impl_names_methods_type_method_and_honours_overrides() {
    let (items, c) = capture(|| {
        let mut cache: Cache<String> = Cache::new();
        cache.put("a".to_string());
        assert_eq!(cache.get(0).as_deref(), Some("a"));
        assert_eq!(cache.size(true), 1);
        assert!(!cache.is_empty());
        cache.into_items()
    });
    assert_eq!(items, ["a"]);
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty());
        return;
    }
    assert_eq!(
        c.tree(),
        "Cache::new\nCache::put\nCache::get\ncache.size\nCache::into_items\n"
    );
    // `self` is not recorded; other arguments are. A generic `T: Debug` is
    // recorded as its Debug text: the concrete type is unknown at expansion.
    assert_eq!(
        c.span("Cache::put").tag("item").unwrap().to_string(),
        "\"a\""
    );
    assert_eq!(c.span("Cache::put").tag("self"), None);
    assert_eq!(c.span("Cache::get").tag("index"), Some(&Value::U64(0)));
    assert_eq!(c.span("cache.size").tag("verbose"), None);
    assert_eq!(
        c.span("Cache::get")
            .tag("code.namespace")
            .unwrap()
            .to_string(),
        format!("{}::Cache", module_path!())
    );
}

trait Repository {
    fn find(&self, id: u64) -> Result<String, std::io::Error>;
    fn count(&self) -> usize {
        0
    }
}

struct Repo;

#[trace_impl]
impl Repository for Repo {
    fn find(&self, id: u64) -> Result<String, std::io::Error> {
        if id == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no user 0",
            ));
        }
        Ok(format!("user{id}"))
    }
}

#[test]
fn trace_impl_on_a_trait_impl() {
    let (r, c) = capture(|| (Repo.find(3).unwrap(), Repo.count()));
    assert_eq!(r, ("user3".to_string(), 0));
    if tracekit::TRACE_ALL {
        assert_eq!(c.tree(), "Repo::find\n");
    }
}

#[trace_impl]
trait Greeter {
    fn name(&self) -> String;
    fn greet(&self, whom: &str) -> String {
        format!("{} greets {whom}", self.name())
    }
}

struct English;
impl Greeter for English {
    fn name(&self) -> String {
        "en".into()
    }
}

#[test]
fn trace_impl_on_a_trait_traces_default_bodies() {
    let (s, c) = capture(|| English.greet("you"));
    assert_eq!(s, "en greets you");
    if tracekit::TRACE_ALL {
        assert_eq!(c.tree(), "Greeter::greet\n");
        assert_eq!(
            c.span("Greeter::greet").tag("whom").unwrap().to_string(),
            "you"
        );
    }
}

#[trace_fn]
fn early_return(n: i32) -> Result<i32, String> {
    if n < 0 {
        return Err(format!("negative: {n}"));
    }
    let parsed: i32 = "12".parse().map_err(|_| "parse".to_string())?;
    Ok(parsed + n)
}

#[trace_fn]
fn question_mark(s: &str) -> Result<u32, std::num::ParseIntError> {
    let n: u32 = s.parse()?;
    Ok(n * 2)
}

/// A macro of the caller's own that leaves the function: the body runs in a
/// closure, so the `Err` it returns is seen.
macro_rules! give_up {
    ($why:literal) => {
        return Err($why.to_string())
    };
}

#[trace_fn]
fn gives_up(n: i32) -> Result<i32, String> {
    if n < 0 {
        give_up!("negative");
    }
    Ok(n)
}

// A nested block doc comment holding a quote, then a `?`: the scan for
// early exits must read past the comment whole (this compiler prints it as
// a `#[doc = "…"]` attribute; printed as a comment, block comments nest,
// which the lexer's unit test covers) and see the `?`, so the early `Err`
// is inspected.
#[trace_fn]
#[allow(unused_doc_comments)]
fn leaves_after_a_nested_comment(fail: bool) -> Result<u8, String> {
    /** a /* b */ " */
    let x = if fail {
        Err("refused".to_string())
    } else {
        Ok(1)
    }?;
    let _quote = "";
    Ok(x)
}

#[test]
fn an_exit_after_a_nested_comment_is_seen() {
    let (r, c) = capture(|| leaves_after_a_nested_comment(true));
    assert_eq!(r, Err("refused".to_string()));
    if tracekit::TRACE_ALL {
        assert_eq!(
            c.span("leaves_after_a_nested_comment").status(),
            &tracekit::Status::error("refused")
        );
    }
}

mod shadowed {
    // Shadows the standard `format!` with one that returns: the expansion
    // takes it for the standard one and runs the body in place.
    macro_rules! format {
        ($why:literal) => {
            return Err($why.to_string())
        };
    }

    #[tracekit::trace_fn]
    pub fn leaves_through_format(n: i32) -> Result<i32, String> {
        if n < 0 {
            format!("negative");
        }
        Ok(n)
    }
}

/// Bodies whose result is not inspected run in place even when they leave
/// early: the guard ends the span on the way out.
#[trace_fn]
fn first_even(values: &[u32]) -> Option<u32> {
    let found = values.iter().find(|v| *v % 2 == 0)?;
    Some(*found)
}

#[trace_fn]
fn returns_early(flag: bool, out: &mut Vec<u32>) {
    if flag {
        return;
    }
    out.push(1);
}

/// A body whose value is a panic: run in place, it compiles without a
/// warning about the code after it.
#[trace_fn]
fn panics_as_its_value(code: u32) -> u32 {
    panic!("exit {code}")
}

#[trace_fn]
fn io_alias(fail: bool) -> std::io::Result<u8> {
    if fail {
        Err(std::io::Error::other("disk on fire"))
    } else {
        Ok(1)
    }
}

#[test]
fn early_return_and_question_mark_behave_as_before() {
    let (r, c) = capture(|| {
        (
            early_return(-1),
            early_return(3),
            question_mark("x"),
            question_mark("21"),
        )
    });
    assert_eq!(r.0, Err("negative: -1".to_string()));
    assert_eq!(r.1, Ok(15));
    assert!(r.2.is_err());
    assert_eq!(r.3, Ok(42));
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty());
        return;
    }
    let er = c.spans_named("early_return");
    assert_eq!(er.len(), 2);
    assert!(er[0].is_error());
    assert_eq!(er[0].status(), &tracekit::Status::error("negative: -1"));
    assert!(!er[1].is_error());
    let qm = c.spans_named("question_mark");
    assert!(qm[0].is_error() && !qm[1].is_error());
    assert_eq!(
        qm[0].events()[0]
            .field("exception.type")
            .unwrap()
            .to_string(),
        "core::num::error::ParseIntError"
    );
}

#[test]
fn err_through_a_type_alias_is_an_error_with_exception_event() {
    let (r, c) = capture(|| (io_alias(true).is_err(), io_alias(false).is_ok()));
    assert_eq!(r, (true, true));
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty(), "nothing recorded");
        return;
    }
    let spans = c.spans_named("io_alias");
    let failed = spans[0];
    assert!(failed.is_error());
    assert_eq!(failed.tag("error"), Some(&Value::Bool(true)));
    let ev = &failed.events()[0];
    assert_eq!(ev.name(), "exception");
    assert_eq!(
        ev.field("exception.message").unwrap().to_string(),
        "disk on fire"
    );
    assert_eq!(
        ev.field("exception.type").unwrap().to_string(),
        "std::io::error::Error"
    );
    assert!(!spans[1].is_error());
    assert_eq!(spans[1].tag("error"), None);
}

#[derive(Debug)]
struct Outer(Inner);
#[derive(Debug)]
struct Inner;
impl fmt::Display for Outer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("query failed")
    }
}
impl fmt::Display for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection reset")
    }
}
impl std::error::Error for Inner {}
impl std::error::Error for Outer {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

#[trace_fn]
fn chained() -> Result<(), Outer> {
    Err(Outer(Inner))
}

#[trace_fn]
fn boxed() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    Err(Box::new(Outer(Inner)))
}

/// What `main` and many examples return: a box that is not `Send + Sync`.
#[trace_fn]
fn boxed_local() -> Result<(), Box<dyn std::error::Error>> {
    Err(Box::new(Outer(Inner)))
}

#[derive(Debug)]
struct DebugOnly;

#[trace_fn]
fn debug_only_error() -> Result<(), DebugOnly> {
    Err(DebugOnly)
}

struct NoTraits;

#[trace_fn]
fn opaque_error() -> Result<(), NoTraits> {
    Err(NoTraits)
}

#[test]
fn error_source_chains_and_errors_of_any_type() {
    let (_, c) = capture(|| {
        let _ = chained();
        let _ = boxed();
        let _ = boxed_local();
        let _ = debug_only_error();
        let _ = opaque_error();
    });
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty(), "nothing recorded");
        return;
    }
    for name in ["chained", "boxed", "boxed_local"] {
        let ev = &c.span(name).events()[0];
        assert_eq!(
            ev.field("exception.message").unwrap().to_string(),
            "query failed"
        );
        assert_eq!(
            ev.field("exception.source.1").unwrap().to_string(),
            "connection reset"
        );
    }
    assert_eq!(
        c.span("debug_only_error").status(),
        &tracekit::Status::error("DebugOnly")
    );
    assert!(c.span("opaque_error").is_error());
}

#[test]
fn early_returns_from_bodies_run_in_place_end_their_spans() {
    let (r, c) = capture(|| {
        let outer = tracekit::start_active_span("outer");
        let mut out = Vec::new();
        returns_early(true, &mut out);
        returns_early(false, &mut out);
        let r = (first_even(&[1, 3]), first_even(&[1, 4]), out);
        assert_eq!(tracekit::current_span().context(), outer.context());
        r
    });
    assert_eq!(r, (None, Some(4), vec![1]));
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty());
        return;
    }
    assert_eq!(
        c.tree(),
        "outer\n  returns_early\n  returns_early\n  first_even\n  first_even\n"
    );
    assert!(c.spans().iter().all(|s| !s.is_error()));
}

#[test]
fn bodies_that_leave_early_through_macros_end_their_spans() {
    let (r, c) = capture(|| {
        let outer = tracekit::start_active_span("outer");
        let r = (
            gives_up(-1),
            gives_up(2),
            shadowed::leaves_through_format(-1),
            shadowed::leaves_through_format(3),
        );
        let current = tracekit::current_span().context();
        assert_eq!(current, outer.context());
        let panicked = std::panic::catch_unwind(|| panics_as_its_value(7));
        assert!(panicked.is_err());
        r
    });
    assert_eq!(r.0, Err("negative".to_string()));
    assert_eq!(r.1, Ok(2));
    assert_eq!(r.2, Err("negative".to_string()));
    assert_eq!(r.3, Ok(3));
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty());
        return;
    }
    let outer = c.span("outer").span_id();
    let given_up = c.spans_named("gives_up");
    assert_eq!(given_up[0].status(), &tracekit::Status::error("negative"));
    assert!(!given_up[1].is_error());
    // Through the shadowing macro the early `Err` is not inspected, but the
    // span ends where the call did, is no panic, and the next call is its
    // sibling rather than its child.
    let shadowed = c.spans_named("leaves_through_format");
    assert_eq!(shadowed.len(), 2);
    for s in &shadowed {
        assert!(!s.is_error(), "{:?}", s.status());
        assert_eq!(s.parent_id(), Some(outer));
    }
    let panicked = c.span("panics_as_its_value");
    assert_eq!(panicked.status(), &tracekit::Status::error("exit 7"));
    assert_eq!(panicked.parent_id(), Some(outer));
}

#[trace_fn]
fn explode(message: &str) -> u32 {
    if !message.is_empty() {
        panic!("boom: {message}");
    }
    1
}

#[test]
fn a_panic_marks_the_span_finishes_it_and_restores_the_context() {
    let (after, c) = capture(|| {
        let outer = tracekit::start_active_span("outer");
        let result = std::panic::catch_unwind(|| explode("bad input"));
        assert!(result.is_err());
        // The context is back to `outer`, not the panicked span.
        let current = tracekit::current_span().context();
        assert_eq!(current, outer.context());
        drop(outer);
        explode("")
    });
    assert_eq!(after, 1);
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty());
        return;
    }
    let spans = c.spans_named("explode");
    assert_eq!(spans.len(), 2);
    let panicked = spans.iter().find(|s| s.is_error()).unwrap();
    assert_eq!(
        panicked.status(),
        &tracekit::Status::error("boom: bad input")
    );
    assert_eq!(
        panicked.events()[0]
            .field("exception.type")
            .unwrap()
            .to_string(),
        "panic"
    );
    assert_eq!(panicked.parent_id(), Some(c.span("outer").span_id()));
    // The call after the panic is a new root, not a child of the dead span.
    let fine = spans.iter().find(|s| !s.is_error()).unwrap();
    assert!(fine.parent_id().is_none());
}

#[trace_fn]
fn recurse(depth: u32) -> u32 {
    if depth == 0 {
        0
    } else {
        1 + recurse(depth - 1)
    }
}

#[test]
fn recursion_nests() {
    let (n, c) = capture(|| recurse(3));
    assert_eq!(n, 3);
    if tracekit::TRACE_ALL {
        assert_eq!(c.tree(), "recurse\n  recurse\n    recurse\n      recurse\n");
    }
}

#[trace_fn]
fn patterns((a, b): (u8, u8), Point { x, y }: Point, _: u8, mut m: u8) -> u32 {
    m += 1;
    a as u32 + b as u32 + x as u32 + y as u32 + m as u32
}

#[test]
fn pattern_arguments_record_each_bound_name() {
    let (n, c) = capture(|| patterns((1, 2), Point { x: 3, y: 4 }, 9, 5));
    assert_eq!(n, 16);
    if tracekit::TRACE_ALL {
        let s = c.span("patterns");
        for (k, v) in [("a", 1u64), ("b", 2), ("m", 5)] {
            assert_eq!(s.tag(k), Some(&Value::U64(v)), "{k}");
        }
        assert_eq!(s.tag("x"), Some(&Value::I64(3)));
        assert_eq!(s.tag("y"), Some(&Value::I64(4)));
    }
}

#[trace_fn]
fn returns_reference(s: &str) -> &str {
    &s[1..]
}

#[test]
fn elided_lifetimes_in_the_signature_still_work() {
    let (s, _) = capture(|| returns_reference("xyz").to_owned());
    assert_eq!(s, "yz");
}

/// An error whose `Display` panics: formatting it, to record it, is user
/// code that runs after the call's guard is gone.
#[derive(Debug)]
struct PanicsWhenShown;

impl fmt::Display for PanicsWhenShown {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        panic!("cannot show this error")
    }
}

#[trace_fn]
fn fails_unshowably() -> Result<(), PanicsWhenShown> {
    Err(PanicsWhenShown)
}

#[trace_fn(ret)]
fn returns_unshowably() -> PanicsWhenShownValue {
    PanicsWhenShownValue
}

/// A return value whose `Debug` panics.
struct PanicsWhenShownValue;

impl fmt::Debug for PanicsWhenShownValue {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        panic!("cannot show this value")
    }
}

#[trace_fn]
fn called_afterwards() {}

#[test]
fn an_error_or_value_that_panics_when_shown_ends_its_span_as_that_panic() {
    let ((), c) = capture(|| {
        // Shown only to be recorded: with tracing compiled out, no panic.
        let panicked = (
            std::panic::catch_unwind(fails_unshowably).is_err(),
            std::panic::catch_unwind(returns_unshowably).is_err(),
        );
        assert_eq!(panicked, (tracekit::TRACE_ALL, tracekit::TRACE_ALL));
        called_afterwards();
    });
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty(), "nothing recorded");
        return;
    }
    for name in ["fails_unshowably", "returns_unshowably"] {
        let s = c.span(name);
        assert!(s.is_error(), "{name}");
        let event = &s.events()[0];
        assert_eq!(event.field("exception.type"), Some(&Value::from("panic")));
    }
    // Their frames did not stay on the thread: the next call is a root.
    assert_eq!(c.span("called_afterwards").parent_id(), None);
}
