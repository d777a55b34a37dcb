//! Problem documents (RFC 7807) with the ACME error types of RFC 8555 6.7: what every refused
//! request is answered with, `application/problem+json`.

use serde::Serialize;

/// The ACME error types fileca sends (RFC 8555 6.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    AccountDoesNotExist,
    BadCsr,
    BadNonce,
    BadSignatureAlgorithm,
    Malformed,
    OrderNotReady,
    RejectedIdentifier,
    ServerInternal,
    Unauthorized,
    UnsupportedIdentifier,
    Connection,
    IncorrectResponse,
    Dns,
    AlreadyRevoked,
    BadRevocationReason,
    ExternalAccountRequired,
    RateLimited,
    UserActionRequired,
}

impl Kind {
    /// The `type` URN's last part.
    pub fn name(self) -> &'static str {
        match self {
            Kind::AccountDoesNotExist => "accountDoesNotExist",
            Kind::BadCsr => "badCSR",
            Kind::BadNonce => "badNonce",
            Kind::BadSignatureAlgorithm => "badSignatureAlgorithm",
            Kind::Malformed => "malformed",
            Kind::OrderNotReady => "orderNotReady",
            Kind::RejectedIdentifier => "rejectedIdentifier",
            Kind::ServerInternal => "serverInternal",
            Kind::Unauthorized => "unauthorized",
            Kind::UnsupportedIdentifier => "unsupportedIdentifier",
            Kind::Connection => "connection",
            Kind::IncorrectResponse => "incorrectResponse",
            Kind::Dns => "dns",
            Kind::AlreadyRevoked => "alreadyRevoked",
            Kind::BadRevocationReason => "badRevocationReason",
            Kind::ExternalAccountRequired => "externalAccountRequired",
            Kind::RateLimited => "rateLimited",
            Kind::UserActionRequired => "userActionRequired",
        }
    }

    /// The HTTP status a problem of this kind is sent with.
    pub fn status(self) -> u16 {
        match self {
            Kind::AccountDoesNotExist | Kind::Unauthorized => 403,
            Kind::ExternalAccountRequired => 403,
            Kind::UserActionRequired => 403,
            Kind::OrderNotReady => 403,
            Kind::ServerInternal => 500,
            Kind::RateLimited => 429,
            _ => 400,
        }
    }
}

/// One problem document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {detail}", kind.name())]
pub struct Problem {
    pub kind: Kind,
    pub detail: String,
}

impl Problem {
    pub fn new(kind: Kind, detail: impl Into<String>) -> Problem {
        Problem {
            kind,
            detail: detail.into(),
        }
    }

    /// The JSON body: `type`, `detail`, `status`.
    pub fn to_json(&self) -> Vec<u8> {
        #[derive(Serialize)]
        struct Doc<'a> {
            #[serde(rename = "type")]
            kind: String,
            detail: &'a str,
            status: u16,
        }
        serde_json::to_vec(&Doc {
            kind: format!("urn:ietf:params:acme:error:{}", self.kind.name()),
            detail: &self.detail,
            status: self.kind.status(),
        })
        .unwrap_or_default()
    }
}

/// A problem of `kind` with `detail`.
pub fn problem(kind: Kind, detail: impl Into<String>) -> Problem {
    Problem::new(kind, detail)
}
