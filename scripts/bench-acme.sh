#!/usr/bin/env bash
# ACME benchmark (issue #30): orders completed per second by lego in a loop against
# `ca serve --acme` (http-01, lego's own `--http.port` server), and the wall time of one
# certbot issuance end to end (standalone http-01, a fresh account each time).
#
# Everything on loopback: names resolve to 127.0.0.1 through a tiny DNS stub this script
# starts (python3, the same answer as tests/acme.rs's Dns) given to serve with
# `--acme-resolver`; lego and certbot trust the root through LEGO_CA_CERTIFICATES and
# REQUESTS_CA_BUNDLE. The CA is a fresh root with the `acme` profile of tests/acme.rs's
# lab_ca (`*.lab.test`, 7 days), no passphrase; the release binary. Each lego run is one
# process: account lookup (registered once before the loop), newOrder, authorization,
# challenge, the server's http-01 fetch, finalize, certificate download.
# Writes the table into docs/benchmarks.md between the acme-bench markers.
# Usage: scripts/bench-acme.sh [ORDERS] [CERTBOT_RUNS]    (default 50 and 3)
set -euo pipefail
cd "$(dirname "$0")/.."
ORDERS=${1:-50}
CERTBOT_RUNS=${2:-3}
for tool in lego certbot python3 openssl curl; do
    command -v "$tool" >/dev/null || { echo "$tool is required (apt-get install $tool)"; exit 2; }
done
# CA_BIN=path: another build of `ca` (a quick try of the script with the debug one).
if [ -n "${CA_BIN:-}" ]; then
    CA=$(realpath "$CA_BIN")
    BUILD="\`$CA_BIN\`"
else
    cargo build --release -q
    CA=$PWD/target/release/ca
    BUILD="release build"
fi
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
D=$work/ca
"$CA" --dir "$D" -q init --subject "CN=Bench ACME Root"
{
    "$CA" --dir "$D" policy show
    printf '\n[profiles.acme]\nkey_usage = ["digitalSignature", "keyEncipherment"]\n'
    printf 'extended_key_usage = ["serverAuth"]\ndefault_days = 7\nmax_days = 90\n'
    printf 'allow_dns = ["*.lab.test"]\nallow_ip = ["127.0.0.0/8"]\n'
} > "$work/policy.toml"
"$CA" --dir "$D" -q policy apply "$work/policy.toml"

# The DNS stub: every question answered with one A record, 127.0.0.1 (stops with the script,
# and by itself after 30 minutes).
PD=$(port)
python3 - "$PD" <<'EOF' &
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.settimeout(1)
end = time.time() + 1800
while time.time() < end:
    try:
        q, a = s.recvfrom(512)
    except socket.timeout:
        continue
    if len(q) < 17:
        continue
    r = bytearray(q)
    r[2], r[3] = 0x81, 0x80
    r[6:8] = (1).to_bytes(2, "big")
    r[8:12] = bytes(4)
    r += bytes([0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 127, 0, 0, 1])
    s.sendto(bytes(r), a)
EOF
pids+=($!)

PA=$(port); PL=$(port); PH=$(port)
"$CA" --dir "$D" serve --exit-after 1800 --listen "127.0.0.1:$PL" --acme --acme-listen "127.0.0.1:$PA" \
    --acme-http-port "$PH" --acme-resolver "127.0.0.1:$PD" < /dev/null > /dev/null 2> "$work/serve.log" &
SERVE=$!
pids+=($SERVE)
cpu_ms() { # CPU time (user + system) of process $1 so far, in ms
    python3 -c "import os; f=open('/proc/$1/stat').read().rsplit(')',1)[1].split(); print((int(f[11])+int(f[12]))*1000/os.sysconf('SC_CLK_TCK'))"
}
for _ in $(seq 600); do grep -q "ACME directory at" "$work/serve.log" && break; sleep 0.05; done
grep -q "ACME directory at" "$work/serve.log" || { cat "$work/serve.log"; exit 1; }
DIR_URL="https://localhost:$PA/acme/directory"

