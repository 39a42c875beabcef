//! Where finished spans leave the application's threads: each thread's
//! outbox and the bounded queue (`queue`), taken by the background
//! collector (`collector`), which holds back the traces tail keep must
//! decide (`tail`) and hands the rest to the installed reporter, seen only
//! through the `Reporter` trait, and to running captures (`capture` says
//! which traces are theirs).

pub(crate) mod capture;
pub(crate) mod collector;
pub(crate) mod metrics;
pub(crate) mod queue;
pub(crate) mod tail;
