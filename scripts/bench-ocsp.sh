#!/usr/bin/env bash
# OCSP responder benchmark: `ca serve` against `openssl ocsp -index … -port` on the same
# machine in the same run (issue #29). Both answer for the same CA (N issued certificates,
# a few revoked; `ca export-index` writes openssl's index.txt) with the same P-256 delegated
# responder key. Load generator: ApacheBench (`ab`, package apache2-utils), one new
# connection per request, for POST and GET, without and with a nonce, at 1, 16 and 256
# concurrent clients. Writes the table into docs/benchmarks.md between the ocsp-bench
# markers (scripts/bench.sh keeps everything from "## Analysis" on).
# Usage: scripts/bench-ocsp.sh [N]    (default N=100000)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
for tool in ab openssl python3; do
    command -v "$tool" >/dev/null || { echo "$tool is required (ab: apt-get install apache2-utils)"; exit 2; }
done
cargo build --release -q
CA=$PWD/target/release/ca
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PF=$(port); PO=$(port)
D=$work/ca
echo "building a CA with $N certificates…" >&2
"$CA" --dir "$D" -q init --subject "CN=Bench OCSP CA" --ocsp-url "http://127.0.0.1:$PF/ocsp"
python3 -c "import sys; sys.stdout.write('$PWD/testdata/csr/p256-default.pem\\n' * $N)" > "$work/list"
"$CA" --dir "$D" -q sign --from-list "$work/list" > /dev/null
mapfile -t serials < <(cut -d'"' -f4 "$D/index.log" | head -n "$N")
for s in "${serials[@]:0:10}"; do "$CA" --dir "$D" -q revoke "$s" --reason keyCompromise; done
"$CA" --dir "$D" -q ocsp-responder renew
"$CA" --dir "$D" -q export-index > "$work/index.txt"
# Every certificate has the same subject (one CSR signed N times).
echo "unique_subject = no" > "$work/index.txt.attr"
GOOD=${serials[$((N / 2))]}

openssl ocsp -issuer "$D/ca.crt" -serial "0x$GOOD" -no_nonce -reqout "$work/plain.der" > /dev/null
openssl ocsp -issuer "$D/ca.crt" -serial "0x$GOOD" -reqout "$work/nonce.der" > /dev/null
# openssl's responder is started afresh for every row: after a client closes a connection
# without a request (ab at the end of a run), OpenSSL 3.0's responder spins on it.
start_openssl() {
    openssl ocsp -index "$work/index.txt" -port "$PO" -CA "$D/ca.crt" \
        -rsigner "$D/ocsp.crt" -rkey "$D/ocsp.key" -nmin 60 -ignore_err 2> "$work/openssl.log" > /dev/null &
    OPID=$!; pids+=("$OPID")
    for _ in $(seq 100); do
        openssl ocsp -reqin "$work/plain.der" -url "http://127.0.0.1:$PO/ocsp" -noverify > /dev/null 2>&1 && return
        sleep 0.1
    done
}
stop_openssl() { kill "$OPID" 2>/dev/null || true; wait "$OPID" 2>/dev/null || true; }
start_openssl
"$CA" --dir "$D" serve --listen "127.0.0.1:$PF" 2> "$work/serve.log" & pids+=($!); SPID=$!
# Wait with real requests: a bare connect that sends nothing leaves openssl's responder
# spinning on the closed connection.
for p in $PF $PO; do
    for _ in $(seq 100); do
        openssl ocsp -reqin "$work/plain.der" -url "http://127.0.0.1:$p/ocsp" -noverify > /dev/null 2>&1 && break
        sleep 0.1
    done
    out=$(openssl ocsp -reqin "$work/nonce.der" -url "http://127.0.0.1:$p/ocsp" -issuer "$D/ca.crt" -CAfile "$D/ca.crt" -serial "0x$GOOD" 2>&1 || true)
    grep -q "Response verify OK" <<<"$out" && grep -q ": good" <<<"$out" || { echo "port $p: $out" >&2; cat "$work/serve.log" "$work/openssl.log" >&2; exit 1; }
done
b64url() { base64 -w0 "$1" | python3 -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.stdin.read(), safe=""))'; }

