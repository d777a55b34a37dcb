#!/usr/bin/env bash
# Behavioural validation an operator can run: builds ca, creates a CA in a temporary
# directory, signs, revokes, publishes a CRL, builds a two-tier PKI and a CA with a policy,
# and checks every step with OpenSSL.
# Prints one PASS/FAIL line per step; exits non-zero if any step fails.
# Usage: scripts/validate.sh [--release]
set -uo pipefail
cd "$(dirname "$0")/.."
release=()
if [ "${1:-}" = "--release" ]; then release=(--release); fi
# The binary is where cargo says it built it (CARGO_TARGET_DIR, a profile, a workspace…).
CA=${VALIDATE_CA:-}; [ -n "$CA" ] || CA=$(cargo build "${release[@]}" --bin ca --message-format=json-render-diagnostics \
  | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)
if [ -z "$CA" ] || [ ! -x "$CA" ]; then echo "validate: cargo built no ca binary" >&2; exit 1; fi
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
export CA_DIR="$work/pki"
failures=0
step() { # description, command...
  local what=$1; shift
  if out=$("$@" 2>&1); then echo "PASS  $what"; else echo "FAIL  $what"; echo "$out" | sed 's/^/      /'; failures=$((failures+1)); fi
}
expect_code() { # description, exit code, command... (a check that cannot pass by accident:
  local what=$1 want=$2; shift 2  # the command must run and fail with exactly that code)
  out=$("$@" 2>&1); local got=$?
  if [ "$got" = "$want" ]; then echo "PASS  $what"; else echo "FAIL  $what (exit $got, expected $want)"; echo "$out" | sed 's/^/      /'; failures=$((failures+1)); fi
}

step "ca init creates a CA" bash -c "'$CA' init --subject 'CN=Validation Root CA,O=fileca' && [ -s '$CA_DIR/ca.crt' ]"
step "ca.crt is a self-signed CA certificate OpenSSL accepts" openssl verify -CAfile "$CA_DIR/ca.crt" "$CA_DIR/ca.crt"
step "ca.key is readable by OpenSSL and has mode 600" bash -c "openssl pkey -in '$CA_DIR/ca.key' -noout && [ \$(stat -c %a '$CA_DIR/ca.key') = 600 ]"
step "ca.key matches ca.crt" bash -c "k=\$(openssl pkey -in '$CA_DIR/ca.key' -pubout) && c=\$(openssl x509 -in '$CA_DIR/ca.crt' -noout -pubkey) && [ -n \"\$k\" ] && [ \"\$k\" = \"\$c\" ]"
for kind in rsa:2048 ec; do
  name=${kind%%:*}
  extra=(); [ "$kind" = ec ] && extra=(-pkeyopt ec_paramgen_curve:P-256)
  step "openssl req makes a $kind CSR" openssl req -new -nodes -newkey "$kind" "${extra[@]}" -keyout "$work/$name.key" -subj "/CN=$name.example.test" -out "$work/$name.csr"
  step "ca sign issues a certificate for the $kind CSR" bash -c "'$CA' sign '$work/$name.csr' --san 'DNS:$name.example.test' --out '$work/$name.crt' && openssl x509 -in '$work/$name.crt' -noout"
  step "the $kind certificate verifies against ca.crt" openssl verify -CAfile "$CA_DIR/ca.crt" "$work/$name.crt"
  step "the $kind certificate is a TLS server certificate with its SAN" bash -c "openssl x509 -in '$work/$name.crt' -noout -text | grep -q 'TLS Web Server Authentication' && openssl x509 -in '$work/$name.crt' -noout -ext subjectAltName | grep -q 'DNS:$name.example.test'"
