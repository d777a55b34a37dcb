#!/usr/bin/env bash
# OCSP responder benchmark: `ca serve` against `openssl ocsp -index … -port` on the same
# machine in the same run (issue #29). Both answer for the same CA (N issued certificates,
# a few revoked; `ca export-index` writes openssl's index.txt) with the same P-256 delegated
# responder key.
#
# Load generator: wrk (Debian package wrk; keep-alive, percentiles with --latency, a Lua
# script for the POST body), for POST and GET, without and with a nonce, at 1, 16 and 256
# connections, DURATION seconds per row. The server runs on CPU 0 and wrk (one thread) on
# CPU 1 (taskset), so neither takes cycles from the other. Three columns per row:
#   - ca serve, keep-alive (what wrk, browsers and OCSP clients that reuse connections do);
#   - ca serve, `Connection: close` (a connection per request, as openssl's responder forces);
#   - openssl ocsp, which answers HTTP/1.0 and closes every connection, whatever the client
#     asks (OpenSSL 3.0), so its column is a connection per request too.
# Then the memory rows: `ca serve` and `openssl ocsp` resident memory with 10,000, 100,000 and
# 1,000,000 certificates (synthetic state from scripts/bench.py; see its module comment).
# Writes the tables into docs/benchmarks.md between the ocsp-bench markers.
# Usage: scripts/bench-ocsp.sh [N] [--no-memory]    (default N=100000)
set -euo pipefail
cd "$(dirname "$0")/.."
N=100000
MEMORY=yes
for a in "$@"; do
    case $a in
        --no-memory) MEMORY=no ;;
        *) N=$a ;;
    esac
done
DURATION=${DURATION:-5}
MEM_SIZES=${MEM_SIZES:-10000 100000 1000000}
for tool in wrk taskset openssl python3; do
    command -v "$tool" >/dev/null || {
        echo "$tool is required (wrk: apt-get install wrk; taskset: util-linux)"
        exit 2
    }
done
[ "$(nproc)" -ge 2 ] || { echo "needs 2 CPUs (server on CPU 0, wrk on CPU 1)"; exit 2; }
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
b64url() { base64 -w0 "$1" | python3 -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.stdin.read(), safe=""))'; }
# wrk scripts. Each replaces wrk's resolve, which opens and closes a connection to probe the
# address: OpenSSL 3.0's responder then spins on that empty connection for good (as after any
# client that closes a connection without a request), and answers nothing more.
noprobe='wrk.resolve = function(host, service) wrk.addrs = wrk.lookup(host, service) end'
echo "$noprobe" > "$work/get.lua"
for body in plain nonce; do
    cat > "$work/$body.lua" <<EOF
