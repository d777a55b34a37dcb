//! `ca show`: one issued certificate, for people (`--json`, `--pem` for scripts).

use serde::Serialize;

use super::Context;
use crate::cli::ShowArgs;
use crate::error::{Error, Result};
use crate::pki::keys;
use crate::render::Row;
use crate::store::{Access, Session};

/// `ca show --json` (SPEC.md SHOW-JSON): the list row plus what the certificate says.
#[derive(Debug, Serialize)]
struct Shown<'a> {
    #[serde(flatten)]
    row: Row<'a>,
    key_type: String,
    key_usage: Vec<String>,
    extended_key_usage: Vec<String>,
}

/// Runs `ca show`.
pub fn run(args: &ShowArgs, ctx: &Context) -> Result<()> {
    let typed = crate::cli::serial(&args.serial)?;
    let session = Session::open(&ctx.dir, Access::Read, &ctx.open)?;
    let header = crate::model::header::open(&session)?;
    let entry = crate::model::log::resolve(&session, &header, &typed)??;
    let serial = entry.serial.clone();
    let entry = &entry;
    let path = ctx.dir.join(crate::model::layout::cert_file(&serial));
    let ca = crate::model::snapshot::ca_cert(session.dir(), &session.read(crate::store::CERT)?)?;
    let (pem, der) = crate::model::snapshot::read_recorded(&session, entry, &ca)?;
    if args.pem {
        return crate::render::print(&String::from_utf8_lossy(&pem));
    }
    let cert = crate::pki::pem::certificate(&der).map_err(|m| Error::state(&path, m))?;
    let key_type =
        keys::classify(cert.public_key()).map_or_else(|e| e.to_string(), |k| k.to_string());
    let key_usage = match cert.key_usage() {
        Ok(Some(ku)) => ku
            .value
            .to_string()
            .split(", ")
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    };
    let mut extended_key_usage = Vec::new();
    if let Ok(Some(eku)) = cert.extended_key_usage() {
        if eku.value.server_auth {
            extended_key_usage.push("serverAuth".to_string());
        }
        if eku.value.client_auth {
            extended_key_usage.push("clientAuth".to_string());
        }
    }
    let shown = Shown {
        row: Row::new(entry, ctx.env.now),
        key_type,
        key_usage,
        extended_key_usage,
    };
    if args.json {
        let json =
            serde_json::to_string_pretty(&shown).map_err(|e| Error::Internal(e.to_string()))?;
        return crate::render::print(&format!("{json}\n"));
    }
    let r = &shown.row;
    let mut out = String::new();
    crate::outln!(out, "serial:        {}", r.serial);
    crate::outln!(out, "subject:       {}", crate::render::escape(&r.subject));
    crate::outln!(
        out,
        "SANs:          {}",
        if r.sans.is_empty() {
            "(none)".into()
        } else {
            crate::render::escape(&r.sans.join(", "))
        }
    );
    crate::outln!(out, "key:           {}", shown.key_type);
    crate::outln!(out, "validity:      {} to {}", r.not_before, r.not_after);
    crate::outln!(out, "profile:       {}", crate::render::escape(r.profile));
    crate::outln!(out, "key usage:     {}", shown.key_usage.join(", "));
    crate::outln!(
        out,
        "ext key usage: {}",
        shown.extended_key_usage.join(", ")
    );
    match (&r.revoked_at, r.revocation_reason) {
        (Some(at), reason) => crate::outln!(
            out,
            "status:        revoked on {at} ({})",
            reason.unwrap_or("unspecified")
        ),
        _ => crate::outln!(out, "status:        {}", r.state.name()),
    }
    if let Some(from) = &r.renewed_from {
        crate::outln!(out, "renewed from:  {from}");
    }
    crate::outln!(out, "sha256:        {}", r.sha256);
    crate::render::print(&out)
}