done
openssl req -new -nodes -newkey rsa:2048 -sha1 -keyout "$work/weak.key" -subj "/CN=weak.example.test" -out "$work/weak.csr" 2>/dev/null
before=$(cd "$CA_DIR" && find . -type f -exec sha256sum {} + | sort)
expect_code "a SHA-1 CSR is refused (exit 3)" 3 "$CA" sign "$work/weak.csr"
step "the refused sign left the directory byte-identical" bash -c "[ -n '$before' ] && [ \"\$(cd '$CA_DIR' && find . -type f -exec sha256sum {} + | sort)\" = '$before' ]"
serial=$(openssl x509 -in "$work/rsa.crt" -noout -serial | cut -d= -f2)
step "ca revoke revokes the rsa certificate" bash -c "[ -n '$serial' ] && '$CA' revoke '$serial' --reason keyCompromise && '$CA' list --status revoked | grep -q '$serial'"
step "ca crl publishes a CRL" bash -c "'$CA' crl --days 7 >/dev/null && [ -s '$CA_DIR/ca.crl' ]"
step "the CRL verifies against ca.crt" openssl crl -in "$CA_DIR/ca.crl" -noout -CAfile "$CA_DIR/ca.crt"
step "openssl verify -crl_check rejects the revoked certificate" bash -c "! out=\$(openssl verify -crl_check -CRLfile '$CA_DIR/ca.crl' -CAfile '$CA_DIR/ca.crt' '$work/rsa.crt' 2>&1) && echo \"\$out\" | grep -q 'certificate revoked'"
step "openssl verify -crl_check accepts the other certificate" openssl verify -crl_check -CRLfile "$CA_DIR/ca.crl" -CAfile "$CA_DIR/ca.crt" "$work/ec.crt"
step "ca status reports 1 valid and 1 revoked" bash -c "'$CA' status --json | grep -q '\"revoked\": 1'"
step "ca check finds every invariant intact" bash -c "'$CA' check --json | grep -q '\"ok\": true'"
ec_serial=$(openssl x509 -in "$work/ec.crt" -noout -serial | cut -d= -f2)
step "a certificate on hold is rejected by openssl verify -crl_check" bash -c "[ -n '$ec_serial' ] && '$CA' revoke '$ec_serial' --reason certificateHold --crl >/dev/null && ! openssl verify -crl_check -CRLfile '$CA_DIR/ca.crl' -CAfile '$CA_DIR/ca.crt' '$work/ec.crt' >/dev/null 2>&1"
step "ca unhold --crl releases it and openssl verify -crl_check accepts it again" bash -c "'$CA' unhold '$ec_serial' --crl >/dev/null && openssl verify -crl_check -CRLfile '$CA_DIR/ca.crl' -CAfile '$CA_DIR/ca.crt' '$work/ec.crt'"
expect_code "ca unhold of a keyCompromise revocation is refused (exit 3)" 3 "$CA" unhold "$serial"
step "ca check accepts the released hold" bash -c "'$CA' check --json | grep -q '\"ok\": true'"

