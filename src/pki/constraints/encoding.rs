//! The nameConstraints extension (RFC 5280 4.2.1.10) as DER: written into a certificate
//! (rcgen's form when it can hold every subtree, else written here) and read back from one.

use std::net::IpAddr;

use super::closed::{NameKind, is_closing};
use super::subtree::email_base;
use super::{Constraints, Subtree};

impl Constraints {
    /// Puts the critical nameConstraints extension into `params` (nothing without
    /// constraints): rcgen's when it can write every subtree, else written here (rcgen has no
    /// URI subtrees), the same DER structure (RFC 5280 4.2.1.10).
    /// `above`: the constraints of the CA that signs, then of the CAs above it (none for a
    /// root), for [`Constraints::written`].
    pub fn apply(&self, params: &mut rcgen::CertificateParams, above: &[&Constraints]) {
        if self.is_empty() {
            return;
        }
        let (permitted, excluded) = self.written(above);
        let rcgen_form =
            |v: &[Subtree]| v.iter().map(Subtree::to_rcgen).collect::<Option<Vec<_>>>();
        if let (Some(permitted_subtrees), Some(excluded_subtrees)) =
            (rcgen_form(&permitted), rcgen_form(&excluded))
        {
            params.name_constraints = Some(rcgen::NameConstraints {
                permitted_subtrees,
                excluded_subtrees,
            });
            return;
        }
        let der = yasna::construct_der(|w| {
            w.write_sequence(|w| {
                for (tag, list) in [(0, &permitted), (1, &excluded)] {
                    if list.is_empty() {
                        continue;
                    }
                    w.next()
                        .write_tagged_implicit(yasna::Tag::context(tag), |w| {
                            w.write_sequence(|w| {
                                for s in list {
                                    w.next().write_sequence(|w| s.write_base(w.next()));
                                }
                            })
                        });
                }
            })
        });
        let mut ext = rcgen::CustomExtension::from_oid_content(&[2, 5, 29, 30], der);
        ext.set_criticality(true);
        params.custom_extensions.push(ext);
    }

    /// The constraints of a certificate (its nameConstraints extension); subtrees of other
    /// types (URI, directory names) are not enforced by fileca and are left out. A type whose
    /// permitted subtrees are all closing subtrees ([`Constraints::written`]: under
    /// `closed.invalid`, or `255.255.255.255/32`), or all excluded too, is closed.
    pub fn of_certificate(cert: &x509_parser::certificate::X509Certificate<'_>) -> Constraints {
        use x509_parser::extensions::{GeneralName, ParsedExtension};
        let mut out = Constraints::default();
        for ext in cert.extensions() {
            let ParsedExtension::NameConstraints(nc) = ext.parsed_extension() else {
                continue;
            };
            let convert = |subtrees: &Option<Vec<x509_parser::extensions::GeneralSubtree<'_>>>| {
                subtrees
                    .iter()
                    .flatten()
                    .filter_map(|s| match &s.base {
                        GeneralName::DNSName(d) => Some(Subtree::Dns(d.to_ascii_lowercase())),
                        GeneralName::RFC822Name(e) => Some(Subtree::Email(email_base(e))),
                        GeneralName::IPAddress(b) => ip_subtree(b),
                        GeneralName::URI(u) => Some(Subtree::Uri(u.to_ascii_lowercase())),
                        _ => None,
                    })
                    .collect::<Vec<_>>()
            };
            out.permitted.extend(convert(&nc.permitted_subtrees));
            out.excluded.extend(convert(&nc.excluded_subtrees));
        }
        for kind in [0u8, 1, 2] {
            let of_kind: Vec<&Subtree> =
                out.permitted.iter().filter(|p| p.kind() == kind).collect();
            // Only closing subtrees permitted (NC-CLOSE-ENCODING), or every permitted
            // subtree excluded too: nothing of the type passes.
            let all_excluded =
                !of_kind.is_empty() && of_kind.iter().all(|p| out.excluded.contains(p));
            let only_closing = !of_kind.is_empty() && of_kind.iter().all(|p| is_closing(p));
            if all_excluded || only_closing {
                let closing: Vec<Subtree> = of_kind.into_iter().cloned().collect();
                out.permitted.retain(|p| p.kind() != kind);
                out.excluded.retain(|e| !closing.contains(e));
                let closed = match kind {
                    0 => NameKind::Dns,
                    1 => NameKind::Ip,
                    _ => NameKind::Email,
                };
                out.excluded.extend(closed.whole());
            }
        }
        out
    }
}

impl Subtree {
    /// rcgen's form; `None` for a URI subtree, which rcgen cannot write (see
    /// [`Constraints::apply`]).
    pub(super) fn to_rcgen(&self) -> Option<rcgen::GeneralSubtree> {
        Some(match self {
            Subtree::Uri(_) => return None,
            Subtree::Dns(d) => rcgen::GeneralSubtree::DnsName(d.clone()),
            Subtree::Email(e) => rcgen::GeneralSubtree::Rfc822Name(e.clone()),
            Subtree::Ip(IpAddr::V4(a), p) => {
                rcgen::GeneralSubtree::IpAddress(rcgen::CidrSubnet::from_v4_prefix(a.octets(), *p))
            }
            Subtree::Ip(IpAddr::V6(a), p) => {
                rcgen::GeneralSubtree::IpAddress(rcgen::CidrSubnet::from_v6_prefix(a.octets(), *p))
            }
        })
    }

    /// The GeneralName of a GeneralSubtree's base (RFC 5280 4.2.1.6), DER.
    pub(super) fn write_base(&self, w: yasna::DERWriter<'_>) {
        use yasna::Tag;
        match self {
            Subtree::Dns(d) => w.write_tagged_implicit(Tag::context(2), |w| w.write_ia5_string(d)),
            Subtree::Email(e) => {
                w.write_tagged_implicit(Tag::context(1), |w| w.write_ia5_string(e))
            }
            Subtree::Uri(u) => w.write_tagged_implicit(Tag::context(6), |w| w.write_ia5_string(u)),
            Subtree::Ip(addr, prefix) => {
                let (mut bytes, bits) = match addr {
                    IpAddr::V4(a) => (a.octets().to_vec(), 32u32),
                    IpAddr::V6(a) => (a.octets().to_vec(), 128u32),
                };
                let mask = u128::MAX
                    .checked_shl(bits - u32::from(*prefix))
                    .unwrap_or(0)
                    .to_be_bytes();
                let len = (bits / 8) as usize;
                // The mask is the low `bits` of the shifted u128, big-endian.
                bytes.extend_from_slice(&mask[16 - len..]);
                w.write_tagged_implicit(Tag::context(7), |w| w.write_bytes(&bytes))
            }
        }
    }
}

/// An iPAddress subtree: 8 bytes (IPv4 address and mask) or 32 (IPv6).
pub(super) fn ip_subtree(b: &[u8]) -> Option<Subtree> {
    let (addr, mask): (IpAddr, &[u8]) = match b.len() {
        8 => (IpAddr::from(<[u8; 4]>::try_from(&b[..4]).ok()?), &b[4..]),
        32 => (IpAddr::from(<[u8; 16]>::try_from(&b[..16]).ok()?), &b[16..]),
        _ => return None,
    };
    let prefix = mask.iter().map(|m| m.count_ones()).sum::<u32>();
    Some(Subtree::Ip(addr, u8::try_from(prefix).ok()?))
}