rss() { awk '/VmRSS/ {print int($2/1024)}' "/proc/$1/status"; }
rows=()
run() { # server method nonce clients
    local port=$1 method=$2 body=$3 c=$4 n out rps p50 p99 fail
    n=$(( c == 1 ? ${REQ1:-1000} : c == 16 ? ${REQ16:-5000} : ${REQ256:-10000} ))
    if [ "$method" = POST ]; then
        out=$(ab -q -l -n "$n" -c "$c" -s 30 -p "$body" -T application/ocsp-request "http://127.0.0.1:$port/ocsp" 2>&1 || true)
    else
        # openssl's responder takes the request right after the first "/" (RFC 6960 A.1
        # allows any path before it; it does not).
        local path=/ocsp/; [ "$port" = "$PO" ] && path=/
        out=$(ab -q -l -n "$n" -c "$c" -s 30 "http://127.0.0.1:$port$path$(b64url "$body")" 2>&1 || true)
    fi
    rps=$(awk '/Requests per second/ {print $4}' <<<"$out")
    p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
    p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
    # Failed (connection, length) plus non-2xx answers: both count as failures.
    fail=$(awk '/Failed requests/ {f=$3} /Non-2xx responses/ {x=$3} END {print f + x}' <<<"$out")
    echo "${rps:-0} ${p50:--} ${p99:--} ${fail:--}"
}
for method in POST GET; do
    for nonce in no yes; do
        body=$work/plain.der; [ "$nonce" = yes ] && body=$work/nonce.der
        for c in 1 16 256; do
            read -r frps fp50 fp99 ffail < <(run "$PF" "$method" "$body" "$c")
            stop_openssl; start_openssl
            read -r orps op50 op99 ofail < <(run "$PO" "$method" "$body" "$c")
            ratio=$(python3 -c "print(f'{$frps/$orps:.1f}' if $orps else '–')")
            row="| $method | $nonce | $c | $frps | $fp50 / $fp99 | $orps | $op50 / $op99 | ${ratio}× | $ffail / $ofail |"
            echo "$row" >&2
            rows+=("$row")
        done
    done
done
# ca serve with keep-alive (h2load, two threads): what it serves when the load generator
# is not opening a connection per request. openssl's responder has no keep-alive (HTTP/1.0,
# one request per connection), so its ab rows above are its best.
krows=()
if command -v h2load >/dev/null; then
    for nonce in no yes; do
        body=$work/plain.der; [ "$nonce" = yes ] && body=$work/nonce.der
        for mode in "h1 16" "h1 256" "h2c 16"; do
            set -- $mode
            args=(--h1); [ "$1" = h2c ] && args=(-m 10)
            out=$(h2load "${args[@]}" -n 50000 -c "$2" -t 2 -d "$body" -H "content-type: application/ocsp-request" "http://127.0.0.1:$PF/ocsp" 2>&1 || true)
            rps=$(awk '/^finished in/ {print $4}' <<<"$out" | tr -d ,)
            lat=$(awk '/^time for request:/ {print $6 " / " $5}' <<<"$out")
            ok=$(awk '/^status codes:/ {print $3}' <<<"$out")
            row="| $1 | $nonce | $2 | $rps | $lat | $ok |"
            echo "$row" >&2
            krows+=("$row")
        done
    done
fi
frss=$(rss "$SPID"); orss=$(rss "$OPID")

ver=$(openssl version)
table=$(
    echo "<!-- ocsp-bench:start -->"
    echo "## OCSP responder: \`ca serve\` vs \`openssl ocsp -index … -port\`"
    echo
    echo "Measured by \`scripts/bench-ocsp.sh $N\` on $(date -u +%F), $(nproc) cores, $ver: one CA with"
    echo "$N issued certificates (10 revoked), both responders signing with the same P-256 delegated"
    echo "responder key, on loopback, in the same run. Load: ApacheBench (\`ab\`, a new connection per"
    echo "request, HTTP/1.0), 1,000 / 5,000 / 10,000 requests at 1 / 16 / 256 clients, the same request"
    echo "each time. Without a nonce \`ca serve\` answers from its per-snapshot cache (RFC 5019); with"
    echo "a nonce both sign every response. Latency in ms (p50 / p99). ab itself is single-threaded"
    echo "and shares the 2 cores with the servers, so the numbers are a floor for both."
    echo
    echo "| method | nonce | clients | ca serve req/s | ca serve ms p50 / p99 | openssl req/s | openssl ms p50 / p99 | ratio | failed (serve / openssl) |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${rows[@]}"
    if [ "${#krows[@]}" -gt 0 ]; then
        echo
        echo "\`ca serve\` with keep-alive (h2load, 2 threads, 50,000 POST requests; h2c: 10 streams per"
        echo "connection). h2load reports mean and max latency, not percentiles."
        echo
        echo "| protocol | nonce | clients | req/s | latency mean / max | 2xx |"
        echo "|---|---|---:|---:|---:|---:|"
        printf '%s\n' "${krows[@]}"
    fi
    echo
    echo "Resident memory after the run: ca serve ${frss} MiB, openssl ocsp ${orss} MiB."
    echo "<!-- ocsp-bench:end -->"
)
python3 - "$table" <<'EOF'
import sys, re
table = sys.argv[1]
path = "docs/benchmarks.md"
text = open(path).read()
pat = re.compile(r"<!-- ocsp-bench:start -->.*?<!-- ocsp-bench:end -->", re.S)
text = pat.sub(lambda m: table, text) if pat.search(text) else text.rstrip("\n") + "\n\n" + table + "\n"
open(path, "w").write(text)
EOF
echo "$table"
