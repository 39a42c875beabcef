//! Says where trace points can be listed without start-up code: on ELF
//! targets, a linker section (`tracekit_elf_points`, see
//! `src/trace_point.rs`). The list of systems is the one in Cargo.toml that
//! leaves `inventory` out for them; keep the two alike.

fn main() {
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
