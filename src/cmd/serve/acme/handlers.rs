//! The ACME resources (RFC 8555 7.1): the directory, newNonce, and the POST endpoints — every
//! POST a JWS whose nonce is taken once, whose `url` is the URL it was sent to and whose
//! signature is by the key it names (a new key for newAccount, the account's for the rest).
//! Every answer carries a fresh `Replay-Nonce` and the directory's `Link`; a refusal is a
//! problem document.

use serde_json::{Value, json};

use super::Acme;
use super::ops::{self, Change};
use crate::acme::jws::{self, Jwk, Signer};
use crate::acme::problem::{Kind, Problem, problem};
use crate::acme::state::{Account, Authz, Identifier, NewAccount, Order, Registered};

/// An answer: status, headers, body.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(status: u16, v: &Value) -> Reply {
        Reply {
            status,
            headers: vec![("content-type", "application/json".into())],
            body: serde_json::to_vec_pretty(v).unwrap_or_default(),
        }
    }

    pub fn problem(p: &Problem) -> Reply {
        Reply {
            status: p.kind.status(),
            headers: vec![("content-type", "application/problem+json".into())],
            body: p.to_json(),
        }
    }

    pub fn located(mut self, url: String) -> Reply {
        self.headers.push(("location", url));
        self
    }
}

/// Answers one request: `base` is `https://HOST[:PORT]` as the client addressed it.
pub fn answer(acme: &Acme, method: &str, path: &str, base: &str, body: &[u8]) -> Reply {
    let mut reply = match (method, path) {
        ("GET", "/acme/directory") => Reply::json(200, &directory(base, acme)),
        ("HEAD", "/acme/new-nonce") => Reply::empty(200),
        ("GET", "/acme/new-nonce") => Reply::empty(204),
        ("POST", _) if path.starts_with("/acme/") => {
            post(acme, path, base, body).unwrap_or_else(|p| Reply::problem(&p))
        }
        (_, _) if path.starts_with("/acme/") => Reply::problem(&problem(
            Kind::Malformed,
            "use POST (or GET for the directory and newNonce)",
        )),
        _ => Reply {
            status: 404,
            headers: vec![("content-type", "text/plain".into())],
            body: b"not found\n".to_vec(),
        },
    };
    if path.starts_with("/acme/") {
        reply.headers.push(("replay-nonce", acme.nonce()));
        reply.headers.push(("cache-control", "no-store".into()));
        reply
            .headers
            .push(("link", format!("<{base}/acme/directory>;rel=\"index\"")));
    }
    reply
}

impl Reply {
    fn empty(status: u16) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }
}

/// The directory (RFC 8555 7.1.1).
fn directory(base: &str, acme: &Acme) -> Value {
    let mut meta = json!({"externalAccountRequired": acme.eab_required});
    if let Some(terms) = &acme.terms {
        meta["termsOfService"] = json!(terms);
    }
    json!({
        "newNonce": format!("{base}/acme/new-nonce"),
        "newAccount": format!("{base}/acme/new-account"),
        "newOrder": format!("{base}/acme/new-order"),
        "revokeCert": format!("{base}/acme/revoke-cert"),
        "keyChange": format!("{base}/acme/key-change"),
        "meta": meta,
    })
}

