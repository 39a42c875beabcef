//! Where a new span stands in its trace (its lineage): its parent, its
//! trace and flags, what it inherits, and the sampler's decision where a
//! trace starts or enters the process; starting local and owned spans.

use super::*;

/// What a new span inherits: nothing, its parent's entry in this batch's
/// table, or a shared copy.
pub(crate) enum Inherit {
    Nothing,
    InBatch(u32),
    Shared(Arc<Inherited>),
}

/// Where a new span stands in its trace: everything it takes from its parent.
pub(crate) struct Lineage {
    pub(crate) trace_id: TraceId,
    pub(crate) parent_id: Option<SpanId>,
    pub(crate) remote_parent: bool,
    pub(crate) flags: u8,
    pub(crate) capture: u32,
    pub(crate) inherit: Inherit,
    /// The sampler's `sampler.type` and `sampler.param`, for a sampled span
    /// where a trace starts or enters this process.
    pub(crate) sampler_tags: Option<(&'static str, Value)>,
}

impl Lineage {
    /// The first span of a new trace, recorded as the sampler decides (or
    /// as `forced`: a `sampling.priority` given at start).
    pub(crate) fn root(capture: u32, name: &str, kind: SpanKind, forced: Option<bool>) -> Lineage {
        let mut lineage = Lineage {
            // All 128 bits random: W3C's random-trace-id flag holds.
            trace_id: TraceId::random(),
            parent_id: None,
            remote_parent: false,
            flags: crate::data::raw::RANDOM,
            capture,
            inherit: Inherit::Nothing,
            sampler_tags: None,
        };
        lineage.decide(None, name, kind, forced);
        if capture != 0 {
            crate::collect::capture::started(lineage.trace_id, capture);
        }
        lineage
    }

    /// A span continuing `parent` given explicitly (a remote parent from
    /// request headers, or `child_of`): the sampler decides again, and a
    /// debug parent is always followed.
    pub(crate) fn continuing(
        parent: &SpanContext,
        capture: u32,
        name: &str,
        kind: SpanKind,
        forced: Option<bool>,
    ) -> Lineage {
        let mut lineage = Lineage {
            trace_id: parent.trace_id,
            parent_id: Some(parent.span_id),
            remote_parent: parent.remote,
            flags: parent.flags,
            capture,
            inherit: match &parent.inherited {
                Some(i) => Inherit::Shared(i.clone()),
                None => Inherit::Nothing,
            },
            sampler_tags: None,
        };
        if parent.flags & DEBUG != 0 && forced.is_none() {
            lineage.flags |= SAMPLED;
        } else {
            lineage.decide(Some(parent), name, kind, forced);
        }
        if parent.remote {
            lineage.capture = crate::collect::capture::entering(
                lineage.trace_id,
                capture,
                lineage.flags & RECORDS != 0,
            );
        }
        lineage
    }

    /// Sets the sampled flag as decided; a trace head sampling drops is
    /// still recorded (record-only) when tail keep wants it.
    fn decide(
        &mut self,
        parent: Option<&SpanContext>,
        name: &str,
        kind: SpanKind,
        forced: Option<bool>,
    ) {
        let keep = match forced {
            Some(f) => {
                self.force(f);
                return;
            }
            None if !filter::is_enabled() => false,
            None => {
                let decision = sampler::decide(&SamplingInput {
                    parent,
                    trace_id: self.trace_id,
                    name,
                    kind,
                });
                let keep = decision.is_sampled();
                // Jaeger clients tag where the decision is made, for a new
                // trace; a span following its parent's flag says nothing.
                if keep && parent.is_none() {
                    self.sampler_tags = Some(decision.into_tags());
                }
                keep
            }
        };
        self.flags &= !RECORDS;
        if keep {
            self.flags |= SAMPLED;
        } else if collector::tail_keep_enabled() && filter::is_enabled() {
            self.flags |= RECORD;
        } else {
            self.flags &= !DEBUG;
        }
    }

