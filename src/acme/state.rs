//! acme.json: the ACME server's accounts, orders and authorizations (SPEC.md ACME-STATE), and
//! the transitions between their states (RFC 8555 7.1.6). Every transition is a function of
//! the state, the request, the time and the fresh ids it is given; the serve layer commits the
//! state it returns through the journaled commit, so whatever a client was told survives a
//! restart.
//!
//! Invariants: an order is `valid` exactly when it names the serial of the certificate issued
//! for it, and it is issued at most once: [`State::finalize_check`] refuses an order that is
//! not `ready`. An authorization is `valid` only after one of its challenges (http-01 or
//! dns-01; a wildcard's only dns-01) was answered with the key authorization
//! ([`State::record_validation`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::jws::Jwk;
use super::problem::{Kind, Problem, problem};

/// How long an order and its authorizations stay usable.
pub const ORDER_LIFETIME: time::Duration = time::Duration::days(7);

/// How long after it expired an order (and authorizations only it uses) is kept before a
/// commit drops it from acme.json: the file does not grow without bound.
pub const KEEP_EXPIRED: time::Duration = time::Duration::days(30);

/// The most identifiers one order may name.
pub const MAX_IDENTIFIERS: usize = 100;

/// Why a name is refused or a challenge failed, in words for the client (a problem's
/// detail, an authorization's error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Failure(pub String);

/// The whole of acme.json.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    pub accounts: BTreeMap<String, Account>,
    pub orders: BTreeMap<String, Order>,
    pub authorizations: BTreeMap<String, Authz>,
    /// External Account Binding keys by key id (RFC 8555 7.3.4; `ca acme eab add`).
    #[serde(default)]
    pub eab: BTreeMap<String, Eab>,
}

/// An External Account Binding key: an HS256 MAC key the operator handed out, used by at
/// most one newAccount, then forgotten (`key` null) with the account it bound recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Eab {
    /// The MAC key, base64url of 32 random bytes; null once used.
    pub key: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// The account it bound, once used.
    pub account: Option<String>,
}

/// An account (RFC 8555 7.1.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Account {
    pub status: String,
    pub jwk: Jwk,
    /// The key's RFC 7638 thumbprint: the account is found by it (newAccount of a known key).
    pub thumbprint: String,
    pub contact: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
}

/// An identifier (RFC 8555 9.7.7): `dns`, or `ip` (RFC 8738).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Identifier {
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
}

/// An order (RFC 8555 7.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Order {
    pub account: String,
    /// pending, ready, valid or invalid (`processing` is never stored: a finalize commits
    /// the certificate and `valid` together).
    pub status: String,
    pub identifiers: Vec<Identifier>,
    /// Authorization ids, one per identifier, in the same order.
    pub authorizations: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub expires: OffsetDateTime,
    /// The serial of the certificate issued for it, once `valid`.
    pub certificate: Option<String>,
    /// Why it became invalid.
    pub error: Option<String>,
}

/// An authorization and its challenges (RFC 8555 7.1.4, 8.3, 8.4): http-01 and dns-01 for a
/// name, dns-01 alone for a wildcard, http-01 alone for an address ([`Authz::challenges`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Authz {
    pub account: String,
    /// The name to validate: for a wildcard order identifier `*.NAME`, `NAME` (RFC 8555 7.1.4).
    pub identifier: Identifier,
    /// Whether it stands for the wildcard `*.NAME` (then only dns-01 may validate it).
    #[serde(default)]
    pub wildcard: bool,
    /// pending, valid or invalid.
    pub status: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires: OffsetDateTime,
    /// The challenges' token (base64url of 16 random bytes), one for all of them.
    pub token: String,
    /// When the challenge was validated, once `valid`.
    #[serde(with = "time::serde::rfc3339::option")]
    pub validated: Option<OffsetDateTime>,
    /// The challenge that decided it (`http-01`, `dns-01`), once decided.
    #[serde(default)]
    pub challenge: Option<String>,
    /// Why the challenge failed, once `invalid`.
    pub error: Option<String>,
}

