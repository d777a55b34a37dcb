#!/usr/bin/env bash
# The README's test command and the full tier (docs/testing.md; SPEC.md TEST-TOOLS): on a
# fresh Debian/Ubuntu machine with the Rust toolchain, installs every tool the tests use,
# checks that the machine grants what no package provides (TEST-PRIVILEGE), then runs the
# format check, clippy, every test — the fast tier (`cargo test`) and the full tier (the tests
# marked `#[ignore = "full tier: …"]`) — and the behavioural validation script. Exits
# non-zero on any failure. `.ci/run` is this.
#
#   scripts/test.sh               install what is missing, then check everything
#   scripts/test.sh --setup-only  install and check the machine only; prints the PKILINT
#                                 export for running single tests (cargo test -- MODULE::)
set -euo pipefail
cd "$(dirname "$0")/.."

setup_only=false
case "${1:-}" in
  "") ;;
  --setup-only) setup_only=true ;;
  *) echo "usage: scripts/test.sh [--setup-only]" >&2; exit 2 ;;
esac

die() { echo "scripts/test.sh: $*" >&2; exit 1; }

command -v cargo >/dev/null || die "cargo is missing: install the Rust toolchain (https://rustup.rs)"
{ cargo fmt --version && cargo clippy --version; } >/dev/null 2>&1 ||
  die "rustfmt and clippy are missing: rustup component add rustfmt clippy"
# What no package provides (TEST-PRIVILEGE), checked before anything is installed: a machine
# that cannot run the tests is refused with what to grant, and nothing is installed on it.
[ "$(id -u)" -eq 0 ] ||
  die "the tests need root (tests/boundary.rs runs ca as another user, SPEC.md TEST-PRIVILEGE): run as root, e.g. in a container"

# Distribution packages, each for the tests that name it when it is missing (TEST-TOOLS).
need=()
command -v openssl >/dev/null || need+=(openssl)                     # everywhere; validate.sh
command -v strace >/dev/null || need+=(strace)                       # tests/environment.rs
command -v certtool >/dev/null || need+=(gnutls-bin)                 # the second verifier
command -v curl >/dev/null || need+=(curl)                           # tests/serve_http.rs: HTTP/2
command -v /usr/share/easy-rsa/easyrsa >/dev/null || need+=(easy-rsa) # tests/adopt.rs
# A throwaway SoftHSM2 token per test and keys made on it (tests/pkcs11.rs, TOKEN-*).
{ command -v softhsm2-util && [ -f /usr/lib/softhsm/libsofthsm2.so ]; } >/dev/null || need+=(softhsm2)
command -v pkcs11-tool >/dev/null || need+=(opensc)
# ACME clients (tests/acme.rs, ACME-*).
command -v lego >/dev/null || need+=(lego)
command -v certbot >/dev/null || need+=(certbot)
# OpenSSL signing with a token key (tests/pkcs11_adopt.rs, TOKEN-IMPORT; scripts/bench-token.sh).
[ -f /usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so ] || need+=(libengine-pkcs11-openssl)
{ command -v unshare && command -v script; } >/dev/null || need+=(util-linux bsdutils)
# Java's PKIX validator and keytool (tests/interop.rs, INTEROP-JAVA).
{ command -v javac && command -v keytool; } >/dev/null || need+=(openjdk-17-jdk-headless)
# pkilint (tests/lint.rs) comes from PyPI into a venv kept in the user's cache, pinned (a new
# pkilint may add findings: bump the pin deliberately). Made once, reused by every run.
pkilint_version=0.13.3
pkilint_venv="${XDG_CACHE_HOME:-$HOME/.cache}/fileca-ci/pkilint-$pkilint_version"
if ! [ -f "$pkilint_venv/installed" ]; then
  command -v python3 >/dev/null || need+=(python3)
  python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  apt-get update -qq && apt-get install -y -qq "${need[@]}"   # root: checked above
fi
if ! [ -f "$pkilint_venv/installed" ]; then # the mark is made last: a broken venv is remade
  echo "installing: pkilint $pkilint_version in $pkilint_venv"
  python3 -m venv --clear "$pkilint_venv"
  "$pkilint_venv/bin/pip" install -q "pkilint==$pkilint_version"
  touch "$pkilint_venv/installed"
fi
export PKILINT="$pkilint_venv/bin/lint_pkix_cert"

# User namespaces (TEST-PRIVILEGE), once util-linux is there: refused before a long run.
unshare -Urm true 2>/dev/null ||
  die "this kernel refuses unprivileged user namespaces (unshare -Urm), which the disk-full and read-only tests need (SPEC.md TEST-PRIVILEGE): sysctl kernel.unprivileged_userns_clone=1, or a container that allows them"

if $setup_only; then
  echo "ready: export PKILINT=$PKILINT"
  exit 0
fi

cargo fmt --check
cargo clippy --all-targets -- -D warnings
# Both tiers: every test, the ignored (full-tier) ones included. `--all-targets` leaves out
# doctests, which run on their own so that --include-ignored never reaches them.
cargo test --all-targets -- --include-ignored
cargo test --doc
bash scripts/validate.sh
