//! Which PKCS#11 module to load, and whether it may be loaded (SPEC.md TOKEN-MODULE): the
//! module `init` records in ca.key is `--module`, else `$CA_PKCS11_MODULE`, else the first
//! installed module of a documented search list; every module is loaded only if nobody but
//! root and the user could have written it.

use std::path::{Path, PathBuf};

use super::TokenError;

/// Environment variable naming the PKCS#11 module when `--module` is not given.
pub const ENV_MODULE: &str = "CA_PKCS11_MODULE";

/// The modules looked for, in this order, when neither `--module` nor `$CA_PKCS11_MODULE`
/// names one (TOKEN-MODULE-DEFAULT): SoftHSM2 (Debian's multiarch and classic paths,
/// Fedora's), p11-kit's proxy (every module p11-kit has registered), Yubico's ykcs11 and
/// OpenSC's module, on Debian/Ubuntu x86_64 and arm64 and on Fedora/RHEL.
pub const DEFAULT_MODULES: &[&str] = &[
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib64/pkcs11/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/p11-kit-proxy.so",
    "/usr/lib/aarch64-linux-gnu/p11-kit-proxy.so",
    "/usr/lib64/p11-kit-proxy.so",
    "/usr/lib/x86_64-linux-gnu/libykcs11.so",
    "/usr/lib/aarch64-linux-gnu/libykcs11.so",
    "/usr/lib64/libykcs11.so",
    "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so",
    "/usr/lib/aarch64-linux-gnu/opensc-pkcs11.so",
    "/usr/lib64/opensc-pkcs11.so",
];

/// Debug builds only: a colon-separated list that replaces [`DEFAULT_MODULES`] (empty: no
/// list), so tests can control what is "installed".
const ENV_SEARCH: &str = "FILECA_PKCS11_SEARCH";

/// The module `init` and `import-openssl` use: `--module`, else `$CA_PKCS11_MODULE`, else
/// the first module of the search list that exists; made absolute, since ca.key records it
/// and later commands may run elsewhere.
pub fn module_path(given: Option<&Path>) -> Result<PathBuf, TokenError> {
    let named = given
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os(ENV_MODULE).map(PathBuf::from));
    let path = match named {
        Some(p) => p,
        None => {
            let list = search_list();
            first_present(&list, |p| p.is_file()).ok_or(TokenError::NoModule { searched: list })?
        }
    };
    std::path::absolute(&path).map_err(|e| TokenError::Module {
        module: path.clone(),
        reason: e.to_string(),
    })
}

/// [`DEFAULT_MODULES`], or in a debug build what `$FILECA_PKCS11_SEARCH` says.
fn search_list() -> Vec<PathBuf> {
    if cfg!(debug_assertions)
        && let Some(list) = std::env::var_os(ENV_SEARCH)
    {
        return std::env::split_paths(&list)
            .filter(|p| !p.as_os_str().is_empty())
            .collect();
    }
    DEFAULT_MODULES.iter().map(PathBuf::from).collect()
}

/// The first of `list` that `exists`.
fn first_present(list: &[PathBuf], exists: impl Fn(&Path) -> bool) -> Option<PathBuf> {
    list.iter().find(|p| exists(p)).cloned()
}

/// Loading a module runs its code with the operator's PIN at hand, and ca.key (which a
/// writer of the state directory could edit) names it: the module, whatever a symlink points
/// to, and every directory above both must belong to root or to the user running fileca and
/// be writable by no one else (SPEC.md TOKEN-MODULE), as sudo and OpenSSH judge their files.
pub(super) fn trusted(module: &Path) -> Result<(), TokenError> {
    use std::os::unix::fs::MetadataExt;
    let refuse = |reason: String| TokenError::Module {
        module: module.to_path_buf(),
        reason,
    };
    if !module.is_absolute() {
        return Err(refuse("not an absolute path".into()));
    }
    let real = std::fs::canonicalize(module).map_err(|e| refuse(e.to_string()))?;
    let me = rustix::process::geteuid().as_raw();
    for path in [module, real.as_path()] {
        for part in path.ancestors() {
            let meta = std::fs::symlink_metadata(part).map_err(|e| refuse(e.to_string()))?;
            let shared = meta.mode() & 0o022 != 0 && !meta.file_type().is_symlink();
            if (meta.uid() != 0 && meta.uid() != me) || shared {
                return Err(refuse(format!(
                    "{} is owned by uid {} with mode {:o}: a module and the directories above \
                     it must belong to root or to you and be writable by no one else",
                    part.display(),
                    meta.uid(),
                    meta.mode() & 0o7777
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_installed_module_of_the_list_is_taken_token_module_default() {
        let list: Vec<PathBuf> = ["/a.so", "/b.so", "/c.so"].map(PathBuf::from).to_vec();
        assert_eq!(
            first_present(&list, |p| p != Path::new("/a.so")),
            Some(PathBuf::from("/b.so"))
        );
        assert_eq!(first_present(&list, |_| false), None);
        assert_eq!(first_present(&[], |_| true), None);
        let err = TokenError::NoModule {
            searched: list.clone(),
        }
        .to_string();
        assert!(
            err.contains("--module PATH") && err.contains("$CA_PKCS11_MODULE"),
            "{err}"
        );
        assert!(err.contains("/a.so, /b.so, /c.so"), "{err}");
        let empty = TokenError::NoModule { searched: vec![] }.to_string();
        assert!(empty.contains("the search list is empty"), "{empty}");
        assert!(DEFAULT_MODULES.iter().all(|m| Path::new(m).is_absolute()));
    }
}
