//! Failures to sign with the CA key: a library failing on fileca's own keys is a bug (exit
//! 70), a PKCS#11 token that fails to sign (removed, an error of its module) is exit 4 with
//! nothing written, in the token's own words (`token::take_failure`).

use super::Error;

impl From<crate::pki::CryptoError> for Error {
    /// A library failing on fileca's own keys is a bug (exit 70), except a token that failed
    /// to sign (removed, a module error): exit 4, in its words (token::take_failure).
    fn from(err: crate::pki::CryptoError) -> Self {
        use crate::pki::CryptoError as C;
        match err {
            C::Sign(rcgen::Error::RemoteKeyError)
            | C::SignCrl(rcgen::Error::RemoteKeyError)
            | C::Generate(rcgen::Error::RemoteKeyError) => {
                Error::Token(crate::token::take_failure())
            }
            other => Error::Crypto(other),
        }
    }
}

impl Error {
    /// rcgen failed to sign while `what`: a failing token is exit 4 (its words), else a bug.
    pub fn signing(err: rcgen::Error, what: &'static str) -> Self {
        match err {
            rcgen::Error::RemoteKeyError => Error::Token(crate::token::take_failure()),
            e => Error::bug_in(what, e),
        }
    }
}
