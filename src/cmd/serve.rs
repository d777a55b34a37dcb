//! `ca serve`: the CRL, the CA certificate and OCSP over HTTP for one or more CA directories
//! (SPEC.md SERVE-*). The command only turns its arguments into the server's; the server is
//! `crate::serve`.

use super::Context;
use crate::cli::ServeArgs;
use crate::error::Result;

/// Runs `ca serve` until SIGTERM or SIGINT.
pub fn run(args: &ServeArgs, ctx: &Context) -> Result<()> {
    let dirs = match args.dirs.is_empty() {
        true => vec![ctx.dir.clone()],
        false => args.dirs.clone(),
    };
    crate::serve::run(
        args.listen,
        dirs,
        ctx.open.clone(),
        args.exit_after.map(std::time::Duration::from_secs),
    )
}