    /// Applies a forced decision: sampled and debug, or not recorded.
    pub(crate) fn force(&mut self, sampled: bool) {
        if sampled {
            self.flags = (self.flags & !RECORD) | SAMPLED | DEBUG;
        } else {
            self.flags &= !(RECORDS | DEBUG);
        }
        self.sampler_tags = None;
    }

    /// Records nothing (tracing is switched off), ids still handed down.
    pub(crate) fn unrecorded(&mut self) {
        self.flags &= !RECORDS;
        self.sampler_tags = None;
    }

    /// The record of a new span of this lineage (its side parts unset).
    #[inline]
    fn raw(
        &self,
        name: &'static str,
        meta: Option<Point>,
        kind: SpanKind,
        start: Stamp,
    ) -> RawSpan {
        RawSpan {
            trace_id: self.trace_id,
            span_id: SpanId::random(),
            parent_id: self.parent_id,
            start,
            end: Stamp::OPEN,
            name,
            meta,
            inherited: NONE,
            extras: NONE,
            args: NONE,
            capture: self.capture,
            flags: self.flags,
            kind,
            remote_parent: self.remote_parent,
            tags_set: 0,
        }
    }
}

impl State {
    /// The lineage of a `#[trace_fn]` call of `meta`: a child of the
    /// current frame; or a new trace, for a root point
    /// (`#[trace_fn(root)]`) and for a call outside any span that may start
    /// one (see `sampling/roots.rs`; one that may not records nothing).
    pub(crate) fn point_lineage(&self, meta: Point) -> Lineage {
        let (name, kind) = (meta.name(), meta.kind());
        if meta.is_root() {
            return Lineage::root(self.capture_here(), name, kind, None);
        }
        if !self.has_parent() {
            if !roots::may_start(meta) {
                return Lineage::root(self.capture_here(), name, kind, Some(false));
            }
            if kind == SpanKind::Internal {
                crate::data::diag::debug_once(meta.addr(), || {
                    format!(
                        "`{name}` was called outside any span and started a trace of its own \
                         (said once for it). If it runs in work handed to tokio::spawn, \
                         std::thread::spawn, a thread pool or a callback, carry the caller's \
                         span: tracekit::task::spawn, tracekit::thread::spawn, \
                         Context::current().wrap(..). If it is not an entry point, \
                         tracekit::sampler::set_roots(Roots::EntryPoints) records nothing for it."
                    )
                });
            }
        }
        self.lineage(name, kind, None)
    }

    /// Whether a span started now has a parent (the current frame is a
    /// span, or a context with one).
    fn has_parent(&self) -> bool {
        match self.stack.last().map(|f| self.kind(f)) {
            Some(FrameKind::Recorded(slot)) => (slot as usize) < self.batch.spans.len(),
            Some(FrameKind::Carried(c)) => c.span_id.is_some(),
            None => false,
        }
    }

    /// The lineage of a child of the current frame, or of a new root
    /// (named `name`, for the sampler).
    #[inline]
    pub(crate) fn lineage(&self, name: &str, kind: SpanKind, forced: Option<bool>) -> Lineage {
        let mut lineage = self.child_lineage(name, kind, forced);
        if let (Some(f), Some(_)) = (forced, lineage.parent_id) {
            lineage.force(f);
        }
        lineage
    }