lego_run() { # name
    LEGO_CA_CERTIFICATES="$D/ca.crt" timeout 120 lego --server "$DIR_URL" --email ops@lab.test \
        --accept-tos --path "$work/lego" --domains "$1" --http --http.port "127.0.0.1:$PH" run \
        > "$work/lego.log" 2>&1 || { cat "$work/lego.log"; exit 1; }
}
lego_run warmup.lab.test # registers the account
a0=$(wc -l < "$D/audit.log")
c0=$(cpu_ms "$SERVE")
t0=$(now)
TIMEFORMAT='%U %S'
{ time (for i in $(seq "$ORDERS"); do lego_run "b$i.lab.test"; done) ; } 2> "$work/lego.cpu"
t1=$(now)
lego_cpu=$(python3 -c "u, s = open('$work/lego.cpu').read().split()[-2:]; print(f'{(float(u) + float(s)) * 1000 / $ORDERS:.1f}')")
a1=$(wc -l < "$D/audit.log")
c1=$(cpu_ms "$SERVE")
serve_cpu=$(python3 -c "print(f'{($c1 - $c0) / $ORDERS:.1f}')")
commits=$(python3 -c "print(f'{($a1 - $a0) / $ORDERS:.1f}')")
issued=$(grep -c '"profile":"acme"' "$D/index.log" || true)
[ "$issued" -ge $((ORDERS + 1)) ] || { echo "only $issued acme certificates in index.log"; exit 1; }
openssl verify -CAfile "$D/ca.crt" "$work/lego/certificates/b$ORDERS.lab.test.crt" > /dev/null
lego_total=$(python3 -c "print(f'{$t1 - $t0:.2f}')")
lego_rate=$(python3 -c "print(f'{$ORDERS / ($t1 - $t0):.2f}')")
lego_ms=$(python3 -c "print(f'{($t1 - $t0) * 1000 / $ORDERS:.0f}')")

# One lego process doing nothing but asking the directory: the client's own start-up share.
t0=$(now)
for _ in $(seq 10); do
    curl -s --cacert "$D/ca.crt" "$DIR_URL" > /dev/null
done
t1=$(now)
curl_ms=$(python3 -c "print(f'{($t1 - $t0) * 100:.0f}')")

t0=$(now)
certbot --version > /dev/null 2>&1
t1=$(now)
certbot_start=$(python3 -c "print(f'{$t1 - $t0:.2f}')")
t0=$(now)
lego --version > /dev/null
t1=$(now)
lego_start=$(python3 -c "print(f'{($t1 - $t0) * 1000:.0f}')")

certbot_times=()
for i in $(seq "$CERTBOT_RUNS"); do
    C=$work/certbot$i
    t0=$(now)
    REQUESTS_CA_BUNDLE="$D/ca.crt" timeout 120 certbot certonly --standalone --non-interactive \
        --agree-tos -m ops@lab.test -d "cb$i.lab.test" --http-01-address 127.0.0.1 \
        --http-01-port "$PH" --server "$DIR_URL" --config-dir "$C/conf" --work-dir "$C/work" \
        --logs-dir "$C/logs" > "$work/certbot.log" 2>&1 || { cat "$work/certbot.log"; exit 1; }
    t1=$(now)
    openssl verify -CAfile "$D/ca.crt" -untrusted "$C/conf/live/cb$i.lab.test/chain.pem" \
        "$C/conf/live/cb$i.lab.test/cert.pem" > /dev/null
    certbot_times+=("$(python3 -c "print(f'{$t1 - $t0:.2f}')")")
done
certbot_list=$(IFS=' '; echo "${certbot_times[*]}")
certbot_median=$(printf '%s\n' "${certbot_times[@]}" | sort -n | sed -n "$(((CERTBOT_RUNS + 1) / 2))p")
"$CA" --dir "$D" check > /dev/null

table=$(
    echo "<!-- acme-bench:start -->"
    echo "## ACME: \`ca serve --acme\` with lego and certbot (issue #30)"
    echo
    echo "Measured by \`scripts/bench-acme.sh $ORDERS $CERTBOT_RUNS\` on $(date -u +%F), $(nproc) cores, $BUILD,"
    echo "$(lego --version), $(certbot --version 2>&1); everything on loopback, http-01, names resolved"
    echo "through a DNS stub given with \`--acme-resolver\`, a root CA without passphrase, no CPU pinning."
    echo
    echo "| what | result |"
    echo "|---|---:|"
    echo "| lego \`run\` in a loop, one process per order (account registered before) | $lego_rate orders/s ($ORDERS orders in $lego_total s, $lego_ms ms each) |"
    echo "| certbot \`certonly --standalone\`, new account each time, end to end | median $certbot_median s (runs: $certbot_list s) |"
    echo "| CPU time of \`ca serve\` per lego order (user + system, /proc) | $serve_cpu ms |"
    echo "| CPU time of lego (and its loop) per order (user + system) | $lego_cpu ms |"
    echo "| journaled commits (audit.log records) per lego order | $commits |"
    echo "| \`certbot --version\` (its interpreter start-up alone) | $certbot_start s |"
    echo "| \`lego --version\` (its start-up alone) | $lego_start ms |"
    echo "| \`curl\` of the directory (one TLS connection, for scale) | $curl_ms ms |"
    echo "<!-- acme-bench:end -->"
)
python3 - "$table" <<'EOF'
import sys, re
table = sys.argv[1]
path = "docs/benchmarks.md"
text = open(path).read()
pat = re.compile(r"<!-- acme-bench:start -->.*?<!-- acme-bench:end -->", re.S)
text = pat.sub(lambda m: table, text) if pat.search(text) else text.rstrip("\n") + "\n\n" + table + "\n"
open(path, "w").write(text)
EOF
echo "$table"
