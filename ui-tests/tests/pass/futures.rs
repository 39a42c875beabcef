//! Async shapes: `async fn` (free, methods, in traits), functions returning
//! `impl Future` or `Pin<Box<dyn Future>>`, and `async-trait` with the
//! attribute above and below. Traced futures stay `Send` when the body is.

#![deny(warnings)]

use std::future::Future;
use std::pin::Pin;
use tracekit::{trace_fn, trace_impl};

fn assert_send<T: Send>(t: T) -> T {
    t
}

#[trace_fn]
async fn plain(x: u32) -> u32 {
    x
}

#[trace_fn]
async fn fallible(x: u32) -> Result<u32, std::num::ParseIntError> {
    let y: u32 = "1".parse()?;
    if x == 0 {
        return Ok(y);
    }
    Ok(x + y)
}

#[trace_fn]
async fn borrows<'a>(s: &'a str, n: &mut u32) -> &'a str {
    *n += 1;
    s
}

#[trace_fn]
async fn generic<T: Send + std::fmt::Debug>(value: T) -> T {
    value
}

#[trace_fn]
async fn async_impl_return(n: u8) -> impl Iterator<Item = u8> {
    0..n
}

#[trace_fn]
fn impl_future(x: u32) -> impl Future<Output = u32> + Send {
    async move { x }
}

#[trace_fn]
fn impl_future_borrowing(s: &str) -> impl Future<Output = usize> + '_ {
    async move { s.len() }
}

#[trace_fn]
fn impl_future_result(x: u32) -> impl Future<Output = Result<u32, String>> {
    async move { if x > 0 { Ok(x) } else { Err("zero".into()) } }
}

#[trace_fn]
fn unpin_future() -> impl Future<Output = u8> + Unpin {
    std::future::ready(1)
}

#[trace_fn]
fn boxed_future<'a>(s: &'a str) -> Pin<Box<dyn Future<Output = usize> + Send + 'a>> {
    Box::pin(async move { s.len() })
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

#[trace_fn(ret)]
fn aliased_future(x: u8) -> BoxFuture<'static, u8> {
    Box::pin(async move { x })
}

struct Service;

#[trace_impl]
impl Service {
    async fn call(&self, req: &str) -> usize {
        req.len()
    }
    async fn consume(self) -> u8 {
        1
    }
    fn later(&self) -> impl Future<Output = u8> + '_ {
        async { 2 }
    }
}

trait Repo {
    async fn get(&self, id: u32) -> Option<u32>;
    async fn get_or_zero(&self, id: u32) -> u32 {
        self.get(id).await.unwrap_or(0)
    }
}

#[trace_impl]
impl Repo for Service {
    async fn get(&self, id: u32) -> Option<u32> {
        Some(id)
    }
}

#[trace_impl]
trait Warm {
    async fn warm(&self, n: usize) -> usize {
        n
    }
}

impl Warm for Service {}

#[async_trait::async_trait]
trait Mailer {
    async fn send(&self, to: &str) -> Result<(), String>;
}

#[trace_impl]
#[async_trait::async_trait]
impl Mailer for Service {
    async fn send(&self, to: &str) -> Result<(), String> {
        if to.is_empty() {
            return Err("empty".into());
        }
        Ok(())
    }
}

struct Below;

#[async_trait::async_trait]
#[trace_impl(ret)]
impl Mailer for Below {
    async fn send(&self, to: &str) -> Result<(), String> {
        let _ = to;
        Ok(())
    }
}

struct OnMethod;

#[async_trait::async_trait]
impl Mailer for OnMethod {
    #[trace_fn(kind = "client")]
    async fn send(&self, to: &str) -> Result<(), String> {
        let _ = to;
        Ok(())
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().build().unwrap();
    rt.block_on(async {
        let _ = tokio::spawn(plain(1)).await;
        let _ = tokio::spawn(fallible(1)).await;
        let _ = tokio::spawn(generic(String::new())).await;
        let _ = tokio::spawn(impl_future(1)).await;
        let _ = tokio::spawn(impl_future_result(1)).await;
        let _ = tokio::spawn(aliased_future(1)).await;
        let _ = tokio::spawn(async { Service.call("x").await }).await;
        let _ = tokio::spawn(async { Service.get(1).await }).await;
        let mut n = 0;
        let _ = assert_send(borrows("s", &mut n)).await;
        let _ = async_impl_return(2).await.count();
        let _ = impl_future_borrowing("ab").await;
        let _ = unpin_future().await;
        let _ = assert_send(boxed_future("abc")).await;
        let _ = Service.later().await;
        let _ = Service.get_or_zero(2).await;
        let _ = Service.warm(1).await;
        let mailers: [Box<dyn Mailer + Send + Sync>; 3] =
            [Box::new(Service), Box::new(Below), Box::new(OnMethod)];
        for m in &mailers {
            let _ = assert_send(m.send("a")).await;
        }
        let _ = Service.consume().await;
    });
}
