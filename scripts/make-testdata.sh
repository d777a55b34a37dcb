#!/usr/bin/env bash
# Regenerates testdata/csr/: CSR fixtures made with `openssl req`, one per key type, size and
# hash that the CSR gate must accept or refuse. Each file is listed in testdata/README.md.
# Usage: scripts/make-testdata.sh   (needs openssl 3)
set -euo pipefail
cd "$(dirname "$0")/../testdata/csr"
rm -f ./*.pem
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

key() { # name, openssl genpkey arguments...
  local name=$1; shift
  openssl genpkey "$@" -out "$tmp/$name.key" 2>/dev/null
}
req() { # out, key, subject, extra args...
  local out=$1 k=$2 subj=$3; shift 3
  openssl req -new -key "$tmp/$k.key" -subj "$subj" "$@" -out "$out" 2>/dev/null
}

key rsa2048 -algorithm RSA -pkeyopt rsa_keygen_bits:2048
key rsa3072 -algorithm RSA -pkeyopt rsa_keygen_bits:3072
key rsa4096 -algorithm RSA -pkeyopt rsa_keygen_bits:4096
key rsa1024 -algorithm RSA -pkeyopt rsa_keygen_bits:1024
key p256 -algorithm EC -pkeyopt ec_paramgen_curve:P-256
key p384 -algorithm EC -pkeyopt ec_paramgen_curve:P-384
key p521 -algorithm EC -pkeyopt ec_paramgen_curve:P-521
key secp256k1 -algorithm EC -pkeyopt ec_paramgen_curve:secp256k1
key ed25519 -algorithm ED25519
key ed448 -algorithm ED448
openssl dsaparam -out "$tmp/dsa.param" 2048 2>/dev/null
openssl gendsa -out "$tmp/dsa.key" "$tmp/dsa.param" 2>/dev/null

# Accepted: openssl req defaults, and the other SHA-2 hashes.
req rsa2048-default.pem rsa2048 /CN=rsa2048.example.test
req rsa3072-default.pem rsa3072 /CN=rsa3072.example.test
req rsa4096-default.pem rsa4096 /CN=rsa4096.example.test
req rsa2048-sha384.pem rsa2048 /CN=rsa-sha384.example.test -sha384
req rsa2048-sha512.pem rsa2048 /CN=rsa-sha512.example.test -sha512
req rsa2048-pss.pem rsa2048 /CN=rsa-pss.example.test -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32
req p256-default.pem p256 /CN=p256.example.test
req p256-sha384.pem p256 /CN=p256-sha384.example.test -sha384
req p256-sha512.pem p256 /CN=p256-sha512.example.test -sha512
req p384-default.pem p384 /CN=p384.example.test
req p384-sha384.pem p384 /CN=p384-sha384.example.test -sha384
req p384-sha512.pem p384 /CN=p384-sha512.example.test -sha512
req ed25519-default.pem ed25519 /CN=ed25519.example.test
req p256-sans.pem p256 "/CN=multi.example.test/O=Example/C=DE" \
  -addext "subjectAltName=DNS:multi.example.test,DNS:www.multi.example.test,IP:192.0.2.7,IP:2001:db8::7,email:ops@example.test"
req p256-wants-ca.pem p256 /CN=sneaky.example.test \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature"

# Refused.
req rsa2048-sha1.pem rsa2048 /CN=sha1.example.test -sha1
req rsa2048-md5.pem rsa2048 /CN=md5.example.test -md5
req rsa2048-sha224.pem rsa2048 /CN=sha224.example.test -sha224
req p256-sha1.pem p256 /CN=ecdsa-sha1.example.test -sha1
req p256-sha3-256.pem p256 /CN=sha3.example.test -sha3-256
req rsa1024-default.pem rsa1024 /CN=rsa1024.example.test
req p521-default.pem p521 /CN=p521.example.test
req secp256k1-default.pem secp256k1 /CN=k1.example.test
req ed448-default.pem ed448 /CN=ed448.example.test
req dsa-default.pem dsa /CN=dsa.example.test
req p256-bad-dns.pem p256 /CN=bad.example.test -addext "subjectAltName=DNS:bad_name..example"
req p256-idn-utf8.pem p256 /CN=idn.example.test -addext "subjectAltName=DNS:bücher.example"
req p256-empty-subject.pem p256 / 2>/dev/null || openssl req -new -key "$tmp/p256.key" -subj "/" -out p256-empty-subject.pem 2>/dev/null || true
# A valid CSR with one byte of its signature flipped.
openssl req -in p256-default.pem -outform DER -out "$tmp/good.der"
python3 - "$tmp/good.der" p256-bad-signature.pem <<'PY'
import base64, sys
der = bytearray(open(sys.argv[1], 'rb').read())
der[-5] ^= 0x01
b64 = base64.encodebytes(bytes(der)).decode().replace('\n', '')
lines = [b64[i:i+64] for i in range(0, len(b64), 64)]
open(sys.argv[2], 'w').write('-----BEGIN CERTIFICATE REQUEST-----\n' + '\n'.join(lines) + '\n-----END CERTIFICATE REQUEST-----\n')
PY
ls
