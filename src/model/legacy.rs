//! Index formats before the current one, read only by `ca upgrade`.

/// Format 1 (fileca 0.1): the whole table in index.json. Read only by `ca upgrade`.
pub mod v1 {
    use serde::Deserialize;

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
        type Error = String;

        fn try_from(e: V1Entry) -> Result<Entry, String> {
            let revoked = match (e.status, e.revoked_at) {
                (Status::Revoked, Some(at)) => {
                    let name = e.revocation_reason.as_deref().unwrap_or("unspecified");
                    let reason = Reason::from_name(name).ok_or_else(|| {
                        format!(
                            "entry {} has an unknown revocation reason {name:?}",
                            e.serial
                        )
                    })?;
                    Some(Revoked { at, reason })
                }
                (Status::Valid, None) => None,
                _ => return Err(format!("entry {} has an inconsistent revocation", e.serial)),
            };
            Ok(Entry {
                serial: crate::pki::serial::Serial::parse_canonical(&e.serial)
                    .ok_or_else(|| format!("entry has an invalid serial {:?}", e.serial))?,
                subject: e.subject,
                sans: e.sans,
                profile: e.profile,
                not_before: e.not_before,
                not_after: e.not_after,
                revoked,
                sha256: e.sha256,
                renewed_from: e
                    .renewed_from
                    .as_deref()
                    .map(|s| {
                        crate::pki::serial::Serial::parse_canonical(s)
                            .ok_or_else(|| format!("entry renews an invalid serial {s:?}"))
                    })
                    .transpose()?,
            })
        }
    }

    /// Parses a format-1 index.json.
    pub fn parse(bytes: &[u8]) -> Result<Index, String> {
        let idx: Index =
            serde_json::from_slice(bytes).map_err(|e| format!("not valid index JSON: {e}"))?;
        if idx.format != 1 {
            return Err(format!("is format {}, not 1", idx.format));
        }
        for e in &idx.certificates {
            if (e.status == Status::Revoked) != e.revoked_at.is_some() {
                return Err(format!("entry {} has an inconsistent revocation", e.serial));
            }
        }
        Ok(idx)
    }
}

/// Format 2 (fileca before signed checkpoints): index.json without `log_head`,
/// `policy_sha256` and `checkpoint`. Read only by `ca upgrade`.
pub mod v2 {
    use serde::Deserialize;

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
    pub fn parse(bytes: &[u8]) -> Result<Header, String> {
        let h: Header =
            serde_json::from_slice(bytes).map_err(|e| format!("not valid index JSON: {e}"))?;
        if h.format != 2 {
            return Err(format!("is format {}, not 2", h.format));
        }
        if let Some(s) = &h.max_serial
            && crate::pki::serial::Serial::parse_canonical(s).is_none()
        {
            return Err(format!("max_serial {s:?} is not a canonical serial"));
        }
        Ok(h)
    }
}
