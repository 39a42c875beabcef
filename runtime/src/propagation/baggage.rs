//! W3C Baggage: the `baggage` header (<https://www.w3.org/TR/baggage/>).

use super::{ExtractError, Extracted, Extractor, Injector};
use crate::data::baggage::Baggage;
use crate::data::percent;

pub(crate) const BAGGAGE: &str = "baggage";

/// Whether `key` is an RFC 7230 token, the only keys baggage allows.
pub(crate) fn is_token(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

pub(crate) fn inject(baggage: &Baggage, carrier: &mut dyn Injector) {
    // Baggage holds itself within MAX_BAGGAGE_MEMBERS / MAX_BAGGAGE_BYTES
    // as this header measures it; what a peer sent goes on as it came.
    let mut header = String::new();
    for (key, value, wire) in baggage.iter_wire(true) {
        // A key that is not a token cannot be sent; leave it out.
        if !is_token(key) {
            continue;
        }
        if !header.is_empty() {
            header.push(',');
        }
        header.push_str(key);
        header.push('=');
        match wire {
            Some(wire) => header.push_str(wire),
            None => header.push_str(&percent::encode(value)),
        }
    }
    if !header.is_empty() {
        carrier.set(BAGGAGE, header);
    }
}

pub(crate) fn extract(carrier: &dyn Extractor, found: &mut Extracted) -> Result<(), ExtractError> {
    let values = carrier.get_all(BAGGAGE);
    if values.is_empty() {
        return Err(ExtractError::Missing(BAGGAGE));
    }
    let mut dropped = false;
    for value in values {
        for member in value.split(',') {
            let member = member.trim_matches([' ', '\t']);
            if member.is_empty() {
                continue;
            }
            // Whole members only: a malformed one, or one past the limits
            // (Baggage enforces them), is dropped.
            let kept = match parse_member(member) {
                Some((key, value, wire)) => found.baggage_mut().set_from_wire(key, value, wire),
                None => false,
            };
            dropped |= !kept;
        }
    }
    if dropped {
        return Err(ExtractError::Malformed {
            field: BAGGAGE,
            reason: "members dropped: malformed or over the 64-member / 8192-byte limits",
        });
    }
    Ok(())
}

/// `key = value *( ; property )`; properties are accepted and not kept.
/// Returns the key, the decoded value and the value as sent.
fn parse_member(member: &str) -> Option<(String, String, &str)> {
    let head = member.split(';').next()?;
    let (key, value) = head.split_once('=')?;
    let key = key.trim_matches([' ', '\t']);
    let value = value.trim_matches([' ', '\t']);
    if !is_token(key) {
        return None;
    }
    let valid = value
        .bytes()
        .all(|b| matches!(b, 0x21 | 0x23..=0x2b | 0x2d..=0x3a | 0x3c..=0x5b | 0x5d..=0x7e));
    if !valid {
        return None;
    }
    Some((key.to_owned(), percent::decode(value)?, value))
}
