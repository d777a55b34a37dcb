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
            eprintln!("{msg}");
            err.exit_code()
        }
    };
    std::process::exit(code);
}