    #[inline]
    pub(super) fn child_lineage(
        &self,
        name: &str,
        kind: SpanKind,
        forced: Option<bool>,
    ) -> Lineage {
        match self.stack.last().map(|f| self.kind(f)) {
            Some(FrameKind::Recorded(slot)) => match self.batch.spans.get(slot as usize) {
                Some(p) => Lineage {
                    trace_id: p.trace_id,
                    parent_id: Some(p.span_id),
                    remote_parent: false,
                    flags: p.flags,
                    capture: self.capture_with(p.capture),
                    inherit: match p.inherited {
                        NONE => Inherit::Nothing,
                        i => Inherit::InBatch(i),
                    },
                    sampler_tags: None,
                },
                None => Lineage::root(self.capture, name, kind, forced),
            },
            Some(FrameKind::Carried(c)) => match c.span_id {
                Some(id) => Lineage {
                    trace_id: c.trace_id,
                    parent_id: Some(id),
                    remote_parent: c.remote,
                    flags: c.flags,
                    capture: match c.remote {
                        false => self.capture_with(c.capture),
                        true => crate::collect::capture::entering(
                            c.trace_id,
                            self.capture_with(c.capture),
                            c.flags & RECORDS != 0,
                        ),
                    },
                    inherit: match &c.inherited {
                        Some(i) => Inherit::Shared(i.clone()),
                        None => Inherit::Nothing,
                    },
                    sampler_tags: None,
                },
                None => Lineage::root(self.capture_with(c.capture), name, kind, forced),
            },
            None => Lineage::root(self.capture, name, kind, forced),
        }
    }

    pub(super) fn shared(&self, inherit: Inherit) -> Option<Arc<Inherited>> {
        match inherit {
            Inherit::Nothing => None,
            Inherit::InBatch(i) => self.batch.inherited_at(i).cloned(),
            Inherit::Shared(i) => Some(i),
        }
    }

    /// Starts a local span of `lineage`: its record goes into the batch now
    /// (if the trace is sampled), its frame onto the stack.
    #[inline]
    pub(crate) fn start_local(
        &mut self,
        lineage: Lineage,
        name: &'static str,
        meta: Option<Point>,
        kind: SpanKind,
        start: Stamp,
    ) -> Token {
        let mut raw = lineage.raw(name, meta, kind, start);
        if raw.records() {
            raw.inherited = match lineage.inherit {
                Inherit::Nothing => NONE,
                Inherit::InBatch(i) => i,
                Inherit::Shared(i) => self.batch.intern(Some(i)),
            };
            let slot = self.batch.spans.len() as u32;
            self.batch.captured |= raw.capture != 0;
            self.batch.spans.push(raw);
            if let Some(tags) = lineage.sampler_tags {
                let (kind, param) = tags;
                self.batch.tags.push(Tag {
                    span: slot,
                    key: Cow::Borrowed(sampler::TYPE_TAG),
                    value: Value::from_static(kind),
                });
                self.batch.tags.push(Tag {
                    span: slot,
                    key: Cow::Borrowed(sampler::PARAM_TAG),
                    value: param,
                });
            }
            return self.push(NewFrame::Recorded(slot), true);
        }
        let carried = Carried {
            trace_id: raw.trace_id,
            span_id: Some(raw.span_id),
            inherited: self.shared(lineage.inherit),
            capture: raw.capture,
            flags: raw.flags,
            role: Role::Local,
            kind,
            remote: false,
            queued: Queued::default(),
            request: false,
        };
        self.push(NewFrame::Carried(carried), true)
    }

    /// Starts a span that lives outside the batch until it finishes.
    pub(crate) fn start_detached(
        &self,
        lineage: Lineage,
        name: &'static str,
        meta: Option<Point>,
        kind: SpanKind,
        start: Stamp,
    ) -> Detached {
        let raw = lineage.raw(name, meta, kind, start);
        let tags = match lineage.sampler_tags {
            Some((kind, param)) => {
                let mut tags = crate::data::detached::tag_vec();
                tags.push((Cow::Borrowed(sampler::TYPE_TAG), Value::from_static(kind)));
                tags.push((Cow::Borrowed(sampler::PARAM_TAG), param));
                tags
            }
            None => Vec::new(),
        };
        Detached {
            raw,
            inherited: self.shared(lineage.inherit),
            extras: None,
            tags,
            args: Box::default(),
            request: None,
            failed: None,
        }
    }
}
