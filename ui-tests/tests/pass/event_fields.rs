//! Event fields take keys and values the way `set_tag` does, on every span
//! handle: a plain `u64` or `&str` needs no `.into()`.

use tracekit::{Event, Span, Value};

fn main() {
    let user_id = 42u64;
    let name = String::from("ada");

    let mut span = Span::start("owned");
    span.set_tag("user_id", user_id);
    span.add_event("sent", [("user_id", user_id)]);
    span.add_event("named", [("name", name.as_str())]);
    span.add_event_at("at", std::time::SystemTime::now(), [("n", 1)]);
    span.add_event("none", ());

    let active = tracekit::start_active_span("active");
    active.add_event("sent", [("user_id", user_id)]);
    active.add_event("mixed", [("user_id", Value::from(user_id)), ("ok", true.into())]);
    active.add_event("runtime keys", vec![(format!("k{user_id}"), name.clone())]);

    tracekit::current_span().add_event("sent", [("user_id", user_id)]);
    tracekit::current_span().add_event("slice", &[("a", 1u8), ("b", 2u8)][..]);
    tracekit::current_span().record_event(Event::new("built").with_field("user_id", user_id));
}
