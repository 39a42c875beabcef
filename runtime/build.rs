//! Says where trace points can be listed without start-up code: on ELF
//! targets, a linker section (`tracekit_elf_points`, see
//! `src/trace_point.rs`). The list of systems is the one in Cargo.toml that
//! leaves `inventory` out for them; keep the two alike.
//!
//! Names that section after the crate's semver-compatible version, so that
//! two copies of tracekit in one program (0.1 and 0.2 in one dependency
//! tree) each list their own points: the section is shared by name across
//! the whole program, and each copy reads it with its own layout.

use std::io::Write;

/// The part of `version` that cargo treats as compatible: the major
/// version; below 1.0 the minor one too; below 0.1 the patch as well.
fn compatible(version: &str) -> String {
    let core = version.split(['-', '+']).next().unwrap_or(version);
    let parts: Vec<&str> = core.split('.').collect();
    match parts.as_slice() {
        ["0", "0", patch, ..] => format!("0_0_{patch}"),
        ["0", minor, ..] => format!("0_{minor}"),
        [major, ..] => (*major).to_owned(),
        [] => "0".to_owned(),
    }
}

fn points_section() {
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let name = format!("tracekit_points_v{}", compatible(&version));
    assert!(
        name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
        "a section name the linker bounds must be an identifier: {name}"
    );
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let mut f = std::fs::File::create(out.join("points_section.rs")).expect("OUT_DIR is writable");
    writeln!(
        f,
        "/// The linker section of this version's trace points (made by build.rs).\n\
         #[doc(hidden)]\n\
         #[macro_export]\n\
         macro_rules! __tk_points_section {{ () => {{ \"{name}\" }}; }}"
    )
    .expect("OUT_DIR is writable");
}

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    points_section();
    println!("cargo::rustc-check-cfg=cfg(tracekit_elf_points)");
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    let elf = matches!(
        os.as_str(),
        "linux"
            | "android"
            | "freebsd"
            | "netbsd"
            | "openbsd"
            | "dragonfly"
            | "illumos"
            | "solaris"
    );
    if elf {
        println!("cargo::rustc-cfg=tracekit_elf_points");
    }
}