$noprobe
local f = assert(io.open("$work/$body.der", "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/ocsp-request"
EOF
done

ready() { # port: answers a real request (a bare connect leaves openssl's responder spinning)
    for _ in $(seq 200); do
        openssl ocsp -reqin "$work/plain.der" -url "http://127.0.0.1:$1/ocsp" -noverify > /dev/null 2>&1 && return
        sleep 0.1
    done
    echo "port $1 never answered" >&2
    exit 1
}
# openssl's responder is started afresh for every row: after a client closes a connection
# without a request (wrk at the end of a run), OpenSSL 3.0's responder spins on it.
start_openssl() {
    taskset -c 0 openssl ocsp -index "$work/index.txt" -port "$PO" -CA "$D/ca.crt" \
        -rsigner "$D/ocsp.crt" -rkey "$D/ocsp.key" -nmin 60 -ignore_err 2> "$work/openssl.log" > /dev/null &
    OPID=$!; pids+=("$OPID")
    ready "$PO"
}
stop_openssl() { kill "$OPID" 2>/dev/null || true; wait "$OPID" 2>/dev/null || true; }
taskset -c 0 "$CA" --dir "$D" serve --listen "127.0.0.1:$PF" 2> "$work/serve.log" & pids+=($!); SPID=$!
ready "$PF"
start_openssl
for p in $PF $PO; do
    out=$(openssl ocsp -reqin "$work/nonce.der" -url "http://127.0.0.1:$p/ocsp" -issuer "$D/ca.crt" -CAfile "$D/ca.crt" -serial "0x$GOOD" 2>&1 || true)
    grep -q "Response verify OK" <<<"$out" && grep -q ": good" <<<"$out" || { echo "port $p: $out" >&2; cat "$work/serve.log" "$work/openssl.log" >&2; exit 1; }
done

ms() { # a wrk latency (e.g. 812.00us, 1.23ms, 2.01s) in ms
    python3 -c "
import sys; v = sys.argv[1]
for u, f in (('us', 1e-3), ('ms', 1.0), ('s', 1e3)):
    if v.endswith(u): print(f'{float(v[:-len(u)]) * f:.2f}'); break
else: print('-')" "${1:--}"
}
run() { # port method body close clients -> "req/s p50 p99 failures"
    local port=$1 method=$2 body=$3 close=$4 c=$5 out args=()
    [ "$close" = yes ] && args+=(-H "Connection: close")
    if [ "$method" = POST ]; then
        out=$(taskset -c 1 wrk -t1 -c "$c" -d "${DURATION}s" --latency --timeout 10s "${args[@]}" \
            -s "$work/$body.lua" "http://127.0.0.1:$port/ocsp" 2>&1 || true)
    else
        # openssl's responder takes the request right after the first "/" (RFC 6960 A.1
        # allows any path before it; it does not).
        local path=/ocsp/; [ "$port" = "$PO" ] && path=/
        out=$(taskset -c 1 wrk -t1 -c "$c" -d "${DURATION}s" --latency --timeout 10s "${args[@]}" \
            -s "$work/get.lua" "http://127.0.0.1:$port$path$(b64url "$work/$body.der")" 2>&1 || true)
    fi
    local rps p50 p99 fail
    rps=$(awk '/^Requests\/sec:/ {printf "%d", $2}' <<<"$out")
    p50=$(ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")
    p99=$(ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")
    # Non-2xx answers plus connect/read/write errors and timeouts.
    fail=$(awk '/Non-2xx/ {x=$NF} /Socket errors/ {gsub(",", ""); e=$4+$6+$8+$10} END {print x + e}' <<<"$out")
    echo "${rps:-0} $p50 $p99 ${fail:-0}"
}
rows=()
for method in POST GET; do
    for nonce in no yes; do
        body=plain; [ "$nonce" = yes ] && body=nonce
        for c in 1 16 256; do
            read -r krps kp50 kp99 kfail < <(run "$PF" "$method" "$body" no "$c")
            read -r crps cp50 cp99 cfail < <(run "$PF" "$method" "$body" yes "$c")
            stop_openssl; start_openssl
            read -r orps op50 op99 ofail < <(run "$PO" "$method" "$body" no "$c")
            ratio() { python3 -c "print(f'{$1/$orps:.1f}×' if $orps else '–')"; }
            row="| $method | $nonce | $c | $krps | $kp50 / $kp99 | $crps | $cp50 / $cp99 | $orps | $op50 / $op99 | $(ratio "$krps") | $(ratio "$crps") | $kfail / $cfail / $ofail |"
            echo "$row" >&2
            rows+=("$row")
        done
    done
done
frss=$(awk '/VmRSS/ {print int($2/1024)}' "/proc/$SPID/status")
stop_openssl
kill "$SPID"; wait "$SPID" 2>/dev/null || true

# Memory: resident set size of each responder over synthetic CAs of growing size, after
# loading and answering a few requests (VmRSS), and its peak (VmHWM, the load included).
mrows=()
if [ "$MEMORY" = yes ]; then
    for m in $MEM_SIZES; do
        echo "memory: building a synthetic CA with $m certificates…" >&2
        fd=$work/fileca-s$m; od=$work/openssl-s$m
        python3 -c "
import importlib.util, sys
spec = importlib.util.spec_from_file_location('bench', 'scripts/bench.py')
bench = importlib.util.module_from_spec(spec); sys.argv = ['bench.py']; spec.loader.exec_module(bench)
bench.build_synthetic('$work', $m)" > /dev/null
        "$CA" --dir "$fd" -q policy show | sed "s|^ocsp = \[\]|ocsp = [\"http://127.0.0.1:$PF/ocsp\"]|" > "$work/m.toml"
        "$CA" --dir "$fd" -q policy apply "$work/m.toml"
        echo "unique_subject = no" > "$od/index.txt.attr"
        "$CA" --dir "$fd" -q ocsp-responder renew
        ms_serial=$(head -c 200 "$fd/index.log" | cut -d'"' -f4)
        openssl ocsp -issuer "$fd/ca.crt" -serial "0x$ms_serial" -no_nonce -reqout "$work/m.der" > /dev/null
        cp "$work/m.der" "$work/plain.der"
        taskset -c 0 "$CA" serve --listen "127.0.0.1:$PF" "$fd" 2> "$work/serve-m.log" & MPID=$!; pids+=("$MPID")
        ready "$PF"
        taskset -c 0 openssl ocsp -index "$od/index.txt" -port "$PO" -CA "$fd/ca.crt" \
            -rsigner "$fd/ocsp.crt" -rkey "$fd/ocsp.key" -nmin 60 -ignore_err 2> /dev/null > /dev/null & OPID=$!; pids+=("$OPID")
        ready "$PO"
        for p in $PF $PO; do
            for _ in $(seq 20); do openssl ocsp -reqin "$work/m.der" -url "http://127.0.0.1:$p/ocsp" -noverify > /dev/null 2>&1; done
        done
        kb() { awk -v k="$2" '$1 == k":" {print int($2/1024)}' "/proc/$1/status"; }
        log_mb=$(( $(stat -c %s "$fd/index.log") / 1048576 ))
        row="| $m | $log_mb | $(kb "$MPID" VmRSS) | $(kb "$MPID" VmHWM) | $(kb "$OPID" VmRSS) | $(kb "$OPID" VmHWM) |"
        echo "$row" >&2
        mrows+=("$row")
        kill "$MPID" "$OPID"; wait "$MPID" "$OPID" 2>/dev/null || true
        rm -rf "$fd" "$od"
    done
fi

ver=$(openssl version)
table=$(
    echo "<!-- ocsp-bench:start -->"
    echo "## OCSP responder: \`ca serve\` vs \`openssl ocsp -index … -port\`"
    echo
    echo "Measured by \`scripts/bench-ocsp.sh $N\` on $(date -u +%F), $(nproc) cores, $ver: one CA with"
    echo "$N issued certificates (10 revoked), both responders signing with the same P-256 delegated"
    echo "responder key, on loopback, in the same run. Load: wrk 4 (one thread, ${DURATION} s per cell), the"
    echo "same request each time; each server pinned to CPU 0 and wrk to CPU 1 (\`taskset\`). Without a"
    echo "nonce \`ca serve\` answers from its per-snapshot cache (RFC 5019); with a nonce both sign every"
    echo "response. **ka**: \`ca serve\` with keep-alive; **close**: \`ca serve\` with \`Connection: close\`,"
    echo "a connection per request; **openssl**: OpenSSL's responder answers HTTP/1.0 and closes every"
    echo "connection even when asked to keep it alive, so wrk reconnects for each request. Latency in ms"
    echo "(p50 / p99, wrk's, from the request written to the response read: connection setup is in the"
    echo "throughput, not in the latency). Ratios are against openssl."
    echo
    echo "| method | nonce | clients | ka req/s | ka ms p50 / p99 | close req/s | close ms p50 / p99 | openssl req/s | openssl ms p50 / p99 | ka ÷ openssl | close ÷ openssl | errors (ka / close / openssl) |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${rows[@]}"
    echo
    echo "Resident memory of \`ca serve\` after the run above: ${frss} MiB."
    if [ "${#mrows[@]}" -gt 0 ]; then
        echo
        echo "Memory in the number of certificates (synthetic state as in \"Reads at scale\", 1 in 100"
        echo "revoked; each responder loaded, then 20 requests answered): resident (VmRSS) and peak (VmHWM)"
        echo "in MiB."
        echo
        echo "| certificates | index.log MiB | ca serve RSS | ca serve peak | openssl RSS | openssl peak |"
        echo "|---:|---:|---:|---:|---:|---:|"
        printf '%s\n' "${mrows[@]}"
    fi
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
