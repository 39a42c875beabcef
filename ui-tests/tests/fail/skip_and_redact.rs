#[tracekit::trace_fn(redact(pasword))]
fn login(user: &str, password: &str) -> bool {
    user.len() > password.len()
}

#[tracekit::trace_fn(skip(password), redact(password))]
fn both(password: &str) -> usize {
    password.len()
}

#[tracekit::trace_fn(skip(self))]
fn skip_self(a: u8) -> u8 {
    a
}

#[tracekit::trace_fn(redact(a::b))]
fn path_not_name(a: u8) -> u8 {
    a
}

struct Accounts;

#[tracekit::trace_impl(skip(pin), redact(password))]
impl Accounts {
    fn login(&self, password: &str) -> bool {
        password.is_empty()
    }

    #[trace_fn(skip(passwd))]
    fn change(&self, password: &str) -> bool {
        password.is_empty()
    }
}

fn main() {}
