//! Revocation reasons (RFC 5280 section 5.3.1), as index.log stores them.

/// RFC 5280 section 5.3.1 CRLReason codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    Unspecified,
    KeyCompromise,
    CaCompromise,
    AffiliationChanged,
    Superseded,
    CessationOfOperation,
    CertificateHold,
    RemoveFromCrl,
    PrivilegeWithdrawn,
    AaCompromise,
}

impl Reason {
    /// Every reason, in RFC 5280 order (code 7 is unused).
    pub const ALL: [Reason; 10] = [
        Reason::Unspecified,
        Reason::KeyCompromise,
        Reason::CaCompromise,
        Reason::AffiliationChanged,
        Reason::Superseded,
        Reason::CessationOfOperation,
        Reason::CertificateHold,
        Reason::RemoveFromCrl,
        Reason::PrivilegeWithdrawn,
        Reason::AaCompromise,
    ];

    /// The RFC 5280 name, as stored in index.json.
    pub fn name(self) -> &'static str {
        match self {
            Reason::Unspecified => "unspecified",
            Reason::KeyCompromise => "keyCompromise",
            Reason::CaCompromise => "cACompromise",
            Reason::AffiliationChanged => "affiliationChanged",
            Reason::Superseded => "superseded",
            Reason::CessationOfOperation => "cessationOfOperation",
            Reason::CertificateHold => "certificateHold",
            Reason::RemoveFromCrl => "removeFromCRL",
            Reason::PrivilegeWithdrawn => "privilegeWithdrawn",
            Reason::AaCompromise => "aACompromise",
        }
    }

    /// The name users type (`revoke --reason`, as `--help` lists it) and text output shows:
    /// RFC 5280's, but `caCompromise` and `aaCompromise` in the camel case of the others.
    /// JSON and index.log keep [`Reason::name`] (SPEC.md REVOKE-REASONS).
    pub fn typed(self) -> &'static str {
        match self {
            Reason::CaCompromise => "caCompromise",
            Reason::AaCompromise => "aaCompromise",
            other => other.name(),
        }
    }

    /// Parses a stored name.
    pub fn from_name(s: &str) -> Option<Reason> {
        Reason::ALL.iter().copied().find(|r| r.name() == s)
    }

    /// The reason of an RFC 5280 CRLReason code (7 is unused).
    pub fn from_code(code: u8) -> Option<Reason> {
        match code {
            0..=6 => Some(Reason::ALL[code as usize]),
            8..=10 => Some(Reason::ALL[code as usize - 1]),
            _ => None,
        }
    }

    /// The RFC 5280 CRLReason code (7 is unused).
    pub fn code(self) -> u8 {
        let i = Reason::ALL.iter().position(|r| *r == self).unwrap_or(0) as u8;
        if i >= 7 { i + 1 } else { i }
    }

    /// rcgen's code.
    pub fn to_rcgen(self) -> rcgen::RevocationReason {
        use rcgen::RevocationReason as R;
        match self {
            Reason::Unspecified => R::Unspecified,
            Reason::KeyCompromise => R::KeyCompromise,
            Reason::CaCompromise => R::CaCompromise,
            Reason::AffiliationChanged => R::AffiliationChanged,
            Reason::Superseded => R::Superseded,
            Reason::CessationOfOperation => R::CessationOfOperation,
            Reason::CertificateHold => R::CertificateHold,
            Reason::RemoveFromCrl => R::RemoveFromCrl,
            Reason::PrivilegeWithdrawn => R::PrivilegeWithdrawn,
            Reason::AaCompromise => R::AaCompromise,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_its_rfc_5280_code_and_back() {
        let codes = [0u8, 1, 2, 3, 4, 5, 6, 8, 9, 10];
        for (reason, code) in Reason::ALL.iter().zip(codes) {
            assert_eq!(Reason::from_code(code), Some(*reason));
            assert_eq!(reason.to_rcgen() as u8, code, "{reason:?}");
        }
        assert_eq!(Reason::from_code(7), None);
        assert_eq!(Reason::from_code(11), None);
    }
}
