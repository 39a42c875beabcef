//! Shutting down on SIGTERM and SIGINT without losing spans (the `signal`
//! feature, on tokio).
//!
//! Reporters hold finished spans for a while before they send them (OTLP's
//! default batch delay is 5 s), and a process killed by a signal's default
//! action sends nothing. A service with a graceful-shutdown path passes
//! [`terminated`] to it and drops the reporter guard after the server
//! returns. A program without one hands its guard to [`shutdown_on_signal`].
//!
//! Either way the shutdown has one deadline (5 s, or
//! `OTEL_BSP_EXPORT_TIMEOUT`), and a second SIGTERM or SIGINT while it runs
//! ends the process at once (exit status 143 or 130), saying on stderr how
//! many finished spans were not delivered: an operator who presses Ctrl-C
//! twice means it.

use crate::api::setup::ReporterGuard;
use std::io;

/// The signal that asked the process to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Signal {
    /// SIGTERM (what `kill`, systemd, Docker and Kubernetes send).
    Terminate,
    /// SIGINT (Ctrl-C).
    Interrupt,
}

impl Signal {
    /// The exit status a shell reports for a process stopped by this
    /// signal: 128 plus its number.
    fn exit_code(self) -> i32 {
        match self {
            Signal::Terminate => 143,
            Signal::Interrupt => 130,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Signal::Terminate => "SIGTERM",
            Signal::Interrupt => "SIGINT",
        }
    }
}

/// Resolves at the first SIGTERM or SIGINT (Ctrl-C only, off Unix). Pass it
/// to a server's graceful shutdown (axum's `with_graceful_shutdown`), then
/// shut the reporter guard down when the server returns. Poll it inside a
/// tokio runtime with its I/O driver enabled (`enable_all`); where no
/// handler can be set up it says so on stderr once and never resolves, as a
/// server without a shutdown signal would.
///
/// ```no_run
/// # async fn serve(_stop: impl std::future::Future<Output = ()>) {}
/// # #[tokio::main] async fn main() {
/// let guard = tracekit::set_reporter(tracekit::ConsoleReporter::stdout());
/// serve(tracekit::signal::terminated()).await; // e.g. axum::serve(..).with_graceful_shutdown(..)
/// guard.shutdown(); // every finished span is delivered before the process ends
/// # }
/// ```
pub async fn terminated() {
    let outcome = match Listener::new() {
        Ok(mut listener) => listener.recv().await.map(|_| listener),
        Err(e) => Err(e),
    };
    match outcome {
        Ok(listener) => exit_on_second_signal(listener),
        Err(e) => {
            crate::data::diag::warn(format_args!("cannot wait for SIGTERM: {e}"));
            std::future::pending::<()>().await;
        }
    }
}

/// After the first signal: a second one, while the program shuts down,
/// exits at once. `listener` is the one that heard the first signal: it
/// has been registered all along, so a second signal sent at any moment
/// after the first (even before this runs) is already recorded in it.
/// It is waited on from a thread with a runtime of its own, because the
/// program's runtime may be blocked in the shutdown (a guard dropped in
/// `async fn main`), and that runtime's driver also passes signals on.
fn exit_on_second_signal(mut listener: Listener) {
    let spawned = std::thread::Builder::new()
        .name("tracekit-signal".into())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    crate::data::diag::warn(format_args!("cannot wait for a second signal: {e}"));
                    return;
                }
            };
            match runtime.block_on(listener.recv()) {
                Ok(signal) => {
                    crate::data::diag::warn(format_args!(
                        "second {}: exiting now; {} finished spans not delivered",
                        signal.name(),
                        crate::collect::collector::undelivered()
                    ));
                    std::process::exit(signal.exit_code());
                }
                Err(e) => {
                    crate::data::diag::warn(format_args!("cannot wait for a second signal: {e}"))
                }
            }
        });
    if let Err(e) = spawned {
        crate::data::diag::warn(format_args!("cannot wait for a second signal: {e}"));
    }
}

/// For programs with no shutdown path: on SIGTERM or SIGINT, delivers every
/// finished span through `guard` (the reporter's last exports, all by one
/// deadline: 5 s, or `OTEL_BSP_EXPORT_TIMEOUT`), then exits the process
/// with 143 (SIGTERM) or 130 (SIGINT). A second signal meanwhile exits at
/// once.
///
/// The handlers are in place when this returns, so a signal that arrives
/// right after is not missed. Call it inside a tokio runtime with its I/O
/// driver enabled; it fails otherwise. Once tokio handles these signals
/// their default action (stopping the process) is gone for good, which is
/// why this exits by itself. Spans still open at that moment are not sent.
///
/// ```no_run
/// # #[tokio::main] async fn main() -> std::io::Result<()> {
/// let guard = tracekit::set_reporter(tracekit::ConsoleReporter::stdout());
/// tracekit::signal::shutdown_on_signal(guard)?;
/// loop {
///     let _job = tracekit::start_active_span("job");
///     tokio::time::sleep(std::time::Duration::from_secs(1)).await;
/// }
/// # }
/// ```
pub fn shutdown_on_signal(guard: ReporterGuard) -> io::Result<()> {
    let mut listener = Listener::new()?;
    tokio::spawn(async move {
        let signal = match listener.recv().await {
            Ok(signal) => signal,
            // No signal can be awaited any more; keep the guard's normal
            // life (dropped with the task, flushing as it goes).
            Err(e) => {
                crate::data::diag::warn(format_args!("waiting for SIGTERM failed: {e}"));
                drop(guard);
                return;
            }
        };
        exit_on_second_signal(listener);
        // The last export blocks; keep it off the runtime's worker.
        let _ = tokio::task::spawn_blocking(move || guard.shutdown()).await;
        std::process::exit(signal.exit_code());
    });
    Ok(())
}

/// Both handlers, registered before anything waits on them.
struct Listener {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Listener {
    fn new() -> io::Result<Listener> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(io::Error::other(
                "tracekit::signal needs a tokio runtime (call it inside one, with enable_all)",
            ));
        }
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            // tokio panics, rather than failing, in a runtime built without
            // its I/O driver; that is a setup error to report, not a crash
            // of the program (its message still reaches the panic hook).
            let both = std::panic::catch_unwind(|| {
                Ok::<_, io::Error>(Listener {
                    term: signal(SignalKind::terminate())?,
                    int: signal(SignalKind::interrupt())?,
                })
            });
            both.unwrap_or_else(|_| {
                Err(io::Error::other(
                    "tracekit::signal needs the tokio runtime's I/O driver (build it with enable_all)",
                ))
            })
        }
        #[cfg(not(unix))]
        Ok(Listener {})
    }

    #[cfg(unix)]
    async fn recv(&mut self) -> io::Result<Signal> {
        std::future::poll_fn(|cx| {
            if self.term.poll_recv(cx).is_ready() {
                return std::task::Poll::Ready(Ok(Signal::Terminate));
            }
            if self.int.poll_recv(cx).is_ready() {
                return std::task::Poll::Ready(Ok(Signal::Interrupt));
            }
            std::task::Poll::Pending
        })
        .await
    }

    #[cfg(not(unix))]
    async fn recv(&mut self) -> io::Result<Signal> {
        tokio::signal::ctrl_c().await.map(|()| Signal::Interrupt)
    }
}
