//! tracekit's own diagnostics: one line on stderr, prefixed `tracekit:`.
//! Used for bad configuration and for a backend or endpoint that fails,
//! never on the hot path.

use std::fmt::Arguments;
use std::io::Write;

/// Writes `tracekit: {message}` to stderr. A closed or full stderr is
/// ignored: diagnostics must not take the program down.
pub(crate) fn warn(message: Arguments<'_>) {
    let _ = writeln!(std::io::stderr(), "tracekit: {message}");
}