/// A POST: the JWS checked, then the resource.
fn post(acme: &Acme, path: &str, base: &str, body: &[u8]) -> Result<Reply, Problem> {
    let parsed = jws::parse(body)?;
    if !acme.take_nonce(&parsed.nonce) {
        return Err(problem(
            Kind::BadNonce,
            "the nonce is unknown or was used already; use the Replay-Nonce of this answer",
        ));
    }
    let url = format!("{base}{path}");
    if path == "/acme/new-account" {
        let Signer::Jwk(jwk) = &parsed.signer else {
            return Err(problem(
                Kind::Malformed,
                "newAccount is signed with a jwk, not a kid",
            ));
        };
        parsed.verify(&url, jwk)?;
        let ask: NewAccount = parsed.json()?;
        return new_account(acme, (base, &url), jwk, &ask);
    }
    if path == "/acme/revoke-cert" {
        return super::revoke::revoke_cert(acme, base, &url, &parsed);
    }
    let Signer::Kid(kid) = &parsed.signer else {
        return Err(problem(
            Kind::Malformed,
            "this request is signed with the account's kid, not a jwk",
        ));
    };
    let account = account_id(base, kid)?;
    let jwk = ops::read(acme, |_, s| s.account(&account).map(|a| a.jwk.clone()))?;
    parsed.verify(&url, &jwk)?;
    let rest = &path["/acme/".len()..];
    let (kind, id) = rest.split_once('/').unwrap_or((rest, ""));
    match (kind, id) {
        ("new-order", "") => new_order(acme, base, &account, &parsed.json()?),
        ("key-change", "") => super::account::key_change(acme, base, &account, &url, &parsed),
        ("acct", a) if a == account && parsed.is_post_as_get() => {
            account_reply(acme, base, &account)
        }
        ("acct", a) if a == account => {
            super::account::update(acme, base, &account, &parsed.json()?)
        }
        ("acct", a) if a == format!("{account}/orders") => orders_reply(acme, base, &account),
        ("acct", _) => Err(problem(
            Kind::Unauthorized,
            "a request about another account than the one that signed it",
        )),
        ("order", o) if o.ends_with("/finalize") => {
            finalize(acme, base, &account, &o[..o.len() - 9], &parsed.json()?)
        }
        ("order", o) => ops::read(acme, |_, s| {
            Ok(Reply::json(
                200,
                &order_json(base, o, s.order(o, &account)?),
            ))
        }),
        ("authz", z) => ops::read(acme, |_, s| {
            Ok(Reply::json(
                200,
                &authz_json(base, z, s.authz(z, &account)?),
            ))
        }),
        // A POST-as-GET reads the challenge; a POST of `{}` answers it (RFC 8555 7.5.1).
        ("chall", z) => challenge(acme, base, &account, z, !parsed.is_post_as_get()),
        ("cert", o) => certificate(acme, &account, o),
        _ => Err(problem(Kind::Malformed, format!("no resource at {path}"))),
    }
}

/// The account id a `kid` names: an account URL of this server.
pub fn account_id(base: &str, kid: &str) -> Result<String, Problem> {
    kid.strip_prefix(&format!("{base}/acme/acct/"))
        .filter(|id| !id.is_empty() && !id.contains('/'))
        .map(str::to_string)
        .ok_or_else(|| {
            problem(
                Kind::AccountDoesNotExist,
                "kid is not an account URL of this server",
            )
        })
}

/// newAccount (RFC 8555 7.3): 201 and the new account, or 200 and the existing one. A new
/// account's External Account Binding (7.3.4) is checked under the lock and its key marked
/// used in the same commit; without one, `--acme-eab-required` refuses it.
fn new_account(
    acme: &Acme,
    (base, url): (&str, &str),
    jwk: &Jwk,
    ask: &NewAccount,
) -> Result<Reply, Problem> {
    let fresh = acme.fresh_id();
    let (id, created) = ops::transact(acme, |_, state, env| {
        match state.new_account(jwk, ask, fresh, env.now)? {
            Registered::Existing(id) => Ok(((id, false), None)),
            Registered::Created(id) => {
                // RFC 8555 7.3: with terms of service, a new account must agree to them.
                if acme.terms.is_some() && !ask.terms_of_service_agreed {
                    return Err(problem(
                        Kind::UserActionRequired,
                        "agree to the terms of service (the directory's meta.termsOfService) \
                         with termsOfServiceAgreed: true",
                    ));
                }
                match &ask.external_account_binding {
                    Some(binding) => {
                        let kid = crate::acme::eab::verify(binding, url, jwk, &state.eab)?;
                        if let Some(e) = state.eab.get_mut(&kid) {
                            e.key = None;
                            e.account = Some(id.clone());
                        }
                    }
                    None if acme.eab_required => {
                        return Err(problem(
                            Kind::ExternalAccountRequired,
                            "this server registers only accounts with an External Account \
                             Binding: ask the operator for one (ca acme eab add)",
                        ));
                    }
                    None => {}
                }
                let change = Change::of("acme-account", &id);
                Ok(((id, true), Some(change)))
            }
        }
    })?;
    let reply = account_reply(acme, base, &id)?;
    Ok(Reply {
        status: if created { 201 } else { 200 },
        ..reply
    }
    .located(format!("{base}/acme/acct/{id}")))
}

