//! Changes to an account (SPEC.md ACME-ACCOUNT): update of its contacts and deactivation
//! (RFC 8555 7.3.2, 7.3.6) by a POST to the account URL, and key rollover (7.3.5) by a POST
//! to keyChange whose payload is an inner JWS signed by the new key. Each is one journaled
//! commit of acme.json; a deactivated account's requests are `unauthorized` from then on,
//! and after a rollover the old key verifies nothing.

use serde::Deserialize;
use serde_json::Value;

use super::Acme;
use super::handlers::{Reply, account_json};
use super::ops::{self, Change};
use crate::acme::jws::{self, Jwk, Parsed, Signer};
use crate::acme::problem::{Kind, Problem, problem};
use crate::acme::state::KeyChange;

/// What a POST to an account asks.
#[derive(Deserialize)]
struct Update {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    contact: Option<Vec<String>>,
}

/// Account update: new contacts and/or `"status": "deactivated"`; 200 and the account.
pub fn update(acme: &Acme, base: &str, account: &str, ask: &Value) -> Result<Reply, Problem> {
    let ask: Update = serde_json::from_value(ask.clone())
        .map_err(|e| problem(Kind::Malformed, format!("the account update: {e}")))?;
    let deactivate = match ask.status.as_deref() {
        None => false,
        Some("deactivated") => true,
        Some(other) => {
            return Err(problem(
                Kind::Malformed,
                format!("an account's status can only become deactivated, not {other:?}"),
            ));
        }
    };
    let changes = deactivate || ask.contact.is_some();
    let a = ops::transact(acme, |_, state, _| {
        let a = state.update_account(account, ask.contact.clone(), deactivate)?;
        let operation = match deactivate {
            true => "acme-deactivate",
            false => "acme-account-update",
        };
        Ok((a, changes.then(|| Change::of(operation, account))))
    })?;
    if deactivate {
        crate::term::warn(&format!(
            "serve: acme: account {} deactivated",
            crate::term::escape(account)
        ));
    }
    Ok(Reply::json(200, &account_json(base, account, &a)))
}

/// What the inner JWS of a key change says.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rollover {
    account: String,
    old_key: Value,
}

/// keyChange: the outer JWS (already verified with the account's key) carries an inner JWS
/// signed by the new key, for the same URL, naming the account and its old key. 200 and the
/// account; 409 with the other account's URL when another account has the new key.
pub fn key_change(
    acme: &Acme,
    base: &str,
    account: &str,
    url: &str,
    outer: &Parsed,
) -> Result<Reply, Problem> {
    let inner = jws::parse_inner(&outer.payload)?;
    let Signer::Jwk(new) = &inner.signer else {
        return Err(problem(Kind::Malformed, "the inner JWS has no jwk"));
    };
    inner.verify(url, new)?;
    let ask: Rollover = inner.json()?;
    let account_url = format!("{base}/acme/acct/{account}");
    if ask.account != account_url {
        return Err(problem(
            Kind::Unauthorized,
            "the inner JWS names another account than the one that signed the request",
        ));
    }
    let old = Jwk::from_value(&ask.old_key).map_err(|p| problem(Kind::Malformed, p.detail))?;
    let outcome = ops::transact(acme, |_, state, _| {
        match state.change_key(account, &old, new)? {
            KeyChange::Changed => Ok((
                KeyChange::Changed,
                Some(Change::of("acme-key-change", account)),
            )),
            in_use => Ok((in_use, None)),
        }
    })?;
    match outcome {
        KeyChange::Changed => {
            let a = ops::read(acme, |_, s| s.account(account).cloned())?;
            Ok(Reply::json(200, &account_json(base, account, &a)))
        }
        KeyChange::InUse(other) => {
            let p = problem(Kind::Malformed, "another account has this key");
            Ok(Reply {
                status: 409,
                ..Reply::problem(&p)
            }
            .located(format!("{base}/acme/acct/{other}")))
        }
    }
}
