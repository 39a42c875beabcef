//! Secrets stay out of spans: `redact(...)` over arguments, fields and the
//! return value, added up across `#[trace_impl]` and its methods, and
//! `tracekit::Secret` wherever a value goes.

use std::fmt;
use tracekit::testing::{Captured, capture};
use tracekit::{Secret, trace_fn, trace_impl};

/// Fails if a secret's text is anywhere in what was captured: tags, events
/// (the `exception` event's message), status.
fn assert_nowhere(c: &Captured, secrets: &[&str]) {
    for span in c.spans() {
        let mut texts: Vec<String> = span.tags().map(|(_, v)| v.to_string()).collect();
        for e in span.events() {
            texts.push(e.name().to_owned());
            texts.extend(e.fields().iter().map(|(_, v)| v.to_string()));
        }
        texts.push(format!("{:?}", span.status()));
        for t in texts {
            for s in secrets {
                assert!(!t.contains(s), "{s} leaked in {:?}: {t}", span.name());
            }
        }
    }
}

struct Session {
    token: String,
}

#[trace_fn(
    fields(user.id = user_id, auth.token = session.token.as_str(), "x-api-key" = %api_key),
    redact(auth.token, "x-api-key", api_key),
)]
fn fetch_profile(user_id: u64, session: &Session, api_key: &str) -> usize {
    session.token.len() + api_key.len() + user_id as usize
}

#[trace_fn(ret, redact(return))]
fn issue_token(user: &str) -> String {
    format!("tok-{user}-s3cr3t")
}

#[trace_fn(ret, redact(return))]
fn issue_checked(user: &str) -> Result<String, String> {
    if user.is_empty() {
        Err("no user".into())
    } else {
        Ok(format!("tok-{user}-s3cr3t"))
    }
}

#[trace_fn(ret, redact(return))]
async fn issue_later(user: &str) -> String {
    format!("tok-{user}-s3cr3t")
}

#[test]
fn redact_covers_fields_and_the_return_value() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let session = Session {
        token: "t0k3n".into(),
    };
    let (out, c) = capture(|| {
        (
            fetch_profile(7, &session, "k3y"),
            issue_token("ann"),
            issue_checked("ann"),
            issue_checked(""),
            rt.block_on(issue_later("bob")),
        )
    });
    assert_eq!(out.0, 5 + 3 + 7);
    assert_eq!(
        out.1, "tok-ann-s3cr3t",
        "the function still returns its value"
    );
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty());
        return;
    }
    let profile = c.span("fetch_profile");
    assert_eq!(profile.tag("user.id").unwrap().to_string(), "7");
    assert_eq!(profile.tag("auth.token").unwrap().to_string(), "[redacted]");
    assert_eq!(profile.tag("x-api-key").unwrap().to_string(), "[redacted]");
    assert_eq!(
        c.span("issue_token").tag("return").unwrap().to_string(),
        "[redacted]"
    );
    assert_eq!(
        c.span("issue_later").tag("return").unwrap().to_string(),
        "[redacted]"
    );
    let checked: Vec<_> = c
        .spans()
        .iter()
        .filter(|s| s.name() == "issue_checked")
        .collect();
    assert_eq!(checked[0].tag("return").unwrap().to_string(), "[redacted]");
    assert!(!checked[0].is_error());
    // An `Err` is still an error, with its message: `redact(return)` hides
    // what `ret` records, the `Ok` value.
    assert!(checked[1].tag("return").is_none());
    assert!(checked[1].is_error());
    assert_nowhere(&c, &["t0k3n", "k3y", "s3cr3t"]);
}

struct Vault;

/// The impl hides `pin` everywhere; a method hiding its own `otp` must not
/// bring `pin` back.
#[trace_impl(redact(pin))]
impl Vault {
    fn open(&self, user: &str, pin: u32) -> bool {
        !user.is_empty() && pin > 0
    }

    #[trace_fn(redact(otp))]
    fn open_2fa(&self, user: &str, pin: u32, otp: u32) -> bool {
        !user.is_empty() && pin > 0 && otp > 0
    }
}

#[test]
fn a_methods_redact_adds_to_its_impls() {
    let (out, c) = capture(|| {
        (
            Vault.open("ann", 4321),
            Vault.open_2fa("ann", 4321, 987_654),
        )
    });
    assert_eq!(out, (true, true));
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty(), "nothing recorded");
        return;
    }
    let open = c.span("Vault::open");
    assert_eq!(open.tag("pin").unwrap().to_string(), "[redacted]");
    let open_2fa = c.span("Vault::open_2fa");
    assert_eq!(open_2fa.tag("user").unwrap().to_string(), "ann");
    assert_eq!(open_2fa.tag("pin").unwrap().to_string(), "[redacted]");
    assert_eq!(open_2fa.tag("otp").unwrap().to_string(), "[redacted]");
    assert_nowhere(&c, &["4321", "987654"]);
}

/// A type holding a secret, with a derived `Debug` that is safe to record.
#[derive(Debug, Clone)]
struct Credentials {
    user: String,
    password: Secret<String>,
}

#[derive(Debug)]
struct LoginError {
    tried: Secret<String>,
}

impl fmt::Display for LoginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "wrong password {}", self.tried)
    }
}

impl std::error::Error for LoginError {}

#[trace_fn(ret, fields(typed = creds.password.clone(), shown = %creds.password, debugged = ?creds))]
fn check(
    creds: &Credentials,
    pin: Secret<u32>,
    spare: Option<Secret<u32>>,
) -> Result<Secret<String>, LoginError> {
    let _ = (pin, spare);
    if creds.password.expose() == "hunter2" {
        Ok(Secret::new("session-s3cr3t".into()))
    } else {
        Err(LoginError {
            tried: creds.password.clone(),
        })
    }
}

#[test]
fn a_secret_is_redacted_wherever_it_is_recorded() {
    let good = Credentials {
        user: "ann".into(),
        password: Secret::new("hunter2".into()),
    };
    let bad = Credentials {
        user: "ann".into(),
        password: Secret::new("hunter3".into()),
    };
    assert_eq!(good.user, bad.user);
    let (out, c) = capture(|| {
        let ok = check(&good, Secret::new(1234), Some(Secret::new(5678)));
        let err = check(&bad, Secret::new(1234), None);
        tracekit::start_active_span("manual").set_tag("key", Secret::new("manual-s3cr3t"));
        (ok.map(|s| s.into_inner()), err.map_err(|e| e.to_string()))
    });
    assert_eq!(
        out.0.as_ref().ok().map(String::as_str),
        Some("session-s3cr3t")
    );
    assert_eq!(out.1.as_ref().unwrap_err(), "wrong password [redacted]");
    if !tracekit::TRACE_ALL {
        assert!(c.spans().is_empty(), "nothing recorded");
        return;
    }
    let spans: Vec<_> = c.spans().iter().filter(|s| s.name() == "check").collect();
    let ok = spans[0];
    assert_eq!(
        ok.tag("creds").unwrap().to_string(),
        r#"Credentials { user: "ann", password: [redacted] }"#
    );
    for key in ["pin", "spare", "typed", "shown", "return"] {
        assert_eq!(ok.tag(key).unwrap().to_string(), "[redacted]", "{key}");
    }
    assert!(spans[1].is_error());
    assert_eq!(
        c.span("manual").tag("key").unwrap().to_string(),
        "[redacted]"
    );
    assert_nowhere(&c, &["hunter", "1234", "5678", "s3cr3t"]);
}
