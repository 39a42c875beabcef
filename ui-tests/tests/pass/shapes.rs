//! Every sync function shape compiles traced, unchanged in behaviour.

#![deny(warnings)]

use std::fmt::Debug;
use std::pin::Pin;
use std::sync::Arc;
use tracekit::{trace_fn, trace_impl};

#[trace_fn]
fn free(a: u64, b: &str) -> u64 {
    a + b.len() as u64
}

#[trace_fn]
fn unit() {}

#[trace_fn]
fn explicit_unit() -> () {}

#[trace_fn]
fn generic<T: Clone + Debug, const N: usize>(items: [T; N]) -> Vec<T>
where
    T: Send,
{
    items.to_vec()
}

#[trace_fn]
fn lifetimes<'a, 'b: 'a>(a: &'a str, _b: &'b str) -> &'a str {
    a
}

#[trace_fn]
fn impl_arg(values: impl IntoIterator<Item = u8>, label: impl Debug) -> usize {
    let _ = label;
    values.into_iter().count()
}

#[trace_fn]
fn impl_return(n: u8) -> impl Iterator<Item = u8> + Clone {
    0..n
}

#[trace_fn]
fn impl_in_result(s: &str) -> Result<impl Iterator<Item = u8>, std::num::ParseIntError> {
    let n: u8 = s.parse()?;
    Ok(0..n)
}

#[trace_fn]
fn boxed_closure(k: u8) -> Box<dyn Fn(u8) -> u8> {
    Box::new(move |x| x + k)
}

#[trace_fn]
fn question(s: &str) -> Result<u8, std::num::ParseIntError> {
    let v: u8 = s.parse()?;
    if v == 0 {
        return Ok(1);
    }
    Ok(v)
}

#[trace_fn]
fn patterns((a, b): (u8, u8), Point { x, y }: Point, _: u8, [first, ..]: [u8; 3], mut m: u8) -> u8 {
    m += 1;
    a + b + x + y + first + m
}

struct Point {
    x: u8,
    y: u8,
}

#[trace_fn]
fn recursive(n: u32) -> u32 {
    if n == 0 { 0 } else { n + recursive(n - 1) }
}

#[trace_fn]
fn never_returns() -> ! {
    panic!("diverges")
}

#[trace_fn]
unsafe fn raw(p: *const u8) -> u8 {
    // SAFETY: the caller passes a valid pointer.
    unsafe { *p }
}

#[trace_fn]
extern "C" fn callback(x: i32) -> i32 {
    x
}

#[trace_fn]
unsafe extern "C" fn unsafe_callback(x: i32) -> i32 {
    x
}

#[trace_fn]
pub(crate) fn visibility() {}

struct S {
    v: u8,
}

#[trace_impl]
impl S {
    fn by_ref(&self) -> u8 {
        self.v
    }
    fn by_mut(&mut self, v: u8) {
        self.v = v;
    }
    fn by_value(self) -> u8 {
        self.v
    }
    fn by_mut_value(mut self) -> u8 {
        self.v += 1;
        self.v
    }
    fn boxed(self: Box<Self>) -> u8 {
        self.v
    }
    fn arc(self: Arc<Self>) -> u8 {
        self.v
    }
    fn pinned(self: Pin<&mut Self>) -> u8 {
        self.v
    }
    fn typed_ref(self: &Self) -> u8 {
        self.v
    }
    fn assoc() -> Self {
        S { v: 0 }
    }
    fn returns_self_ref(&mut self) -> &mut Self {
        self
    }
    #[trace_fn(name = "custom")]
    fn renamed(&self) {}
    #[no_trace]
    fn hidden(&self) {}
    const LIMIT: u8 = 3;
}

struct Wrapper<T>(T);

#[trace_impl]
impl<T: Debug + Clone> Wrapper<T> {
    fn get(&self) -> T {
        self.0.clone()
    }
    fn map<U, F: FnOnce(T) -> U>(self, f: F) -> Wrapper<U> {
        Wrapper(f(self.0))
    }
}

struct Countdown(u8);

/// Associated types and consts of a trait impl pass through untouched.
#[trace_impl]
impl Iterator for Countdown {
    type Item = u8;
    fn next(&mut self) -> Option<u8> {
        self.0 = self.0.checked_sub(1)?;
        Some(self.0)
    }
}

trait Shape {
    fn area(&self) -> f64;
    fn describe(&self) -> String {
        format!("{}", self.area())
    }
}

#[trace_impl]
impl Shape for S {
    fn area(&self) -> f64 {
        f64::from(self.v)
    }
}

#[trace_impl]
trait Named {
    fn name(&self) -> String;
    fn greet(&self, greeting: &str) -> String {
        format!("{greeting} {}", self.name())
    }
}

impl Named for S {
    fn name(&self) -> String {
        "s".into()
    }
}

fn main() {
    let _ = free(1, "x");
    unit();
    explicit_unit();
    let _ = generic([1u8, 2]);
    let _ = lifetimes("a", "b");
    let _ = impl_arg([1, 2], "label");
    let _ = impl_return(3).clone().count();
    let _ = impl_in_result("3").map(Iterator::count);
    let _ = boxed_closure(1)(2);
    let _ = question("3");
    let _ = patterns((1, 2), Point { x: 3, y: 4 }, 5, [6, 7, 8], 9);
    let _ = recursive(3);
    std::panic::set_hook(Box::new(|_| {}));
    let _ = std::panic::catch_unwind(|| never_returns());
    let _ = std::panic::take_hook();
    // SAFETY: a valid pointer.
    let _ = unsafe { raw(&1) };
    let _ = callback(1);
    // SAFETY: no preconditions.
    let _ = unsafe { unsafe_callback(1) };
    visibility();
    let mut s = S::assoc();
    s.by_mut(S::LIMIT);
    let _ = s.by_ref();
    let _ = s.typed_ref();
    let _ = s.returns_self_ref().by_ref();
    s.renamed();
    s.hidden();
    let _ = Pin::new(&mut s).pinned();
    let _ = Box::new(S { v: 1 }).boxed();
    let _ = Arc::new(S { v: 1 }).arc();
    let _ = S { v: 1 }.by_mut_value();
    let _ = s.area() + s.describe().len() as f64;
    let _ = s.greet("hi");
    let _ = s.by_value();
    let _ = Countdown(3).count();
    let _ = Wrapper(1u8).get();
    let _ = Wrapper(1u8).map(|v| v + 1).get();
}