fn account_reply(acme: &Acme, base: &str, id: &str) -> Result<Reply, Problem> {
    ops::read(acme, |_, s| {
        Ok(Reply::json(200, &account_json(base, id, s.account(id)?)))
    })
}

/// An account as its URL answers it (RFC 8555 7.1.2).
pub fn account_json(base: &str, id: &str, a: &Account) -> Value {
    json!({
        "status": a.status,
        "contact": a.contact,
        "orders": format!("{base}/acme/acct/{id}/orders"),
    })
}

fn orders_reply(acme: &Acme, base: &str, account: &str) -> Result<Reply, Problem> {
    ops::read(acme, |_, s| {
        let urls: Vec<String> = s
            .orders
            .iter()
            .filter(|(_, o)| o.account == account)
            .map(|(id, _)| format!("{base}/acme/order/{id}"))
            .collect();
        Ok(Reply::json(200, &json!({ "orders": urls })))
    })
}

/// newOrder (RFC 8555 7.4): each identifier gated by the `acme` profile and the name
/// constraints; 201 and the order.
fn new_order(acme: &Acme, base: &str, account: &str, ask: &Value) -> Result<Reply, Problem> {
    // RFC 8555 7.4: a server that cannot meet the validity asked for must say so; the `acme`
    // profile decides it (review finding: the fields were silently ignored).
    if ["notBefore", "notAfter"].iter().any(|f| !ask[f].is_null()) {
        return Err(problem(
            Kind::Malformed,
            "notBefore and notAfter are not supported: the CA's acme profile sets the validity",
        ));
    }
    // ACME-LIMITS: at most --acme-order-limit new orders per account per hour.
    let admitted = acme
        .order_limit
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .admit(account, crate::clock::now().map_err(ops::internal)?);
    if let Err(wait) = admitted {
        let max = acme.order_limit.lock().map(|w| w.max).unwrap_or_default();
        let refused = problem(
            Kind::RateLimited,
            format!("at most {max} new orders per account per hour; retry after {wait} s"),
        );
        let mut reply = Reply::problem(&refused);
        reply.headers.push(("retry-after", wait.to_string()));
        return Ok(reply);
    }
    let identifiers: Vec<Identifier> = serde_json::from_value(ask["identifiers"].clone())
        .map_err(|e| problem(Kind::Malformed, format!("identifiers: {e}")))?;
    let order_id = acme.fresh_id();
    let authz_ids: Vec<(String, String)> = identifiers
        .iter()
        .map(|_| (acme.fresh_id(), acme.fresh_id()))
        .collect();
    let (id, order) = ops::transact(acme, |snapshot, state, env| {
        let gate = |id: &Identifier| ops::gate_identifier(snapshot, id);
        let id = state.new_order(account, &identifiers, (order_id, authz_ids), env.now, gate)?;
        let order = state.orders[&id].clone();
        Ok(((id, order), Some(Change::of("acme-order", account))))
    })?;
    Ok(Reply::json(201, &order_json(base, &id, &order)).located(format!("{base}/acme/order/{id}")))
}