# Two tiers: an offline root (the CA above), an issuing CA made pending, signed as a sub-CA
# and installed, a leaf; revocation at both levels seen by openssl verify -crl_check_all.
INT="$work/issuing"
step "init --csr-out makes a pending issuing CA" bash -c "'$CA' --dir '$INT' init --subject 'CN=Validation Issuing CA,O=fileca' --csr-out '$work/int.csr' && '$CA' --dir '$INT' status | grep -q 'pending CA'"
step "the root signs it as a sub-CA (pathlen 0, name constraints)" bash -c "'$CA' sign '$work/int.csr' --profile sub-ca --permit DNS:example.test --out '$work/int.crt' && openssl x509 -in '$work/int.crt' -noout -text | grep -q 'CA:TRUE, pathlen:0' && openssl x509 -in '$work/int.crt' -noout -text | grep -q 'Name Constraints: critical'"
step "install-ca completes the issuing CA with its chain" bash -c "'$CA' --dir '$INT' install-ca '$work/int.crt' --chain '$CA_DIR/ca.crt' && cmp -s '$INT/chain.pem' '$CA_DIR/ca.crt'"
step "the issuing CA issues a leaf that verifies through the chain" bash -c "'$CA' --dir '$INT' issue leaf.example.test --out-dir '$work/out' && openssl verify -x509_strict -CAfile '$work/out/leaf.example.test/ca.crt' -untrusted '$work/out/leaf.example.test/leaf.example.test.fullchain.pem' '$work/out/leaf.example.test/leaf.example.test.crt'"
expect_code "a name outside the constraints is refused (exit 3)" 3 "$CA" --dir "$INT" issue www.example.com --out-dir "$work/out"
step "a second leaf, revoked at the issuing CA" bash -c "'$CA' --dir '$INT' issue gone.example.test --out-dir '$work/out' && '$CA' --dir '$INT' revoke --cert '$work/out/gone.example.test/gone.example.test.crt' --crl && '$CA' crl >/dev/null && '$CA' --dir '$INT' list --status revoked | grep -q gone.example.test && [ -s '$INT/ca.crl' ]"
chain_verify() { openssl verify -x509_strict -crl_check_all -CAfile "$CA_DIR/ca.crt" -untrusted "$INT/ca.crt" -CRLfile "$CA_DIR/ca.crl" -CRLfile "$INT/ca.crl" "$1"; }
chain_rejects() { local out; ! out=$(chain_verify "$1" 2>&1) && echo "$out" | grep -q 'certificate revoked'; }
step "openssl verify -crl_check_all accepts the valid leaf" chain_verify "$work/out/leaf.example.test/leaf.example.test.crt"
step "openssl verify -crl_check_all rejects the leaf revoked below" chain_rejects "$work/out/gone.example.test/gone.example.test.crt"
step "the root revokes the issuing CA" bash -c "'$CA' revoke --cert '$INT/ca.crt' --reason cACompromise --crl >/dev/null && '$CA' list --status revoked | grep -q 'Validation Issuing CA'"
step "openssl verify -crl_check_all then rejects the issuing CA's valid leaf" chain_rejects "$work/out/leaf.example.test/leaf.example.test.crt"
step "ca check is clean in both directories" bash -c "'$CA' check --json | grep -q '\"ok\": true' && '$CA' --dir '$INT' check --json | grep -q '\"ok\": true'"

# The policy: a CA whose certificates carry a CRL Distribution Point, a profile that allows
# only names under one domain, refusals byte-identical, the CRL published in DER.
POL="$work/policy"
printf '[urls]\ncrl = ["http://pki.example.test/pol.crl"]\n\n[profiles.web]\nextended_key_usage = ["serverAuth"]\nmax_days = 90\nallow_dns = ["*.example.test"]\n' > "$work/policy.toml"
step "init --crl-url and policy apply give the CA a policy" bash -c "'$CA' --dir '$POL' init --subject 'CN=Validation Policy CA' --crl-url http://pki.example.test/pol.crl && '$CA' --dir '$POL' policy apply '$work/policy.toml' && '$CA' --dir '$POL' status --json | grep -q '\"web\"'"
step "a certificate under the policy carries its CDP and at most max_days" bash -c "'$CA' --dir '$POL' issue www.example.test --profile web --out-dir '$work/pol' && openssl x509 -in '$work/pol/www.example.test/www.example.test.crt' -noout -text | grep -q 'URI:http://pki.example.test/pol.crl' && openssl x509 -in '$work/pol/www.example.test/www.example.test.crt' -noout -checkend \$((91*86400)) | grep -q 'will expire'"
pbefore=$(cd "$POL" && find . -type f -exec sha256sum {} + | sort)
expect_code "a name the profile does not allow is refused (exit 3)" 3 "$CA" --dir "$POL" issue www.other.test --profile web --out-dir "$work/pol"
expect_code "--days above max_days is refused (exit 3)" 3 "$CA" --dir "$POL" issue api.example.test --profile web --days 365 --out-dir "$work/pol"
step "the refusals left the directory byte-identical" bash -c "[ -n '$pbefore' ] && [ \"\$(cd '$POL' && find . -type f -exec sha256sum {} + | sort)\" = '$pbefore' ]"
step "ca crl --der writes the DER CRL a CDP serves" bash -c "'$CA' --dir '$POL' crl --der --out '$work/pol.crl' && openssl crl -inform DER -in '$work/pol.crl' -noout -CAfile '$POL/ca.crt'"

if [ "$failures" -eq 0 ]; then echo "validate: all steps passed"; else echo "validate: $failures step(s) FAILED"; fi
[ "$failures" -eq 0 ]
