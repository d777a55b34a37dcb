//! `ca serve` (SPEC.md SERVE-*).

use super::Context;
use crate::cli::ServeArgs;
use crate::error::Result;

/// Runs `ca serve`.
pub fn run(_args: &ServeArgs, _ctx: &Context) -> Result<()> {
    Err(crate::error::Error::Usage("not yet".into()))
}
