//! A program that links two copies of tracekit (0.1 and 0.2, as a
//! dependency tree can), each with traced functions: each copy must list,
//! switch and record only its own trace points. Run by
//! scripts/two-runtimes.sh.

fn main() {
    let on = lib_a::compiled_in();
    assert_eq!(on, lib_b::compiled_in());
    let own = |lib: &str| -> Vec<String> {
        if on {
            vec![format!("{lib}::outer"), format!("{lib}::work")]
        } else {
            Vec::new()
        }
    };
    let calls = |names: &[&str]| -> Vec<String> {
        if on {
            names.iter().map(|s| s.to_string()).collect()
        } else {
            Vec::new()
        }
    };
    assert_eq!(lib_a::listed(), own("lib_a"), "tracekit 0.1 lists its own points only");
    assert_eq!(lib_b::listed(), own("lib_b"), "tracekit 0.2 lists its own points only");
    assert_eq!(lib_a::recorded(), calls(&["work", "outer"]));
    assert_eq!(lib_b::recorded(), calls(&["work", "outer"]));

    // Switching one copy off leaves the other's points as they were.
    lib_b::set_enabled(false);
    assert_eq!(lib_a::recorded(), calls(&["work", "outer"]), "0.1 untouched");
    assert_eq!(lib_b::recorded(), calls(&[]), "0.2 switched off");
    lib_b::set_enabled(true);
    lib_a::switch_point("work", false);
    assert_eq!(lib_a::recorded(), calls(&["outer"]), "0.1's work switched off");
    assert_eq!(lib_b::recorded(), calls(&["work", "outer"]), "0.2's work untouched");
    println!(
        "two runtimes in one program: each lists, switches and records only its own points (tracing {})",
        if on { "on" } else { "compiled out" }
    );
}
