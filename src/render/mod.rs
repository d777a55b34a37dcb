//! What each command says: reports composed here, written through [`crate::term`] (the one
//! module that writes stdout and stderr).
//!
//! Where each command's output is composed: a read command's `query` (in `cmd/<cmd>.rs`)
//! returns a report, and the submodule of the same name here defines the report (its
//! `--json` document: the serde field names and their order are the contract, SPEC.md
//! `*-JSON`) and turns it into text or JSON — [`status`], [`show`], [`list`] (streamed row by
//! row), [`log`], [`check`], [`verify`]. [`plan`] is the `--dry-run` report of a mutation.
//!
//! What this room may touch: it formats and escapes. It never opens a session or reads a state
//! file or an input: a report arrives computed, and what it says (a problem, a verdict, a
//! warning) is decided by the command, which returns the exit code.

use crate::error::{Error, Result};
use crate::term::print;

pub mod check;
pub mod json;
pub mod list;
pub mod log;
pub mod plan;
pub mod show;
pub mod status;
pub mod verify;

/// Appends one formatted line to a `String` being built for [`print()`]:
/// `outln!(out, "serial: {}", s)`.
#[macro_export]
macro_rules! outln {
    ($out:expr, $($arg:tt)*) => {{
        use std::fmt::Write as _;
        let _ = writeln!($out, $($arg)*);
    }};
}

/// Prints a `--json` document: pretty JSON and a newline, through [`print()`].
pub fn print_json<T: serde::Serialize + ?Sized>(report: &T) -> Result<()> {
    let json =
        json::to_string(report).map_err(|e| Error::bug_in("serializing a --json report", e))?;
    print(&format!("{json}\n"))
}
