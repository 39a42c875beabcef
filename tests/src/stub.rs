//! A scripted HTTP/1.1 server on loopback standing in for an OTLP receiver:
//! it records every request and answers from a script (status, headers,
//! body, delay, or a fault: a reset mid-body, a close without an answer, an
//! answer trickled byte by byte), then with 200 once the script is used up.
//! It can be stopped and started again on the same port.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A request as the stub received it.
#[derive(Clone, Debug)]
pub struct Received {
    /// Request line, e.g. `POST /v1/traces HTTP/1.1`.
    pub line: String,
    /// Header names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body as sent.
    pub body: Vec<u8>,
    /// When it arrived.
    pub at: Instant,
}

impl Received {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One scripted answer.
#[derive(Clone, Debug)]
pub struct Reply {
    /// The status code.
    pub status: u16,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// How long to wait before answering.
    pub delay: Duration,
    /// Misbehaviour instead of a plain answer.
    pub fault: Option<Fault>,
}

/// Ways a backend fails a request.
#[derive(Clone, Copy, Debug)]
pub enum Fault {
    /// Reads the head and part of the body, then drops the connection with
    /// data unread, which the kernel answers with a reset (RST).
    ResetMidBody,
    /// Reads the whole request, then closes without a byte of answer.
    CloseWithoutAnswer,
    /// Answers one byte at a time, this long apart.
    Trickle(Duration),
}

impl Reply {
    /// This status, no body, no delay.
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            delay: Duration::ZERO,
            fault: None,
        }
    }

    /// A fault instead of an answer (the request is still recorded when it
    /// was read whole).
    pub fn fault(fault: Fault) -> Reply {
        Reply {
            fault: Some(fault),
            ..Reply::status(200)
        }
    }

    /// Adds a header.
    pub fn header(mut self, k: &str, v: &str) -> Reply {
        self.headers.push((k.to_owned(), v.to_owned()));
        self
    }

    /// Sets the body.
    pub fn body(mut self, body: impl Into<Vec<u8>>) -> Reply {
        self.body = body.into();
        self
    }

    /// Answers only after this long.
    pub fn delay(mut self, d: Duration) -> Reply {
        self.delay = d;
        self
    }
}

/// The stub server; it runs until the process ends.
#[derive(Clone)]
pub struct Stub {
    /// Where it listens.
    pub addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<VecDeque<Reply>>>,
    /// The answer once the script is used up.
    then: Arc<Mutex<Reply>>,
    /// Set by `stop`: the listener and every connection close.
    stopped: Arc<AtomicBool>,
}

impl Stub {
    /// Starts a stub answering with `script`, then 200.
    pub fn start(script: impl IntoIterator<Item = Reply>) -> Stub {
        Stub::start_at("127.0.0.1:0".parse().expect("an address"), script)
    }

    /// Starts a stub on `addr` (a port a stopped stub used, to restart it).
    pub fn start_at(addr: SocketAddr, script: impl IntoIterator<Item = Reply>) -> Stub {
        let listener = TcpListener::bind(addr).expect("a loopback port");
        listener.set_nonblocking(true).expect("non-blocking accept");
        let stub = Stub {
            addr: listener.local_addr().expect("bound"),
            received: Arc::default(),
            script: Arc::new(Mutex::new(script.into_iter().collect())),
            then: Arc::new(Mutex::new(Reply::status(200))),
            stopped: Arc::default(),
        };
        let s = stub.clone();
        std::thread::spawn(move || {
            // Polled, so that `stop` closes the port promptly.
            while !s.stopped.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let _ = conn.set_nonblocking(false);
                        let _ = conn.set_read_timeout(Some(Duration::from_millis(50)));
                        let s = s.clone();
                        std::thread::spawn(move || s.serve(conn));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        stub
    }

    /// Stops the stub as a killed backend would: the port closes, open
    /// connections are dropped, requests under way get no answer.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        // The accept loop notices within a few milliseconds.
        std::thread::sleep(Duration::from_millis(100));
    }

    /// The base URL, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answers every request with `reply` once the script is used up.
    pub fn reply_always(&self, reply: Reply) {
        *self.then.lock().unwrap_or_else(|p| p.into_inner()) = reply;
    }

    /// How many scripted answers (faults included) are still to be used.
    pub fn script_left(&self) -> usize {
        self.script.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Every request so far.
    pub fn received(&self) -> Vec<Received> {
        self.received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Reads a line, waiting through read timeouts (they are there so a
    /// stopped stub lets go of idle connections); `None` at the end, on an
    /// error, or once stopped.
    fn line(&self, reader: &mut BufReader<TcpStream>) -> Option<String> {
        let mut line = String::new();
        loop {
            if self.stopped.load(Ordering::SeqCst) {
                return None;
            }
            match reader.read_line(&mut line) {
                Ok(0) => return None,
                Ok(_) if line.ends_with('\n') => return Some(line),
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return None,
            }
        }
    }

    fn serve(&self, conn: TcpStream) {
        let mut reader = BufReader::new(match conn.try_clone() {
            Ok(c) => c,
            Err(_) => return,
        });
        let mut conn = conn;
        // Keep-alive: requests one after another on the connection.
        loop {
            let Some(line) = self.line(&mut reader) else {
                return;
            };
            let mut headers = Vec::new();
            loop {
                let Some(h) = self.line(&mut reader) else {
                    return;
                };
                let h = h.trim_end();
                if h.is_empty() {
                    break;
                }
                if let Some((k, v)) = h.split_once(':') {
                    headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
                }
            }
            let len: usize = headers
                .iter()
                .find(|(k, _)| k == "content-length")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            let next = self
                .script
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .front()
                .and_then(|r| r.fault);
            if let Some(Fault::ResetMidBody) = next {
                self.script
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .pop_front();
                let mut half = vec![0; len / 2];
                let _ = reader.read_exact(&mut half);
                // Dropped with the rest unread: the peer gets a reset.
                return;
            }
            let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
            let mut body = vec![0; len];
            if reader.read_exact(&mut body).is_err() {
                return;
            }
            let _ = conn.set_read_timeout(Some(Duration::from_millis(50)));
            self.received
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(Received {
                    line: line.trim_end().to_owned(),
                    headers,
                    body,
                    at: Instant::now(),
                });
            let reply = self
                .script
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .pop_front()
                .unwrap_or_else(|| self.then.lock().unwrap_or_else(|p| p.into_inner()).clone());
            std::thread::sleep(reply.delay);
            if self.stopped.load(Ordering::SeqCst) {
                return;
            }
            let mut head = format!(
                "HTTP/1.1 {} Stub\r\nContent-Length: {}\r\n",
                reply.status,
                reply.body.len()
            );
            for (k, v) in &reply.headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str("\r\n");
            match reply.fault {
                Some(Fault::CloseWithoutAnswer) => return,
                Some(Fault::Trickle(gap)) => {
                    for b in head.as_bytes().iter().chain(&reply.body) {
                        if self.stopped.load(Ordering::SeqCst)
                            || conn.write_all(std::slice::from_ref(b)).is_err()
                        {
                            return;
                        }
                        std::thread::sleep(gap);
                    }
                }
                _ => {
                    if conn.write_all(head.as_bytes()).is_err()
                        || conn.write_all(&reply.body).is_err()
                    {
                        return;
                    }
                }
            }
        }
    }
}
