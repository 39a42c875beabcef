//! `tracekit-view INPUT... [-o OUT] [--format html|perfetto] [--trace ID]`:
//! an HTML waterfall (or a Perfetto JSON trace) from OTLP JSON files.

use std::process::ExitCode;
use tracekit_view::{TraceData, read_otlp_json, render_html, render_perfetto};

const USAGE: &str =
    "usage: tracekit-view INPUT... [-o OUT] [--format html|perfetto] [--trace TRACE_ID]

INPUT    OTLP JSON: one ExportTraceServiceRequest a line (what FileExporter
         writes) or a single document; several files are merged (the
         services of one trace exported apart)
-o OUT   where to write (default: trace.html, or trace.json for perfetto)
--format html (default): one self-contained page, open it in a browser
         perfetto: Chrome trace-event JSON for ui.perfetto.dev or chrome://tracing
--trace  only this trace (32 hex digits)";

struct Args {
    inputs: Vec<String>,
    out: Option<String>,
    perfetto: bool,
    trace: Option<String>,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut a = Args {
        inputs: Vec::new(),
        out: None,
        perfetto: false,
        trace: None,
    };
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "-o" | "--output" => a.out = Some(value(&arg)?),
            "--format" => match value(&arg)?.as_str() {
                "html" => a.perfetto = false,
                "perfetto" | "chrome" => a.perfetto = true,
                other => return Err(format!("unknown format {other:?}: html or perfetto")),
            },
            "--trace" => {
                let id = value(&arg)?;
                if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(format!("--trace {id:?} is not a trace id (32 hex digits)"));
                }
                a.trace = Some(id);
            }
            "-h" | "--help" => return Err(String::new()),
            s if s.starts_with('-') && s.len() > 1 => return Err(format!("unknown option {s}")),
            _ => a.inputs.push(arg),
        }
    }
    if a.inputs.is_empty() {
        return Err("no INPUT given".to_owned());
    }
    Ok(a)
}

fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) if e.is_empty() => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("tracekit-view: {e}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut data = TraceData::default();
    for input in &args.inputs {
        let bytes = match std::fs::read(input) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("tracekit-view: cannot read {input}: {e}");
                return ExitCode::from(1);
            }
        };
        let before = data.warnings.len();
        if let Err(e) = read_otlp_json(&bytes, &mut data) {
            eprintln!("tracekit-view: {input}: {e}");
            return ExitCode::from(1);
        }
        for w in &mut data.warnings[before..] {
            eprintln!("tracekit-view: {input}: {w}");
            *w = format!("{input}: {w}");
        }
    }
    if let Some(id) = &args.trace {
        data.retain_trace(id);
        if data.spans.is_empty() {
            eprintln!("tracekit-view: no span of trace {id} in the input");
            return ExitCode::from(1);
        }
    }
    if data.spans.is_empty() {
        eprintln!("tracekit-view: the input holds no spans");
        return ExitCode::from(1);
    }
    let (out, text) = if args.perfetto {
        (
            args.out.unwrap_or_else(|| "trace.json".to_owned()),
            render_perfetto(&data),
        )
    } else {
        let title = args.inputs.join(" + ");
        (
            args.out.unwrap_or_else(|| "trace.html".to_owned()),
            render_html(&data, &title),
        )
    };
    if let Err(e) = std::fs::write(&out, text) {
        eprintln!("tracekit-view: cannot write {out}: {e}");
        return ExitCode::from(1);
    }
    let traces: std::collections::HashSet<&str> =
        data.spans.iter().map(|s| s.trace_id.as_str()).collect();
    println!(
        "wrote {out}: {} spans in {} traces",
        data.spans.len(),
        traces.len()
    );
    ExitCode::SUCCESS
}
