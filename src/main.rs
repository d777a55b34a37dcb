//! The `ca` binary: parse, run, report. Nothing else.

use clap::Parser;

fn main() {
    let cli = fileca::cli::Cli::parse();
    let code = match fileca::run(cli) {
        Ok(code) => code,
        Err(err) => {
            let mut msg = format!("error: {err}");
            let mut source = std::error::Error::source(&err);
            while let Some(s) = source {
                let text = s.to_string();
                if !msg.contains(&text) {
                    msg.push_str(&format!(": {text}"));
                }
                source = s.source();
            }
            // Never panic on a closed or full stream: an undelivered-output report goes to
            // whichever stream still works.
            if fileca::render::stderr_line(&msg).is_err() {
                let _ = fileca::render::stdout(&format!("{msg}\n"));
            }
            err.exit_code()
        }
    };
    std::process::exit(code);
}