/// A challenge answered (RFC 8555 7.5.1): validated now, outside the lock, and the outcome
/// committed; the answer is the challenge with its new status. `path` is the authorization
/// id (http-01) or `ID/dns-01`.
fn challenge(
    acme: &Acme,
    base: &str,
    account: &str,
    path: &str,
    respond: bool,
) -> Result<Reply, Problem> {
    let (id, kind) = match path.split_once('/') {
        None => (path, "http-01"),
        Some((id, "dns-01")) => (id, "dns-01"),
        Some((id, "tls-alpn-01")) => (id, "tls-alpn-01"),
        Some(_) => return Err(problem(Kind::Malformed, "no such challenge")),
    };
    let (authz, thumbprint) = ops::read(acme, |_, s| {
        Ok((
            s.authz(id, account)?.clone(),
            s.account(account)?.thumbprint.clone(),
        ))
    })?;
    if !authz.challenges().contains(&kind) {
        return Err(problem(
            Kind::Malformed,
            format!("this authorization offers no {kind} challenge"),
        ));
    }
    let authz = if respond && authz.status == "pending" {
        let key_authz = format!("{}.{thumbprint}", authz.token);
        let target = &acme.target;
        let outcome = match kind {
            "dns-01" => super::validate::dns01(target, &authz.identifier.value, &key_authz),
            "tls-alpn-01" => {
                super::validate::addresses(target, &authz.identifier).and_then(|addrs| {
                    super::alpn::tls_alpn01(target, &authz.identifier, &addrs, &key_authz)
                })
            }
            _ => super::validate::http01(target, &authz.identifier, &authz.token, &key_authz),
        };
        ops::transact(acme, |_, state, env| {
            let pending = state.authz(id, account)?.status == "pending";
            if pending {
                state.record_validation(id, kind, outcome, env.now)?;
            }
            let change = pending.then(|| Change::of("acme-validate", account));
            Ok((state.authz(id, account)?.clone(), change))
        })?
    } else {
        authz
    };
    let mut reply = Reply::json(200, &challenge_json(base, id, &authz, kind));
    reply
        .headers
        .push(("link", format!("<{base}/acme/authz/{id}>;rel=\"up\"")));
    Ok(reply)
}

/// finalize (RFC 8555 7.4): the order must be ready; the CSR passes `ca sign`'s gate under
/// the `acme` profile; the certificate and the order's `valid` are one commit.
fn finalize(
    acme: &Acme,
    base: &str,
    account: &str,
    id: &str,
    ask: &Value,
) -> Result<Reply, Problem> {
    let der = ask["csr"]
        .as_str()
        .and_then(crate::acme::b64url_decode)
        .ok_or_else(|| problem(Kind::Malformed, "csr must be the base64url DER of a CSR"))?;
    let (order, issued) = ops::transact(acme, |snapshot, state, env| {
        if !state.finalize_check(id, account, env.now)? {
            return Ok(((state.orders[id].clone(), false), None));
        }
        let csr = crate::pki::csr::check_acme(&der)
            .map_err(|e| problem(Kind::BadCsr, crate::term::escape(&e.to_string())))?;
        // The account key certified for TLS would sign ACME requests and TLS handshakes alike
        // (review finding; Let's Encrypt refuses it too).
        use x509_parser::prelude::FromDer;
        let spki = x509_parser::x509::SubjectPublicKeyInfo::from_der(&csr.spki_der)
            .map_err(|_| problem(Kind::BadCsr, "the CSR's public key does not parse"))?
            .1;
        if state.account(account)?.jwk.is_key_of(&spki) {
            return Err(problem(
                Kind::BadCsr,
                "the CSR's key is this account's key: certify another key",
            ));
        }
        let names = state.orders[id].identifiers.clone();
        let (serial, change) = ops::issue(snapshot, &csr, &names, account, env)?;
        state.record_issued(id, &serial)?;
        Ok(((state.orders[id].clone(), true), Some(change)))
    })?;
    // Said once committed.
    if issued && let Some(serial) = &order.certificate {
        crate::term::warn(&format!(
            "serve: acme: issued {serial} for account {}",
            crate::term::escape(account)
        ));
    }
    Ok(Reply::json(200, &order_json(base, id, &order)).located(format!("{base}/acme/order/{id}")))
}