/// An identifier as an order keeps it: a `dns` name lowercased (a wildcard `*.NAME` too:
/// the policy's gate decides whether it may be certified), an `ip` address as its canonical
/// text (RFC 8738 3: `::1`, not `0::1`).
pub fn canonical(id: &Identifier) -> Result<Identifier, Problem> {
    match id.kind.as_str() {
        "dns" => {
            let value = id.value.to_ascii_lowercase();
            if value[value.starts_with("*.") as usize * 2..].contains('*') {
                return Err(problem(
                    Kind::RejectedIdentifier,
                    format!("{value}: only a leading *. label may be a wildcard"),
                ));
            }
            // A host name, as a certificate may carry it (the SAN rules of `ca sign`): LDH
            // labels, ASCII (an IDN as its A-label); never text that would become part of the
            // http-01 request (a space, CR/LF, `/`, `@`…).
            if crate::pki::names::San::parse(&format!("DNS:{value}")).is_err() {
                return Err(problem(
                    Kind::RejectedIdentifier,
                    format!(
                        "{value:?} is not a DNS name (labels of letters, digits and hyphens, an \
                         internationalized name as its xn-- A-label)"
                    ),
                ));
            }
            Ok(Identifier {
                kind: "dns".into(),
                value,
            })
        }
        "ip" => match id.value.parse::<std::net::IpAddr>() {
            Ok(ip) => Ok(Identifier {
                kind: "ip".into(),
                value: ip.to_string(),
            }),
            Err(_) => Err(problem(
                Kind::Malformed,
                format!("{:?} is not an IP address", id.value),
            )),
        },
        other => Err(problem(
            Kind::UnsupportedIdentifier,
            format!("identifier type {other:?}: only dns and ip are supported"),
        )),
    }
}

/// The outcome of a key rollover.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyChange {
    Changed,
    /// Another account (this id) has the new key.
    InUse(String),
}

/// Contacts must be `mailto:` URLs of one address each.
fn check_contacts(contact: &[String]) -> Result<(), Problem> {
    for c in contact {
        let ok = c.strip_prefix("mailto:").is_some_and(|a| {
            a.contains('@') && a.len() < 256 && !a.contains(',') && !a.contains('?')
        });
        if !ok {
            return Err(problem(
                Kind::Malformed,
                format!("contact {c:?} is not a mailto: URL of one address"),
            ));
        }
    }
    Ok(())
}

/// What a newAccount request asks (RFC 8555 7.3).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewAccount {
    #[serde(default)]
    pub contact: Vec<String>,
    #[serde(default)]
    pub only_return_existing: bool,
    #[serde(default)]
    pub terms_of_service_agreed: bool,
    /// RFC 8555 7.3.4: a JWS MACed with a key of `eab` (checked by [`super::eab::verify`]).
    #[serde(default)]
    pub external_account_binding: Option<serde_json::Value>,
}

/// The answer to a newAccount: the account's id, and whether it was made now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registered {
    Existing(String),
    Created(String),
}

impl Authz {
    /// The challenges it offers: a wildcard only dns-01 (RFC 8555 7.1.3), an address http-01
    /// and tls-alpn-01 (RFC 8738 7: no dns-01 for IP identifiers), a name all three.
    pub fn challenges(&self) -> &'static [&'static str] {
        match (self.identifier.kind.as_str(), self.wildcard) {
            ("ip", _) => &["http-01", "tls-alpn-01"],
            (_, true) => &["dns-01"],
            _ => &["http-01", "dns-01", "tls-alpn-01"],
        }
    }
}

