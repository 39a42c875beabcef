//! A producer hands jobs to worker threads through a queue; the span context
//! travels in each message's headers, so every job joins the trace of the
//! request that enqueued it, with the request's baggage. One job fails and
//! its spans are marked as errors. Every log line of the workers shows the
//! trace id and the request id of the job it belongs to (on stderr).
//!
//! ```text
//! cargo run --example task_queue
//! ```

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;
use tracekit::{messaging, trace_fn};

/// What travels on the queue: the job and its headers, as a broker would
/// carry them (Celery's task headers, Kafka's record headers, AMQP's).
struct Message {
    to: String,
    headers: Vec<(String, String)>,
}

/// A minimal blocking queue; `None` once closed and empty.
#[derive(Default)]
struct Queue {
    items: Mutex<(VecDeque<Message>, bool)>,
    ready: Condvar,
}

impl Queue {
    fn push(&self, m: Message) {
        let mut q = self.items.lock().unwrap_or_else(|p| p.into_inner());
        q.0.push_back(m);
        self.ready.notify_one();
    }

    fn close(&self) {
        self.items.lock().unwrap_or_else(|p| p.into_inner()).1 = true;
        self.ready.notify_all();
    }

    fn pop(&self) -> Option<Message> {
        let mut q = self.items.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(m) = q.0.pop_front() {
                return Some(m);
            }
            if q.1 {
                return None;
            }
            q = self.ready.wait(q).unwrap_or_else(|p| p.into_inner());
        }
    }
}

#[derive(Debug)]
struct EmailError(String);

impl std::fmt::Display for EmailError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot send to {:?}: no @ in the address", self.0)
    }
}

impl std::error::Error for EmailError {}

/// The producer side: a request that signs users up and queues their emails.
#[trace_fn(kind = "server", fields(http.route = "/signup"))]
fn signup(users: &[&str], queue: &Queue) {
    tracekit::current_span().set_baggage_item("request.id", "req-7f3a");
    for to in users {
        let mut headers = Vec::new();
        let _publish = messaging::producer_span("emails", &mut headers);
        queue.push(Message {
            to: (*to).to_owned(),
            headers,
        });
    }
}

/// The job, run by a worker.
#[trace_fn]
fn send_welcome_email(to: &str) -> Result<(), EmailError> {
    log::info!(to; "sending the welcome email");
    let body = render_template(to);
    smtp_send(to, &body)
}

#[trace_fn(skip(to))]
fn render_template(to: &str) -> String {
    format!("Welcome, {to}!")
}

#[trace_fn(skip(body))]
fn smtp_send(to: &str, body: &str) -> Result<(), EmailError> {
    thread::sleep(Duration::from_millis(2 + body.len() as u64 % 3));
    if to.contains('@') {
        Ok(())
    } else {
        log::warn!(to; "the address has no @, giving up");
        Err(EmailError(to.to_owned()))
    }
}

fn main() {
    let _reporter = tracekit_examples::install_reporter("task_queue");
    tracekit_examples::install_logger();
    let queue = Arc::new(Queue::default());

    let workers: Vec<_> = (1..=2)
        .map(|n| {
            let queue = Arc::clone(&queue);
            thread::Builder::new()
                .name(format!("worker-{n}"))
                .spawn(move || {
                    while let Some(m) = queue.pop() {
                        let result =
                            messaging::consume("emails", &m.headers, || send_welcome_email(&m.to));
                        if let Err(e) = result {
                            // Outside the job: no ids on this line, the job's are gone.
                            log::error!("worker-{n}: job failed: {e}");
                        }
                    }
                })
                .expect("a worker thread")
        })
        .collect();

    signup(
        &["ann@example.com", "bob-at-example.com", "eve@example.com"],
        &queue,
    );
    queue.close();
    for w in workers {
        w.join().expect("workers do not panic");
    }
}
