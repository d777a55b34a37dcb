//! The `ca` binary: parse, run, report. Nothing else.
#![forbid(unsafe_code)]

use clap::Parser;

fn main() {
    // fileca writes stdout and stderr only through render/, which reports failures. This
    // hook is the safety net for a library that prints on its own (clap's --help): a
    // closed pipe is a normal end (exit 0, nothing on stderr), any other failing stream an
    // I/O error (exit 4), never a panic trace.
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let text = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        // std's print macros, and clap_complete's generator, say so when writing fails.
        if text.starts_with("failed printing to std") || text.starts_with("failed to write") {
            if text.contains("Broken pipe") || text.contains("BrokenPipe") {
                std::process::exit(fileca::error::exit::OK);
            }
            let _ = fileca::term::stderr_line(&format!("error: {text}"));
            std::process::exit(fileca::error::exit::IO);
        }
        // Anything else is a bug: say so in one line, with where, and exit with the
        // documented code (SPEC.md EXIT-INTERNAL) instead of Rust's 101.
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let _ = fileca::term::stderr_line(&format!(
            "error: internal error: {}{at} (a bug in fileca; please report it)",
            fileca::term::escape(text)
        ));
        if std::env::var_os("RUST_BACKTRACE").is_some() {
            default(info);
        }
        std::process::exit(fileca::error::exit::INTERNAL);
    }));
    let cli = fileca::cli::Cli::parse();
    let code = match fileca::run(cli) {
        Ok(code) => code,
        Err(fileca::error::Error::Closed) => fileca::error::exit::OK,
        Err(err) => {
            // Every fileca error carries its whole message (no error wraps a `source` whose
            // text it does not already show), so one line says it all.
            let msg = format!("error: {err}");
            // Never panic on a closed or full stream: an undelivered-output report goes to
            // whichever stream still works.
            if fileca::term::stderr_line(&msg).is_err() {
                let _ = fileca::term::stdout(format!("{msg}\n"));
            }
            err.exit_code()
        }
    };
    std::process::exit(code);
}
