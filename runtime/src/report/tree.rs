//! Arranging a set of spans as trees: children under parents, in start order.

use crate::data::record::SpanRecord;
use std::collections::HashMap;

/// The spans in depth-first order as `(depth, index)`: roots (spans whose
/// parent is not in the set) first, each followed by its subtree; siblings in
/// start order, ties kept in arrival order.
pub(crate) fn depth_first(spans: &[SpanRecord]) -> Vec<(usize, usize)> {
    let present: HashMap<_, _> = spans
        .iter()
        .enumerate()
        .map(|(i, s)| ((s.trace_id(), s.span_id()), i))
        .collect();
    let mut children: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut roots = Vec::new();
    for (i, s) in spans.iter().enumerate() {
        match s
            .parent_id()
            .and_then(|p| present.get(&(s.trace_id(), p)))
            .filter(|&&p| p != i)
        {
            Some(&p) => children.entry(p).or_default().push(i),
            None => roots.push(i),
        }
    }
    let by_start = |v: &mut Vec<usize>| v.sort_by_key(|&i| spans[i].start());
    by_start(&mut roots);
    children.values_mut().for_each(by_start);
    let mut out = Vec::with_capacity(spans.len());
    let mut stack: Vec<(usize, usize)> = roots.iter().rev().map(|&i| (0, i)).collect();
    while let Some((depth, i)) = stack.pop() {
        out.push((depth, i));
        if let Some(kids) = children.get(&i) {
            stack.extend(kids.iter().rev().map(|&k| (depth + 1, k)));
        }
    }
    out
}

/// The roots of the set, in start order.
pub(crate) fn roots(spans: &[SpanRecord]) -> Vec<usize> {
    depth_first(spans)
        .into_iter()
        .filter(|&(d, _)| d == 0)
        .map(|(_, i)| i)
        .collect()
}
