//! The state directory as data: the index (header and log), the audit trail, the signed
//! checkpoint, and the snapshot a command reads through its session. No clap; reads go
//! through `store`, writes are returned as plans for `store` to commit.

pub mod audit;
pub mod change;
pub mod checkpoint;
pub mod header;
pub mod legacy;
pub mod log;
pub mod snapshot;
