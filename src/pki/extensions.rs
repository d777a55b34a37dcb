//! The extensions a policy adds to what it issues (SPEC.md POLICY-EXT), as rcgen parameters:
//! CRL Distribution Points and Authority Information Access from `[urls]`,
//! certificatePolicies and id-pkix-ocsp-nocheck from the profile. rcgen writes CDP itself;
//! the others are DER written here with yasna (rcgen's own DER writer). Pure X.509 encoding,
//! so it lives in the PKI core: `crate::policy` reads `[urls]` and the profiles into these
//! types and re-exports [`Urls`].

use rcgen::{CertificateParams, CrlDistributionPoint, CustomExtension};

use crate::pki::profile::Profile;

/// Where certificates say their CRL and issuer certificate are published: policy.toml's
/// `[urls]` (read by `crate::policy`), written as CDP and AIA.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Urls {
    pub crl: Vec<String>,
    pub ca_issuers: Vec<String>,
    pub ocsp: Vec<String>,
}

const AIA: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 1, 1];
const AD_OCSP: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 48, 1];
const AD_CA_ISSUERS: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 48, 2];
const CERTIFICATE_POLICIES: &[u64] = &[2, 5, 29, 32];
const OCSP_NOCHECK: &[u64] = &[1, 3, 6, 1, 5, 5, 7, 48, 1, 5];

/// Adds the URLs and the profile's extensions to `params`.
pub fn apply(params: &mut CertificateParams, urls: &Urls, profile: &Profile) {
    if !urls.crl.is_empty() {
        params.crl_distribution_points = vec![CrlDistributionPoint {
            uris: urls.crl.clone(),
        }];
    }
    if !urls.ocsp.is_empty() || !urls.ca_issuers.is_empty() {
        let der = yasna::construct_der(|w| {
            w.write_sequence(|w| {
                for (method, list) in [(AD_OCSP, &urls.ocsp), (AD_CA_ISSUERS, &urls.ca_issuers)] {
                    for url in list {
                        w.next().write_sequence(|w| {
                            w.next()
                                .write_oid(&yasna::models::ObjectIdentifier::from_slice(method));
                            // GeneralName uniformResourceIdentifier [6] IA5String, implicit.
                            w.next().write_tagged_implicit(yasna::Tag::context(6), |w| {
                                w.write_ia5_string(url)
                            });
                        });
                    }
                }
            })
        });
        params
            .custom_extensions
            .push(CustomExtension::from_oid_content(AIA, der));
    }
    if !profile.policies.is_empty() {
        let der = yasna::construct_der(|w| {
            w.write_sequence(|w| {
                for oid in &profile.policies {
                    w.next().write_sequence(|w| {
                        w.next()
                            .write_oid(&yasna::models::ObjectIdentifier::from_slice(oid));
                    });
                }
            })
        });
        params
            .custom_extensions
            .push(CustomExtension::from_oid_content(CERTIFICATE_POLICIES, der));
    }
    if profile.ocsp_nocheck {
        params
            .custom_extensions
            .push(CustomExtension::from_oid_content(
                OCSP_NOCHECK,
                vec![0x05, 0x00],
            ));
    }
}
