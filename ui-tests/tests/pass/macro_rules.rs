//! Functions and impls made by `macro_rules!`, with arguments named by the
//! macro's caller or by the macro itself.

#![deny(warnings)]

use tracekit::{trace_fn, trace_impl};

macro_rules! getter {
    ($name:ident, $arg:ident: $ty:ty => $body:expr) => {
        #[trace_fn]
        fn $name($arg: $ty) -> $ty {
            $body
        }
    };
}

macro_rules! own_names {
    ($name:ident) => {
        #[trace_fn(skip(secret), fields(len = input.len()))]
        fn $name(input: &str, secret: &str) -> usize {
            input.len() + secret.len()
        }
    };
}

macro_rules! service {
    ($ty:ident, $method:ident) => {
        struct $ty;
        #[trace_impl]
        impl $ty {
            fn $method(&self, n: u8) -> u8 {
                n
            }
            async fn async_method(&self) -> u8 {
                1
            }
        }
    };
}

getter!(double, x: u64 => x * 2);
own_names!(measure);
service!(Svc, handle);

fn main() {
    let _ = double(2);
    let _ = measure("a", "b");
    let _ = Svc.handle(1);
    let _ = Svc.async_method();
}
