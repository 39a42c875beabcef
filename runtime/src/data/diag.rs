//! tracekit's own diagnostics: bad configuration, a backend or endpoint
//! that fails, a misuse worth saying once, never anything on the hot path.
//! By default each is one line on stderr, prefixed `tracekit:`, and the
//! debug ones are said only with `TRACEKIT_LOG=debug`. A program that logs
//! sets a sink with [`set_diagnostics`] and gets them as its own log
//! records instead (`tracekit-log` does it when it installs its logger:
//! target `tracekit`).

use std::cell::Cell;
use std::fmt::{self, Arguments};
use std::io::Write;
use std::sync::OnceLock;

/// How much one of tracekit's own messages matters.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DiagnosticLevel {
    /// Something is wrong or lost: a bad setting (ignored), a backend down,
    /// spans dropped, a misuse.
    Warn,
    /// Why something ordinary happened: why a request's headers gave no
    /// parent, why a call started a new trace.
    Debug,
}

/// Where tracekit's own messages go instead of stderr; see
/// [`set_diagnostics`].
///
/// ```
/// struct ToStdout;
/// impl tracekit::Diagnostics for ToStdout {
///     fn enabled(&self, level: tracekit::DiagnosticLevel) -> bool {
///         level == tracekit::DiagnosticLevel::Warn
///     }
///     fn message(&self, level: tracekit::DiagnosticLevel, message: &std::fmt::Arguments<'_>) {
///         println!("[tracekit {level:?}] {message}");
///     }
/// }
/// let _ = tracekit::set_diagnostics(ToStdout);
/// ```
pub trait Diagnostics: Send + Sync + 'static {
    /// Whether messages of `level` are wanted; asked before one is made.
    fn enabled(&self, level: DiagnosticLevel) -> bool;
    /// One message (without the `tracekit:` prefix stderr gets).
    fn message(&self, level: DiagnosticLevel, message: &Arguments<'_>);
}

/// [`set_diagnostics`] was called before: the first sink stays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetDiagnosticsError(());

impl fmt::Display for SetDiagnosticsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("tracekit's diagnostics already have a sink")
    }
}

impl std::error::Error for SetDiagnosticsError {}

static SINK: OnceLock<Box<dyn Diagnostics>> = OnceLock::new();

thread_local! {
    /// A sink's own code runs on this thread now: what it says in turn (a
    /// logger that traces) goes to stderr, not round again.
    static IN_SINK: Cell<bool> = const { Cell::new(false) };
}

/// Sends tracekit's diagnostics to `sink` from now on, for the rest of the
/// process (the first sink set stays, as with `log::set_logger`).
///
/// ```
/// struct Quiet;
/// impl tracekit::Diagnostics for Quiet {
///     fn enabled(&self, _: tracekit::DiagnosticLevel) -> bool { false }
///     fn message(&self, _: tracekit::DiagnosticLevel, _: &std::fmt::Arguments<'_>) {}
/// }
/// if tracekit::set_diagnostics(Quiet).is_err() {
///     // Someone (tracekit-log, say) set one first.
/// }
/// ```
pub fn set_diagnostics(sink: impl Diagnostics) -> Result<(), SetDiagnosticsError> {
    let mut sink = Some(Box::new(sink) as Box<dyn Diagnostics>);
    SINK.get_or_init(|| sink.take().expect("taken once"));
    match sink {
        None => Ok(()),
        Some(_) => Err(SetDiagnosticsError(())),
    }
}

/// Says `message` as a warning.
pub(crate) fn warn(message: Arguments<'_>) {
    say(DiagnosticLevel::Warn, message);
}

/// Whether debug messages are wanted: the sink's answer, else
/// `TRACEKIT_LOG=debug`. Ask before making an expensive one.
pub(crate) fn debug_enabled() -> bool {
    match sink() {
        Some(sink) => sink.enabled(DiagnosticLevel::Debug),
        None => env_debug(),
    }
}

/// Says `message` at debug level, when that is wanted.
pub(crate) fn debug(message: Arguments<'_>) {
    if debug_enabled() {
        say(DiagnosticLevel::Debug, message);
    }
}

/// Says `message` at debug level, once for each `key` (a trace point's
/// address, say), when that is wanted.
pub(crate) fn debug_once(key: usize, message: impl FnOnce() -> String) {
    if !debug_enabled() {
        return;
    }
    static SAID: std::sync::Mutex<Option<std::collections::HashSet<usize>>> =
        std::sync::Mutex::new(None);
    let first = SAID
        .lock()
        .map(|mut said| said.get_or_insert_with(Default::default).insert(key))
        .unwrap_or(false);
    if first {
        say(DiagnosticLevel::Debug, format_args!("{}", message()));
    }
}

fn say(level: DiagnosticLevel, message: Arguments<'_>) {
    if let Some(sink) = sink() {
        if !sink.enabled(level) {
            return;
        }
        let entered = IN_SINK.try_with(|i| !i.replace(true)).unwrap_or(false);
        if entered {
            /// Clears the flag however the sink returns.
            struct Leave;
            impl Drop for Leave {
                fn drop(&mut self) {
                    let _ = IN_SINK.try_with(|i| i.set(false));
                }
            }
            let _leave = Leave;
            sink.message(level, &message);
            return;
        }
    }
    // A closed or full stderr is ignored: diagnostics must not take the
    // program down.
    let _ = writeln!(std::io::stderr(), "tracekit: {message}");
}

fn sink() -> Option<&'static dyn Diagnostics> {
    SINK.get().map(|s| &**s)
}

fn env_debug() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var("TRACEKIT_LOG").is_ok_and(|v| v.eq_ignore_ascii_case("debug")))
}
