//! Trybuild cases live in `tests/`.
