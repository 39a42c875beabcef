//! W3C Baggage: the `baggage` header (<https://www.w3.org/TR/baggage/>).

use super::{ExtractError, Extracted, Extractor, Injector, percent};
use crate::baggage::Baggage;

pub(crate) const BAGGAGE: &str = "baggage";
/// The limits every peer must accept; beyond them whole members are dropped.
pub(crate) const MAX_MEMBERS: usize = 64;
pub(crate) const MAX_BYTES: usize = 8192;

/// Whether `key` is an RFC 7230 token, the only keys baggage allows.
pub(crate) fn is_token(key: &str) -> bool {
    !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

pub(crate) fn inject(baggage: &Baggage, carrier: &mut dyn Injector) {
    let mut header = String::new();
    let mut members = 0;
    for (key, value) in baggage.iter() {
        if members == MAX_MEMBERS {
            break;
        }
        // A key that is not a token cannot be sent; leave it out.
        if !is_token(key) {
            continue;
        }
        let member = format!("{key}={}", percent::encode(value));
        let extra = member.len() + usize::from(!header.is_empty());
        if header.len() + extra > MAX_BYTES {
            continue;
        }
        if !header.is_empty() {
            header.push(',');
        }
        header.push_str(&member);
        members += 1;
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
    let mut members = 0;
    let mut bytes = 0;
    let mut dropped = false;
    for value in values {
        for member in value.split(',') {
            let member = member.trim_matches([' ', '\t']);
            if member.is_empty() {
                continue;
            }
            // Whole members only: one that would pass a limit is dropped.
            let cost = member.len() + usize::from(bytes > 0);
            if members == MAX_MEMBERS || bytes + cost > MAX_BYTES {
                dropped = true;
                continue;
            }
            match parse_member(member) {
                Some((key, value)) => {
                    found.baggage_mut().set(key, value);
                    members += 1;
                    bytes += cost;
                }
                None => dropped = true,
            }
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
fn parse_member(member: &str) -> Option<(String, String)> {
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
    Some((key.to_owned(), percent::decode(value)?))
}
