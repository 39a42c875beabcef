//! A scripted HTTP/1.1 server on loopback standing in for an OTLP receiver:
//! it records every request and answers from a script (status, headers,
//! body, delay), then with 200 once the script is used up.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
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
}

impl Reply {
    /// This status, no body, no delay.
    pub fn status(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            delay: Duration::ZERO,
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
}

impl Stub {
    /// Starts a stub answering with `script`, then 200.
    pub fn start(script: impl IntoIterator<Item = Reply>) -> Stub {
        let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
        let stub = Stub {
            addr: listener.local_addr().expect("bound"),
            received: Arc::default(),
            script: Arc::new(Mutex::new(script.into_iter().collect())),
            then: Arc::new(Mutex::new(Reply::status(200))),
        };
        let s = stub.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let s = s.clone();
                std::thread::spawn(move || s.serve(conn));
            }
        });
        stub
    }

    /// The base URL, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answers every request with `reply` once the script is used up.
    pub fn reply_always(&self, reply: Reply) {
        *self.then.lock().unwrap_or_else(|p| p.into_inner()) = reply;
    }

    /// Every request so far.
    pub fn received(&self) -> Vec<Received> {
        self.received
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn serve(&self, conn: TcpStream) {
        let mut reader = BufReader::new(match conn.try_clone() {
            Ok(c) => c,
            Err(_) => return,
        });
        let mut conn = conn;
        // Keep-alive: requests one after another on the connection.
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let mut headers = Vec::new();
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 {
                    return;
                }
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
            let mut body = vec![0; len];
            if reader.read_exact(&mut body).is_err() {
                return;
            }
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
            let mut head = format!(
                "HTTP/1.1 {} Stub\r\nContent-Length: {}\r\n",
                reply.status,
                reply.body.len()
            );
            for (k, v) in &reply.headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str("\r\n");
            if conn.write_all(head.as_bytes()).is_err() || conn.write_all(&reply.body).is_err() {
                return;
            }
        }
    }
}
