//! Index formats before the current one, read only by `ca upgrade`. What is wrong with an
//! old index.json (and with the rest of the state around a format-1 one) is a [`LegacyError`].

pub use crate::error::model::LegacyError;

/// Format 1 (fileca 0.1): the whole table in index.json. Read only by `ca upgrade`.
pub mod v1 {
    use serde::Deserialize;

    use super::LegacyError;
    use crate::model::log::{Entry, Revoked};
    use crate::pki::reason::Reason;

    /// Stored status in format 1.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
    #[serde(rename_all = "lowercase")]
    pub enum Status {
        Valid,
        Revoked,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Index {
        pub format: u32,
        pub generation: u64,
        pub audit_head: String,
        pub certificates: Vec<V1Entry>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct V1Entry {
        serial: String,
        subject: String,
        sans: Vec<String>,
        profile: String,
        #[serde(with = "time::serde::rfc3339")]
        not_before: time::OffsetDateTime,
        #[serde(with = "time::serde::rfc3339")]
        not_after: time::OffsetDateTime,
        status: Status,
        #[serde(with = "time::serde::rfc3339::option")]
        revoked_at: Option<time::OffsetDateTime>,
        revocation_reason: Option<String>,
        sha256: String,
        #[serde(default)]
        renewed_from: Option<String>,
    }

    impl TryFrom<V1Entry> for Entry {
        type Error = LegacyError;

        fn try_from(e: V1Entry) -> Result<Entry, LegacyError> {
            let revoked = match (e.status, e.revoked_at) {
                (Status::Revoked, Some(at)) => {
                    let name = e.revocation_reason.as_deref().unwrap_or("unspecified");
                    let reason =
                        Reason::from_name(name).ok_or_else(|| LegacyError::UnknownReason {
                            serial: e.serial.clone(),
                            reason: name.to_string(),
                        })?;
                    Some(Revoked { at, reason })
                }
                (Status::Valid, None) => None,
                _ => return Err(LegacyError::InconsistentRevocation(e.serial)),
            };
            Ok(Entry {
                serial: crate::pki::serial::Serial::parse_canonical(&e.serial)
                    .ok_or_else(|| LegacyError::InvalidSerial(e.serial.clone()))?,
                subject: e.subject,
                sans: e.sans,
                profile: e.profile,
                not_before: e.not_before,
                not_after: e.not_after,
                revoked,
                released: None,
                sha256: e.sha256,
                renewed_from: e
                    .renewed_from
                    .as_deref()
                    .map(|s| {
                        crate::pki::serial::Serial::parse_canonical(s)
                            .ok_or_else(|| LegacyError::InvalidRenewedFrom(s.to_string()))
                    })
                    .transpose()?,
            })
        }
    }

    /// Parses a format-1 index.json.
    pub fn parse(bytes: &[u8]) -> Result<Index, LegacyError> {
        let idx: Index =
            serde_json::from_slice(bytes).map_err(|e| LegacyError::Json(e.to_string()))?;
        if idx.format != 1 {
            return Err(LegacyError::Format {
                found: idx.format,
                expected: 1,
            });
        }
        for e in &idx.certificates {
            if (e.status == Status::Revoked) != e.revoked_at.is_some() {
                return Err(LegacyError::InconsistentRevocation(e.serial.clone()));
            }
        }
        Ok(idx)
    }
}

/// Format 2 (fileca before signed checkpoints): index.json without `log_head`,
/// `policy_sha256` and `checkpoint`. Read only by `ca upgrade`.
pub mod v2 {
    use serde::Deserialize;

    use super::LegacyError;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    pub struct Header {
        pub format: u32,
        pub generation: u64,
        pub audit_head: String,
        pub log_len: u64,
        pub max_serial: Option<String>,
    }

    /// Parses a format-2 index.json.
    pub fn parse(bytes: &[u8]) -> Result<Header, LegacyError> {
        let h: Header =
            serde_json::from_slice(bytes).map_err(|e| LegacyError::Json(e.to_string()))?;
        if h.format != 2 {
            return Err(LegacyError::Format {
                found: h.format,
                expected: 2,
            });
        }
        if let Some(s) = &h.max_serial
            && crate::pki::serial::Serial::parse_canonical(s).is_none()
        {
            return Err(LegacyError::MaxSerial(s.clone()));
        }
        Ok(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_indexes_are_refused_with_what_is_wrong() {
        let v1 = |certs: &str| {
            format!(
                "{{\"format\":1,\"generation\":1,\"audit_head\":\"\",\"certificates\":[{certs}]}}"
            )
        };
        assert!(v1::parse(v1("").as_bytes()).is_ok());
        let cert = |status: &str, at: &str| {
            format!(
                "{{\"serial\":\"0A\",\"subject\":\"CN=a\",\"sans\":[],\"profile\":\"server\",\
                 \"not_before\":\"2026-01-01T00:00:00Z\",\"not_after\":\"2027-01-01T00:00:00Z\",\
                 \"status\":\"{status}\",\"revoked_at\":{at},\"revocation_reason\":null,\
                 \"sha256\":\"\"}}"
            )
        };
        assert_eq!(
            v1::parse(v1(&cert("revoked", "null")).as_bytes()).err(),
            Some(LegacyError::InconsistentRevocation("0A".into()))
        );
        assert!(matches!(
            v1::parse(b"{\"format\":1}"),
            Err(LegacyError::Json(_))
        ));
        let v2 = |format: u32, max: &str| {
            format!(
                "{{\"format\":{format},\"generation\":1,\"audit_head\":\"\",\"log_len\":0,\
                 \"max_serial\":{max}}}"
            )
        };
        assert!(v2::parse(v2(2, "null").as_bytes()).is_ok());
        assert_eq!(
            v2::parse(v2(3, "null").as_bytes()).err(),
            Some(LegacyError::Format {
                found: 3,
                expected: 2
            })
        );
        assert_eq!(
            v2::parse(v2(2, "\"0a\"").as_bytes()).err(),
            Some(LegacyError::MaxSerial("0a".into()))
        );
    }
}
