//! `ca show`: one issued certificate, for people (`--json`, `--pem` for scripts).
//!
//! `run` resolves the serial in a shared session and reads the recorded certificate (checked
//! against index.log); [`query`] reads what the certificate says into the report;
//! `render::show` defines the report and prints it. `--pem` prints the recorded file as it is.

use x509_parser::certificate::X509Certificate;

use super::Context;
use crate::cli::ShowArgs;
use crate::error::{Error, Result};
use crate::model::log::Entry;
use crate::pki::keys;
use crate::render::list::{Row, ThisCa};
use crate::render::show::ShowReport;
use crate::store::{Access, Session};

/// Runs `ca show`.
pub fn run(args: &ShowArgs, ctx: &Context) -> Result<()> {
    if args.der && crate::term::stdout_is_terminal() {
        return Err(Error::Usage(
            "--der prints binary DER: redirect it to a file (ca show … --der > FILE.der)".into(),
        ));
    }
    let Some(serial) = &args.serial else {
        // --ca: ca.crt itself, or its DER.
        // VERIFIED-READ: what an AIA caIssuers URL serves is ca.crt only if its key signs
        // the state's checkpoint (a replaced ca.crt is refused).
        let session = Session::open(&ctx.dir, Access::Read, &ctx.open)?;
        let state = &session.verified_state()?;
        let der = &state.ca.cert.der;
        return match args.der {
            true => crate::term::stdout_bytes(der),
            false => crate::term::print(&crate::pki::pem::pem_of("CERTIFICATE", der)),
        };
    };
    let typed = crate::cli::serial(serial)?;
    let session = Session::open(&ctx.dir, Access::Read, &ctx.open)?;
    // Read under the lock: a concurrent renew-ca may have installed a newer ca.crt.
    let now = ctx.now()?;
    // VERIFIED-READ: only the state the signed checkpoint covers is shown.
    let state = &session.verified_state()?;
    let entry = state.resolve(&typed)?;
    let path = ctx.dir.join(crate::model::layout::cert_file(&entry.serial));
    let (pem, der) = session.read_recorded(&entry, &state.ca.cert)?;
    if args.pem {
        return crate::term::print(&String::from_utf8_lossy(&pem));
    }
    if args.der {
        return crate::term::stdout_bytes(&der);
    }
    let cert = crate::pki::pem::certificate(&der).map_err(|m| Error::state(&path, m))?;
    let this = super::this_ca(state);
    let above: Vec<_> = std::iter::once(&state.ca.cert)
        .chain(&state.chain)
        .map(|c| &c.constraints)
        .collect();
    crate::render::show::print(&query(&entry, &cert, (now, &this), &above), args.json)
}

/// The report on `entry`, whose recorded certificate is `cert`: its row at `now` (placed
/// under this CA `ca` when it is a sub-CA), and the key type and key usages the certificate
/// states. `above`: the constraints of this CA and the CAs above it, with which a sub-CA's
/// closed name types are read back (NC-CLOSE-ENCODING).
pub fn query<'a>(
    entry: &'a Entry,
    cert: &X509Certificate<'_>,
    (now, ca): (time::OffsetDateTime, &'a ThisCa),
    above: &[&crate::pki::constraints::Constraints],
) -> ShowReport<'a> {
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
        let v = &eku.value;
        for (set, name) in [
            (v.client_auth, "clientAuth"),
            (v.code_signing, "codeSigning"),
            (v.email_protection, "emailProtection"),
            (v.time_stamping, "timeStamping"),
            (v.ocsp_signing, "OCSPSigning"),
            (v.any, "anyExtendedKeyUsage"),
        ] {
            if set {
                extended_key_usage.push(name.to_string());
            }
        }
        extended_key_usage.extend(v.other.iter().map(|o| o.to_id_string()));
    }
    let ext = extensions(cert, above);
    ShowReport {
        row: Row::new(entry, now, ca),
        key_type,
        key_usage,
        extended_key_usage,
        crl_urls: ext.0,
        ca_issuers: ext.1,
        ocsp: ext.2,
        policies: ext.3,
        ca: ext.4,
    }
}

/// CDP URIs, AIA caIssuers and OCSP URIs, policy OIDs, and a CA certificate's limits.
type Extensions = (
    Vec<String>,
    Vec<String>,
    Vec<String>,
    Vec<String>,
    Option<crate::render::show::CaLimits>,
);

fn extensions(
    cert: &X509Certificate<'_>,
    above: &[&crate::pki::constraints::Constraints],
) -> Extensions {
    use x509_parser::extensions::{DistributionPointName, GeneralName, ParsedExtension};
    let uri = |g: &GeneralName<'_>| match g {
        GeneralName::URI(u) => Some(u.to_string()),
        _ => None,
    };
    let (mut crl, mut issuers, mut ocsp, mut policies, mut ca) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), None);
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::CRLDistributionPoints(cdp) => {
                for p in &cdp.points {
                    if let Some(DistributionPointName::FullName(names)) = &p.distribution_point {
                        crl.extend(names.iter().filter_map(uri));
                    }
                }
            }
            ParsedExtension::AuthorityInfoAccess(aia) => {
                for d in &aia.accessdescs {
                    let to = match d.access_method.to_id_string().as_str() {
                        "1.3.6.1.5.5.7.48.1" => &mut ocsp,
                        "1.3.6.1.5.5.7.48.2" => &mut issuers,
                        _ => continue,
                    };
                    to.extend(uri(&d.access_location));
                }
            }
            ParsedExtension::CertificatePolicies(p) => {
                policies.extend(p.iter().map(|i| {
                    crate::pki::oid_string(i.policy_id.as_bytes())
                        .unwrap_or_else(|| i.policy_id.to_id_string())
                }));
            }
            ParsedExtension::BasicConstraints(bc) if bc.ca => {
                let mut c = crate::pki::constraints::Constraints::of_certificate(cert);
                c.resolve_closing(above);
                let s = c.spelled();
                ca = Some(crate::render::show::CaLimits {
                    path_len: bc.path_len_constraint,
                    permitted: s.permitted,
                    excluded: s.excluded,
                    closed: s.closed,
                });
            }
            _ => {}
        }
    }
    (crl, issuers, ocsp, policies, ca)
}