/// The certificate of a valid order, then this CA and the CAs above it but the root (this
/// CA's certificate even when it is the root), as `application/pem-certificate-chain`
/// (RFC 8555 7.4.2).
fn certificate(acme: &Acme, account: &str, id: &str) -> Result<Reply, Problem> {
    ops::read(acme, |snapshot, s| {
        let serial = s
            .order(id, account)?
            .certificate
            .clone()
            .ok_or_else(|| problem(Kind::Malformed, "the order has no certificate yet"))?;
        let file = crate::model::layout::cert_file(&serial);
        let pem = crate::store::read_state_file(&snapshot.dir, &file).map_err(ops::internal)?;
        let mut body = pem;
        // The issuing CA always follows the certificate — for a root CA the root itself, as
        // certbot refuses a chain of one certificate.
        let above = match snapshot.intermediates_pem() {
            none if none.is_empty() => snapshot.root_pem(),
            some => some,
        };
        body.extend_from_slice(above.as_bytes());
        Ok(Reply {
            status: 200,
            headers: vec![("content-type", "application/pem-certificate-chain".into())],
            body,
        })
    })
}

fn order_json(base: &str, id: &str, o: &Order) -> Value {
    let mut v = json!({
        "status": o.status,
        "expires": crate::clock::fmt(o.expires),
        "identifiers": o.identifiers,
        "authorizations": o.authorizations.iter().map(|a| format!("{base}/acme/authz/{a}")).collect::<Vec<_>>(),
        "finalize": format!("{base}/acme/order/{id}/finalize"),
    });
    if o.certificate.is_some() {
        v["certificate"] = format!("{base}/acme/cert/{id}").into();
    }
    if let Some(e) = &o.error {
        v["error"] = serde_json::from_slice(&problem(Kind::Unauthorized, e.clone()).to_json())
            .unwrap_or(Value::Null);
    }
    v
}

fn authz_json(base: &str, id: &str, a: &Authz) -> Value {
    let challenges: Vec<Value> = a
        .challenges()
        .iter()
        .map(|kind| challenge_json(base, id, a, kind))
        .collect();
    let mut v = json!({
        "status": a.status,
        "expires": crate::clock::fmt(a.expires),
        "identifier": a.identifier,
        "challenges": challenges,
    });
    if a.wildcard {
        v["wildcard"] = true.into();
    }
    v
}

/// Challenge `kind` of authorization `id`: the one that decided it carries its status
/// (with `validated` or `error`); the others stay `pending`.
fn challenge_json(base: &str, id: &str, a: &Authz, kind: &str) -> Value {
    let url = match kind {
        "http-01" => format!("{base}/acme/chall/{id}"),
        other => format!("{base}/acme/chall/{id}/{other}"),
    };
    // acme.json of milestone 1 had http-01 alone and no `challenge`.
    let decided = a.challenge.as_deref().unwrap_or("http-01") == kind;
    let status = if decided {
        a.status.as_str()
    } else {
        "pending"
    };
    let mut v = json!({
        "type": kind,
        "url": url,
        "token": a.token,
        "status": status,
    });
    if !decided {
        return v;
    }
    if let Some(t) = a.validated {
        v["validated"] = crate::clock::fmt(t).into();
    }
    if let Some(e) = &a.error {
        v["error"] = serde_json::from_slice(&problem(Kind::IncorrectResponse, e.clone()).to_json())
            .unwrap_or(Value::Null);
    }
    v
}
