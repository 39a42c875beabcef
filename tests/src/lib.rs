//! Behaviour tests live in `tests/`; this library holds what several of them share.

/// A tiny deterministic generator (xorshift64), so the random tests need no
/// extra crate and every failure reproduces from its seed.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// Up to `max` characters mixing ASCII (controls included), the
    /// separators of the header formats, Cyrillic and letters.
    pub fn string(&mut self, max: u64) -> String {
        let len = self.below(max + 1);
        (0..len)
            .map(|_| match self.below(4) {
                0 => char::from_u32(self.below(0x80) as u32).unwrap_or('x'),
                1 => ['-', ':', ',', ';', '=', '%', ' ', '0', 'f'][self.below(9) as usize],
                2 => char::from_u32(0x400 + self.below(0x100) as u32).unwrap_or('x'),
                _ => char::from(b'a' + self.below(26) as u8),
            })
            .collect()
    }
}

/// The instrumentation scope's labels on every Prometheus series but
/// `target_info` (the workspace shares one version).
pub const SCOPE_LABELS: &str = concat!(
    "otel_scope_name=\"tracekit\",otel_scope_version=\"",
    env!("CARGO_PKG_VERSION"),
    "\""
);

/// The value of request series `r`'s attribute `key`, as text.
///
/// ```
/// # if !tracekit::TRACE_ALL { return; }
/// tracekit::metrics::set_enabled(true);
/// let mut span = tracekit::http::server_span("GET", "/doc/attribute", &Vec::new());
/// tracekit::http::set_status_code(&mut span, 200);
/// drop(span);
/// let m = tracekit::metrics::snapshot();
/// let r = m.requests().iter().find(|r| r.route() == Some("/doc/attribute")).unwrap();
/// assert_eq!(tracekit_tests::attribute(r, "url.scheme").as_deref(), Some("http"));
/// ```
pub fn attribute(r: &tracekit::metrics::RequestMetrics, key: &str) -> Option<String> {
    r.attributes()
        .iter()
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v.to_string())
}

/// A loopback port nobody listens on: bound, then freed.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a loopback port")
        .port()
}

pub mod stub;

/// Spins for `d`: a busy call of a known length (a sleep this short
/// overshoots by up to a millisecond).
pub fn busy_wait(d: std::time::Duration) {
    let until = std::time::Instant::now() + d;
    while std::time::Instant::now() < until {
        std::hint::spin_loop();
    }
}

/// A command that runs the test `name` of the current test binary alone, in
/// a child process of its own (its output shown, one thread), for scenarios
/// that need a clean process: a global setting, a signal, a memory peak.
/// The caller adds the environment that tells the child what to do.
pub fn child_test(name: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new(std::env::current_exe().expect("the test binary"));
    cmd.args([name, "--exact", "--nocapture", "--test-threads=1"]);
    cmd
}

/// An in-memory `Write` whose clones share one buffer: give a clone to a
/// console reporter or a logger, read what it wrote from the original.
#[derive(Clone, Default)]
pub struct SharedBuffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl SharedBuffer {
    /// Everything written so far, as text.
    pub fn text(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
        String::from_utf8(bytes).expect("UTF-8 output")
    }

    /// The text, line by line.
    pub fn lines(&self) -> Vec<String> {
        self.text().lines().map(str::to_owned).collect()
    }
}

impl std::io::Write for SharedBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The README's Rust snippets, compiled (and run) as doc tests, so the
/// first screen a user copies from stays true.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

/// A future that is pending exactly once, then ready: a wait that needs no
/// runtime.
#[derive(Default)]
pub struct YieldOnce(bool);

impl std::future::Future for YieldOnce {
    type Output = ();
    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            std::task::Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    }
}

/// Polls `f` to completion on this thread, with a waker that does nothing.
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    loop {
        if let std::task::Poll::Ready(v) = poll_once(f.as_mut()) {
            return v;
        }
    }
}

/// Polls `f` once, with a waker that does nothing.
pub fn poll_once<F: std::future::Future>(f: std::pin::Pin<&mut F>) -> std::task::Poll<F::Output> {
    f.poll(&mut std::task::Context::from_waker(std::task::Waker::noop()))
}

