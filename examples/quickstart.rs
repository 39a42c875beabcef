//! A small service traced with tracekit: a request handler calls a cache and a
//! repository (`#[trace_impl]`), fetches prices concurrently on tokio, and one
//! request fails. Each request prints as a tree on the console.
//!
//! ```text
//! cargo run --example quickstart
//! ```

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tracekit::{FutureExt, SpanKind, trace_fn, trace_impl};

#[derive(Debug, Clone)]
struct User {
    id: u64,
    name: String,
}

#[derive(Debug)]
enum RepoError {
    NotFound(u64),
}

impl std::fmt::Display for RepoError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RepoError::NotFound(id) => write!(f, "user {id} not found"),
        }
    }
}

impl std::error::Error for RepoError {}

/// Stands in for a database.
struct UserRepository {
    rows: HashMap<u64, String>,
}

#[trace_impl]
impl UserRepository {
    fn find(&self, id: u64) -> Result<User, RepoError> {
        std::thread::sleep(Duration::from_millis(3)); // the query
        tracekit::current_span().set_tag("db.system", "postgres");
        let name = self.rows.get(&id).ok_or(RepoError::NotFound(id))?;
        Ok(User {
            id,
            name: name.clone(),
        })
    }

    async fn prices(&self, user: u64) -> Vec<u32> {
        let (a, b) = tokio::join!(price_of(user, "book"), price_of(user, "pen"));
        vec![a, b]
    }
}

#[trace_fn]
async fn price_of(user: u64, item: &str) -> u32 {
    tokio::time::sleep(Duration::from_millis(2)).await;
    (user as u32) * 10 + item.len() as u32
}

/// Stands in for redis.
struct Cache {
    entries: Mutex<HashMap<u64, User>>,
}

#[trace_impl]
impl Cache {
    fn get(&self, key: u64) -> Option<User> {
        let hit = self.entries.lock().ok()?.get(&key).cloned();
        if hit.is_none() {
            tracekit::current_span().add_event("cache-miss", [("key", key)]);
        }
        hit
    }

    fn put(&self, user: User) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(user.id, user);
        }
    }
}

#[trace_fn]
async fn handle_request(
    cache: &Cache,
    repo: &UserRepository,
    user_id: u64,
) -> Result<String, RepoError> {
    tracekit::current_span().set_baggage_item("request.id", format!("req-{user_id}"));
    let user = match cache.get(user_id) {
        Some(user) => user,
        None => {
            let user = repo.find(user_id)?;
            cache.put(user.clone());
            user
        }
    };
    let prices = repo.prices(user.id).await;
    Ok(format!("{} owes {}", user.name, prices.iter().sum::<u32>()))
}

#[tokio::main]
async fn main() {
    // With OTEL_EXPORTER_OTLP_ENDPOINT set, export to Jaeger, Tempo or a
    // Collector; else print every finished trace as a tree. With
    // TRACEKIT_HTML=trace.html, also write a waterfall page to open in a
    // browser. The guard delivers what is left when main returns.
    let html = match std::env::var_os("TRACEKIT_HTML") {
        Some(path) => match tracekit_view::HtmlReporter::to_file(&path) {
            Ok(page) => Some(page.with_service_name("quickstart")),
            Err(e) => {
                eprintln!("cannot write {}: {e}", path.to_string_lossy());
                std::process::exit(1);
            }
        },
        None => None,
    };
    let _reporter = match tracekit_otlp::from_env() {
        Some(otlp) => tracekit::set_reporter((otlp, html)),
        None => tracekit::set_reporter((tracekit::ConsoleReporter::stdout(), html)),
    };

    let cache = Cache {
        entries: Mutex::new(HashMap::new()),
    };
    let repo = UserRepository {
        rows: HashMap::from([(1, "ada".to_string()), (2, "grace".to_string())]),
    };

    for user_id in [1, 1, 42] {
        // What an HTTP middleware does: one server span per request.
        let request = tracekit::Span::builder("GET /users/:id/bill")
            .kind(SpanKind::Server)
            .tag("http.request.method", "GET")
            .tag("http.route", "/users/:id/bill")
            .root()
            .start();
        let result = handle_request(&cache, &repo, user_id)
            .in_span(request)
            .await;
        match result {
            Ok(body) => println!("-> 200 {body}"),
            Err(e) => println!("-> 404 {e}"),
        }
        tracekit::flush();
    }
}
