//! The state directory as data: the index (header and log), the audit trail, the signed
//! checkpoint, and the snapshot a command reads through its session. No clap; reads go
//! through `store`, writes are returned as plans for `store` to commit.

pub mod audit;
pub mod change;
pub mod checkpoint;
pub mod header;
pub mod layout;
pub mod legacy;
pub mod log;
pub mod plan;
pub mod responder;
pub mod snapshot;

/// Serializes a record of the state files (index.json, an index.log or audit.log line).
/// These are structs of strings, numbers, booleans and options — no maps, no non-string keys,
/// no custom serializers that can fail — for which serde_json cannot fail; if it ever did,
/// that is a bug, and the panic hook reports it as one (exit 70) rather than writing an empty
/// record.
pub(crate) fn to_json(value: &impl serde::Serialize, pretty: bool) -> Vec<u8> {
    let out = if pretty {
        serde_json::to_vec_pretty(value)
    } else {
        serde_json::to_vec(value)
    };
    out.expect("a state record always serializes")
}