/// A global allocator that calls `hook` with the size of every allocation
/// and reallocation on the calling thread, then hands the call on to the
/// system allocator unchanged. For tests of what allocates, and of code
/// (a tracking allocator) that calls tracekit from inside an allocation.
///
/// ```
/// fn note(_size: usize) {}
/// #[global_allocator]
/// static ALLOCATOR: tracekit_tests::HookedAllocator = tracekit_tests::HookedAllocator::new(note);
/// ```
pub struct HookedAllocator {
    hook: fn(usize),
}

impl HookedAllocator {
    /// An allocator that calls `hook` before each allocation.
    pub const fn new(hook: fn(usize)) -> HookedAllocator {
        HookedAllocator { hook }
    }
}

// SAFETY: every call is forwarded unchanged to the system allocator; the
// hook runs before it and never touches the memory being handed out.
unsafe impl std::alloc::GlobalAlloc for HookedAllocator {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        (self.hook)(layout.size());
        // SAFETY: the caller's contract, forwarded.
        unsafe { std::alloc::System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: the caller's contract, forwarded.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        (self.hook)(new_size);
        // SAFETY: the caller's contract, forwarded.
        unsafe { std::alloc::System.realloc(ptr, layout, new_size) }
    }
}

/// An environment that holds `pairs` and nothing else, for code that
/// reads its variables through a lookup (`OtlpConfig::from_lookup`).
pub fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| (*v).to_owned())
    }
}

/// A remote parent that was not sampled: calls under it open no spans, and
/// metrics count them on their own thread.
pub fn unsampled_parent() -> tracekit::SpanContext {
    tracekit::SpanContext::remote(
        tracekit::TraceId::from_u128(0x6bf92f3577b34da6a3ce929d0e0e4736).expect("non-zero"),
        tracekit::SpanId::from_u64(0x20f067aa0ba902b7).expect("non-zero"),
        false,
    )
}

/// What a thread allocates, counted: [`allocations::note`] is the hook of a
/// [`HookedAllocator`], and the thread counts while it says so.
pub mod allocations {
    use std::cell::Cell;

    thread_local! {
        static COUNTING: Cell<bool> = const { Cell::new(false) };
        static COUNT: Cell<u64> = const { Cell::new(0) };
    }

    /// The allocator's hook: counts an allocation of this thread while it
    /// counts.
    pub fn note(_size: usize) {
        if counting() {
            let _ = COUNT.try_with(|c| c.set(c.get() + 1));
        }
    }

    /// Whether this thread counts its allocations.
    pub fn counting() -> bool {
        COUNTING.try_with(Cell::get).unwrap_or(false)
    }

    /// Starts or stops counting this thread's allocations.
    pub fn set_counting(on: bool) {
        let _ = COUNTING.try_with(|c| c.set(on));
    }

    /// The allocations this thread counted in `run(true)`, after
    /// `run(false)` warmed up: `run` calls `set_counting(counting)` around
    /// what it measures.
    pub fn after_warm_up(mut run: impl FnMut(bool)) -> u64 {
        run(false);
        COUNT.with(|c| c.set(0));
        run(true);
        COUNT.with(Cell::get)
    }
}

/// The error types the failed calls of the function whose spans are named
/// `name` were counted under, with how many each (a metrics snapshot).
pub fn error_types(name: &str) -> Vec<(String, u64)> {
    tracekit::metrics::snapshot()
        .function(name)
        .map_or(Vec::new(), |f| {
            f.error_types()
                .map(|(t, h)| (t.to_owned(), h.count()))
                .collect()
        })
}

/// Defines `struct $name;`, an error whose message is `$message`, in the
/// calling module, so that its type path (which metrics name failed calls
/// by) is the test's own: `unit_error!(NotFound, "not found");`.
#[macro_export]
macro_rules! unit_error {
    ($name:ident, $message:expr) => {
        #[derive(Debug)]
        struct $name;

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str($message)
            }
        }

        impl ::std::error::Error for $name {}
    };
}
