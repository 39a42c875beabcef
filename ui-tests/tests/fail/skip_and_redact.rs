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

#[tracekit::trace_fn(fields(auth.token = 1), redact(auth.tokn, "x-key", return))]
fn redact_unknown_field_and_return_without_ret(a: u8) -> u8 {
    a
}

#[tracekit::trace_fn(fields(auth.token = 1), redact(auth.token = 1))]
fn redact_with_a_value(a: u8) -> u8 {
    a
}

struct Accounts;

#[tracekit::trace_impl(skip(pin), redact(password, card.number, return))]
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
