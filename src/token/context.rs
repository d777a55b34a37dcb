//! Keys that want the PIN for every signature (CKA_ALWAYS_AUTHENTICATE: YubiKey PIV slot 9c
//! by default; SoftHSM2 honours it): PKCS#11 (2.40 and 3.0, under C_Login) puts
//! `C_Login(CKU_CONTEXT_SPECIFIC)` between `C_SignInit` and `C_Sign`. The cryptoki crate's `Session::sign` makes those two
//! calls in one, and its multi-part signing does not help (SoftHSM2 signs CKM_ECDSA and
//! CKM_EDDSA in one part only), so this module makes the `C_Sign` call itself, through the
//! module's own function list (SPEC.md TOKEN-ALWAYS).
//!
//! Invariant: the PIN is the one read once at the start of the command (`--pin-file`,
//! `$CA_PIN_FILE` or the prompt); it is held zeroized-on-drop for the command's life and
//! given to the token once per signature, never read again.

use std::path::Path;

use cryptoki::context::{Function, Pkcs11};
use cryptoki::error::Rv;
use cryptoki::mechanism::Mechanism;
use cryptoki::object::ObjectHandle;
use cryptoki::session::{Session, UserType};
use cryptoki::slot::Slot;
use cryptoki_sys::{CK_BYTE, CK_FUNCTION_LIST, CK_RV, CK_SESSION_HANDLE, CK_ULONG, CKR_OK};
use zeroize::Zeroizing;

use super::{TokenError, failed, login_as};

/// `C_Sign` as the module's function list gives it.
type CSign = unsafe extern "C" fn(
    CK_SESSION_HANDLE,
    *mut CK_BYTE,
    CK_ULONG,
    *mut CK_BYTE,
    *mut CK_ULONG,
) -> CK_RV;

/// The largest signature fileca asks for: RSA-8192 (1,024 bytes); ECDSA P-384 r‖s is 96 and
/// Ed25519 64.
const MAX_SIGNATURE: usize = 1024;

/// What a per-signature login needs: the module's `C_Sign`, the PIN, and where to read the
/// token's PIN flags if the token refuses it.
pub(super) struct ContextLogin {
    c_sign: CSign,
    /// The module mapped a second time (dlopen counts references: the same code and the
    /// same sessions as cryptoki's); holds `c_sign` valid.
    _module: cryptoki_sys::Pkcs11,
    ctx: Pkcs11,
    slot: Slot,
    token: String,
    pin: Zeroizing<String>,
}

impl ContextLogin {
    /// Finds the module's `C_Sign` through `C_GetFunctionList`.
    pub(super) fn new(
        ctx: &Pkcs11,
        module: &Path,
        slot: Slot,
        token: String,
        pin: Zeroizing<String>,
    ) -> Result<ContextLogin, TokenError> {
        let broken = |reason: String| TokenError::Module {
            module: module.to_path_buf(),
            reason,
        };
        // Safety: cryptoki loaded and initialised this same file already (`load` checked
        // who may have written it, TOKEN-MODULE), so mapping it again runs no new
        // initialiser; C_GetFunctionList writes one pointer to a static table that stays
        // valid while the module is mapped, which `_module` guarantees; C_Sign is read
        // from it once and checked to be there.
        #[allow(unsafe_code)]
        let (lib, c_sign) = unsafe {
            let lib = cryptoki_sys::Pkcs11::new(module).map_err(|e| broken(e.to_string()))?;
            let get = lib
                .C_GetFunctionList
                .as_ref()
                .map_err(|e| broken(e.to_string()))?;
            let mut list: *mut CK_FUNCTION_LIST = std::ptr::null_mut();
            let rv = get(&mut list);
            if rv != CKR_OK || list.is_null() {
                return Err(broken(format!("C_GetFunctionList returned {rv:#x}")));
            }
            let c_sign = (*list)
                .C_Sign
                .ok_or_else(|| broken("the module has no C_Sign".into()))?;
            (lib, c_sign)
        };
        Ok(ContextLogin {
            c_sign,
            _module: lib,
            ctx: ctx.clone(),
            slot,
            token,
            pin,
        })
    }

    /// One signature: `C_SignInit`, `C_Login(CKU_CONTEXT_SPECIFIC)` with the PIN, `C_Sign`.
    pub(super) fn sign(
        &self,
        session: &Session,
        mechanism: &Mechanism,
        key: ObjectHandle,
        data: &[u8],
    ) -> Result<Vec<u8>, TokenError> {
        session
            .sign_init(mechanism, key)
            .map_err(failed("starting a signature"))?;
        login_as(
            &self.ctx,
            self.slot,
            session,
            &self.pin,
            &self.token,
            UserType::ContextSpecific,
        )?;
        let mut input = data.to_vec();
        let mut signature = vec![0u8; MAX_SIGNATURE];
        let mut len = MAX_SIGNATURE as CK_ULONG;
        // Safety: the session handle is cryptoki's open session (borrowed for this call);
        // `input` and `signature` outlive the call and `len` is `signature`'s length, as
        // C_Sign requires; the module writes at most `len` bytes.
        #[allow(unsafe_code)]
        let rv = unsafe {
            (self.c_sign)(
                session.handle(),
                input.as_mut_ptr(),
                input.len() as CK_ULONG,
                signature.as_mut_ptr(),
                &mut len,
            )
        };
        Rv::from(rv)
            .into_result(Function::Sign)
            .map_err(failed("signing"))?;
        signature.truncate(len as usize);
        Ok(signature)
    }
}
