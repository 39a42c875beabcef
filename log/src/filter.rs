//! Which records a [`TextLogger`](crate::TextLogger) writes: `RUST_LOG`'s
//! directives as `env_logger` reads their common forms (`info`,
//! `warn,my_app=debug`, `my_app::db=trace,hyper=off`), a record's target
//! matched by the longest module path that names it.

use log::LevelFilter;

/// A level for all targets and levels for some, from `RUST_LOG`-style text.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Filter {
    default: LevelFilter,
    /// `(module path, level)`, longest path first.
    targets: Vec<(String, LevelFilter)>,
}

impl Filter {
    /// Every target at `level`.
    pub(crate) fn all(level: LevelFilter) -> Filter {
        Filter {
            default: level,
            targets: Vec::new(),
        }
    }

    /// Reads `spec`; `default` where it names no level for all targets. A
    /// directive that does not parse is left out and returned, to be said.
    pub(crate) fn parse(spec: &str, default: LevelFilter) -> (Filter, Vec<String>) {
        let mut filter = Filter::all(default);
        let mut bad = Vec::new();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part.split_once('=') {
                None => match part.parse::<LevelFilter>() {
                    Ok(level) => filter.default = level,
                    // A bare module path turns all of its levels on, as
                    // env_logger reads it.
                    Err(_) if is_path(part) => {
                        filter.targets.push((part.to_owned(), LevelFilter::Trace))
                    }
                    Err(_) => bad.push(part.to_owned()),
                },
                Some((path, level)) => match level.trim().parse::<LevelFilter>() {
                    Ok(level) if is_path(path.trim()) => {
                        filter.targets.push((path.trim().to_owned(), level))
                    }
                    _ => bad.push(part.to_owned()),
                },
            }
        }
        filter.targets.sort_by_key(|t| std::cmp::Reverse(t.0.len()));
        (filter, bad)
    }

    /// The most verbose level any target gets.
    pub(crate) fn max_level(&self) -> LevelFilter {
        self.targets
            .iter()
            .map(|(_, l)| *l)
            .fold(self.default, Ord::max)
    }

    /// The level for records of `target`.
    pub(crate) fn level_for(&self, target: &str) -> LevelFilter {
        self.targets
            .iter()
            .find(|(path, _)| {
                target == path
                    || (target.starts_with(path.as_str()) && target[path.len()..].starts_with("::"))
            })
            .map_or(self.default, |(_, l)| *l)
    }
}

fn is_path(s: &str) -> bool {
    !s.is_empty()
        && s.split("::").all(|seg| {
            !seg.is_empty()
                && seg
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directives_as_rust_log_writes_them() {
        let (f, bad) = Filter::parse(
            "warn,my_app=debug,my_app::db=trace,hyper=off",
            LevelFilter::Info,
        );
        assert!(bad.is_empty());
        assert_eq!(f.level_for("other"), LevelFilter::Warn);
        assert_eq!(f.level_for("my_app"), LevelFilter::Debug);
        assert_eq!(f.level_for("my_app::http"), LevelFilter::Debug);
        assert_eq!(f.level_for("my_app::db::pool"), LevelFilter::Trace);
        assert_eq!(f.level_for("my_apple"), LevelFilter::Warn);
        assert_eq!(f.level_for("hyper::proto"), LevelFilter::Off);
        assert_eq!(f.max_level(), LevelFilter::Trace);
    }

    #[test]
    fn no_level_for_all_keeps_the_default_and_bad_parts_are_returned() {
        let (f, bad) = Filter::parse(" ,my_app=loud, my_app::db ,=info", LevelFilter::Info);
        assert_eq!(bad, ["my_app=loud", "=info"]);
        assert_eq!(f.level_for("x"), LevelFilter::Info);
        assert_eq!(f.level_for("my_app::db"), LevelFilter::Trace);
        assert_eq!(
            Filter::parse("DEBUG", LevelFilter::Info).0.level_for("x"),
            LevelFilter::Debug
        );
    }
}