impl State {
    /// Parses acme.json.
    pub fn parse(bytes: &[u8]) -> Result<State, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// The exact bytes of acme.json: pretty JSON, two-space indent, keys in field order (maps
    /// sorted by id), a final newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).unwrap_or_default();
        out.push(b'\n');
        out
    }

    /// newAccount: the account of `jwk` if there is one; else, unless `onlyReturnExisting`, a
    /// new account `id` (contacts must be `mailto:` URLs).
    pub fn new_account(
        &mut self,
        jwk: &Jwk,
        ask: &NewAccount,
        id: String,
        now: OffsetDateTime,
    ) -> Result<Registered, Problem> {
        let thumbprint = jwk.thumbprint();
        if let Some((known, _)) = self
            .accounts
            .iter()
            .find(|(_, a)| a.thumbprint == thumbprint)
        {
            return Ok(Registered::Existing(known.clone()));
        }
        if ask.only_return_existing {
            return Err(problem(
                Kind::AccountDoesNotExist,
                "no account has this key (onlyReturnExisting)",
            ));
        }
        check_contacts(&ask.contact)?;
        self.accounts.insert(
            id.clone(),
            Account {
                status: "valid".into(),
                jwk: jwk.clone(),
                thumbprint,
                contact: ask.contact.clone(),
                created: now,
            },
        );
        Ok(Registered::Created(id))
    }

    /// Account update (RFC 8555 7.3.2, 7.3.6): new contacts, or `deactivated` for good. The
    /// account must be valid; a deactivated account's requests are then `unauthorized`.
    pub fn update_account(
        &mut self,
        id: &str,
        contact: Option<Vec<String>>,
        deactivate: bool,
    ) -> Result<Account, Problem> {
        self.account(id)?;
        if deactivate && contact.is_some() {
            // One change per request, so that each is audited as what it is (review finding:
            // both were made and only the deactivation recorded).
            return Err(problem(
                Kind::Malformed,
                "deactivate an account alone: send the contact update first",
            ));
        }
        if let Some(c) = &contact {
            check_contacts(c)?;
        }
        let account = self
            .accounts
            .get_mut(id)
            .ok_or_else(|| problem(Kind::AccountDoesNotExist, "no such account"))?;
        if let Some(c) = contact {
            account.contact = c;
        }
        if deactivate {
            account.status = "deactivated".into();
        }
        Ok(account.clone())
    }

    /// Key rollover (RFC 8555 7.3.5): account `id`'s key becomes `new`, unless another
    /// account has it ([`KeyChange::InUse`]: a 409 naming it). `old` must be the key the
    /// account has now.
    pub fn change_key(&mut self, id: &str, old: &Jwk, new: &Jwk) -> Result<KeyChange, Problem> {
        let current = self.account(id)?;
        if current.thumbprint != old.thumbprint() {
            return Err(problem(
                Kind::Malformed,
                "oldKey is not the account's current key",
            ));
        }
        let thumbprint = new.thumbprint();
        if thumbprint == current.thumbprint {
            return Err(problem(
                Kind::Malformed,
                "newKey is the account's current key already",
            ));
        }
        if let Some((other, _)) = self
            .accounts
            .iter()
            .find(|(_, a)| a.thumbprint == thumbprint)
        {
            return Ok(KeyChange::InUse(other.clone()));
        }
        let account = self
            .accounts
            .get_mut(id)
            .ok_or_else(|| problem(Kind::AccountDoesNotExist, "no such account"))?;
        account.jwk = new.clone();
        account.thumbprint = thumbprint;
        Ok(KeyChange::Changed)
    }

    /// The account `id`, which must be valid.
    pub fn account(&self, id: &str) -> Result<&Account, Problem> {
        match self.accounts.get(id) {
            Some(a) if a.status == "valid" => Ok(a),
            Some(_) => Err(problem(Kind::Unauthorized, "the account is not valid")),
            None => Err(problem(Kind::AccountDoesNotExist, "no such account")),
        }
    }

    /// newOrder: checks every identifier (a `dns` name, lowercased, or an `ip` address in its
    /// canonical text, RFC 8738; `gate` says whether the policy admits it, naming the rule
    /// when not) and makes order `ids.0` with one new authorization per identifier (`ids.1`,
    /// each with its token `ids.2`).
    pub fn new_order(
        &mut self,
        account: &str,
        identifiers: &[Identifier],
        ids: (String, Vec<(String, String)>),
        now: OffsetDateTime,
        gate: impl Fn(&Identifier) -> Result<(), Failure>,
    ) -> Result<String, Problem> {
        self.account(account)?;
        if identifiers.is_empty() || identifiers.len() > MAX_IDENTIFIERS {
            return Err(problem(
                Kind::Malformed,
                format!("an order names 1 to {MAX_IDENTIFIERS} identifiers"),
            ));
        }
        let mut names: Vec<Identifier> = Vec::new();
        for id in identifiers {
            let one = canonical(id)?;
            gate(&one).map_err(|why| problem(Kind::RejectedIdentifier, why.0))?;
            if !names.contains(&one) {
                names.push(one);
            }
        }
        let (order_id, authz_ids) = ids;
        if authz_ids.len() < names.len() {
            return Err(problem(Kind::ServerInternal, "too few authorization ids"));
        }
        let expires = now + ORDER_LIFETIME;
        let mut authorizations = Vec::new();
        for (identifier, (authz_id, token)) in names.iter().zip(authz_ids) {
            let base = identifier.value.strip_prefix("*.");
            self.authorizations.insert(
                authz_id.clone(),
                Authz {
                    account: account.to_string(),
                    identifier: Identifier {
                        kind: identifier.kind.clone(),
                        value: base.unwrap_or(&identifier.value).to_string(),
                    },
                    wildcard: base.is_some(),
                    status: "pending".into(),
                    expires,
                    token,
                    validated: None,
                    challenge: None,
                    error: None,
                },
            );
            authorizations.push(authz_id);
        }
        self.orders.insert(
            order_id.clone(),
            Order {
                account: account.to_string(),
                status: "pending".into(),
                identifiers: names,
                authorizations,
                expires,
                certificate: None,
                error: None,
            },
        );
        Ok(order_id)
    }

    /// The authorization `id` of `account` (a pending one past its expiry reads as expired).
    pub fn authz(&self, id: &str, account: &str) -> Result<&Authz, Problem> {
        match self.authorizations.get(id) {
            Some(a) if a.account == account => Ok(a),
            // Another account's (SPEC.md ACME-JWS): not this account's to read or answer.
            Some(_) => Err(problem(
                Kind::Unauthorized,
                "this authorization belongs to another account",
            )),
            None => Err(problem(Kind::Malformed, "no such authorization")),
        }
    }

    /// The order `id` of `account`.
    pub fn order(&self, id: &str, account: &str) -> Result<&Order, Problem> {
        match self.orders.get(id) {
            Some(o) if o.account == account => Ok(o),
            Some(_) => Err(problem(
                Kind::Unauthorized,
                "this order belongs to another account",
            )),
            None => Err(problem(Kind::Malformed, "no such order")),
        }
    }

    /// Records the outcome of validating authorization `id`'s challenge `challenge` (Err:
    /// why it failed), and moves the orders that use it: all authorizations valid → `ready`,
    /// one invalid → `invalid`. A challenge already decided is not decided again; one the
    /// authorization does not offer is refused.
    pub fn record_validation(
        &mut self,
        id: &str,
        challenge: &str,
        outcome: Result<(), Failure>,
        now: OffsetDateTime,
    ) -> Result<(), Problem> {
        let authz = self
            .authorizations
            .get_mut(id)
            .ok_or_else(|| problem(Kind::Malformed, "no such authorization"))?;
        if authz.status != "pending" {
            return Ok(());
        }
        if !authz.challenges().contains(&challenge) {
            return Err(problem(
                Kind::Malformed,
                format!("this authorization offers no {challenge} challenge"),
            ));
        }
        authz.challenge = Some(challenge.to_string());
        match outcome {
            Ok(()) if now < authz.expires => {
                authz.status = "valid".into();
                authz.validated = Some(now);
            }
            Ok(()) => {
                authz.status = "invalid".into();
                authz.error = Some("the authorization expired".into());
            }
            Err(why) => {
                authz.status = "invalid".into();
                authz.error = Some(why.0);
            }
        }
        let authzs = &self.authorizations;
        for order in self.orders.values_mut() {
            if order.status != "pending" || !order.authorizations.iter().any(|a| a == id) {
                continue;
            }
            let states: Vec<&str> = order
                .authorizations
                .iter()
                .map(|a| authzs.get(a).map_or("invalid", |z| z.status.as_str()))
                .collect();
            if states.contains(&"invalid") {
                order.status = "invalid".into();
                order.error = Some(format!("authorization {id} is invalid"));
            } else if states.iter().all(|s| *s == "valid") {
                order.status = "ready".into();
            }
        }
        Ok(())
    }

    /// finalize, before the CSR is looked at: the order must be `ready` and unexpired
    /// (RFC 8555 7.4: `orderNotReady` otherwise). A `valid` order is answered as it is:
    /// `Ok(false)`, nothing to issue (a second finalize never issues twice).
    pub fn finalize_check(
        &self,
        id: &str,
        account: &str,
        now: OffsetDateTime,
    ) -> Result<bool, Problem> {
        let order = self.order(id, account)?;
        match order.status.as_str() {
            "valid" => Ok(false),
            "ready" if now < order.expires => Ok(true),
            "ready" => Err(problem(Kind::OrderNotReady, "the order has expired")),
            other => Err(problem(
                Kind::OrderNotReady,
                format!("the order is {other}, not ready: complete its authorizations first"),
            )),
        }
    }

    /// Records that order `id` was issued as certificate `serial`.
    pub fn record_issued(&mut self, id: &str, serial: &str) -> Result<(), Problem> {
        let order = self
            .orders
            .get_mut(id)
            .ok_or_else(|| problem(Kind::Malformed, "no such order"))?;
        order.status = "valid".into();
        order.certificate = Some(serial.to_string());
        Ok(())
    }

    /// Drops orders expired longer than [`KEEP_EXPIRED`] (and their authorizations), unless
    /// valid: a valid order stays while its certificate may be downloaded.
    pub fn prune(&mut self, now: OffsetDateTime) {
        let gone: Vec<String> = self
            .orders
            .iter()
            .filter(|(_, o)| o.status != "valid" && o.expires + KEEP_EXPIRED < now)
            .map(|(id, _)| id.clone())
            .collect();
        for id in gone {
            if let Some(o) = self.orders.remove(&id) {
                for a in o.authorizations {
                    self.authorizations.remove(&a);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
