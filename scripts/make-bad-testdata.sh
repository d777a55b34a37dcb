#!/usr/bin/env bash
# Regenerates testdata/bad/: the hostile-input corpus (see testdata/bad/README.md).
# Byte-level cases are cut from testdata/csr/p256-default.pem; the signed-but-malformed
# requests come from `cargo run --example make_bad_csrs`.
set -euo pipefail
cd "$(dirname "$0")/.."
bad=testdata/bad
good=testdata/csr/p256-default.pem
head -c 300 "$good" > "$bad/truncated.pem"
sed 's/CERTIFICATE REQUEST/CERTIFICATE/' "$good" > "$bad/wrong-label.pem"
cat "$good" testdata/csr/p384-default.pem > "$bad/two-blocks.pem"
printf '\x30\x82\x01\x00' > "$bad/der-garbage.der"; head -c 256 /dev/zero | tr '\0' '\377' >> "$bad/der-garbage.der"
sed '2s/^..../!!!!/' "$good" > "$bad/bad-base64.pem"
: > "$bad/empty.pem"
printf 'hello\0world\n' > "$bad/nul-bytes.txt"
{ cat "$good"; printf 'junk after the request\n'; } > "$bad/junk-after-end.pem"
cargo run -q --example make_bad_csrs
