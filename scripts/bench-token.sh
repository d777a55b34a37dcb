#!/usr/bin/env bash
# CA key on a token (issue #28): one sign and a batch of 1,000 CSRs with the CA key on a
# SoftHSM2 token, against the same with the key in a file, and against `openssl ca` signing
# with the same SoftHSM2 key through the distribution's PKCS#11 engine
# (libengine-pkcs11-openssl). The batch must log in once: opensc's pkcs11-spy counts the
# C_Login calls each tool makes (one run each, not timed). Writes the table into
# docs/benchmarks.md between the token-bench markers.
# Usage: scripts/bench-token.sh [RUNS]    (default 5 runs for a single sign, 3 for a batch)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${1:-5}
MODULE=/usr/lib/softhsm/libsofthsm2.so
SPY=/usr/lib/x86_64-linux-gnu/pkcs11-spy.so
ENGINE=/usr/lib/x86_64-linux-gnu/engines-3/pkcs11.so
for need in "softhsm2-util:softhsm2" "pkcs11-tool:opensc" "openssl:openssl" "python3:python3"; do
    command -v "${need%%:*}" >/dev/null || { echo "${need%%:*} is required (apt-get install ${need#*:})"; exit 2; }
done
[ -f "$MODULE" ] || { echo "$MODULE is required (apt-get install softhsm2)"; exit 2; }
[ -f "$SPY" ] || { echo "$SPY is required (apt-get install opensc)"; exit 2; }
[ -f "$ENGINE" ] || { echo "$ENGINE is required (apt-get install libengine-pkcs11-openssl)"; exit 2; }
cargo build --release -q
exec python3 - "$RUNS" "$MODULE" "$SPY" <<'EOF'
import os, re, resource, statistics, subprocess, sys, tempfile, time

runs, module, spy = int(sys.argv[1]), sys.argv[2], sys.argv[3]
root = os.getcwd()
ca_bin = os.path.join(root, "target/release/ca")
csr = os.path.join(root, "testdata/csr/p256-default.pem")
work = tempfile.mkdtemp(prefix="fileca-bench-token-")
PIN = "246810"
env = dict(os.environ, SOFTHSM2_CONF=os.path.join(work, "softhsm2.conf"))
for var in ["CA_DIR", "CA_PIN_FILE", "CA_PKCS11_MODULE", "CA_PASSPHRASE_FILE"]:
    env.pop(var, None)

def run(args, extra=None, **kw):
    e = dict(env, **(extra or {}))
    out = subprocess.run(args, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)
    if out.returncode != 0:
        sys.exit(f"{args[:4]}…: {out.stderr.decode()[-2000:]}")
    return out

os.makedirs(os.path.join(work, "tokens"))
open(env["SOFTHSM2_CONF"], "w").write(
    f"directories.tokendir = {work}/tokens\nobjectstore.backend = file\nlog.level = ERROR\n")
run(["softhsm2-util", "--init-token", "--free", "--label", "bench", "--pin", PIN, "--so-pin", "13579135"])
run(["pkcs11-tool", "--module", module, "--token-label", "bench", "--login", "--pin", PIN,
     "--keypairgen", "--key-type", "EC:prime256v1", "--label", "bench-key", "--id", "01"])
pin_file = os.path.join(work, "pin")            # fileca: its first line
open(pin_file, "w").write(PIN + "\n")
pin_raw = os.path.join(work, "pin.raw")         # the engine's pin-source: the PIN, no newline
open(pin_raw, "w").write(PIN)
os.chmod(pin_file, 0o600); os.chmod(pin_raw, 0o600)
uri = "pkcs11:token=bench;object=bench-key"

def ca(d, *args):
    return [ca_bin, "--dir", d, "-q", *args]

token_ca, file_ca, spied_ca = (os.path.join(work, n) for n in ("token-ca", "file-ca", "spied-ca"))
run(ca(token_ca, "init", "--subject", "CN=Bench Token CA", "--key", uri, "--module", module, "--pin-file", pin_file))
run(ca(file_ca, "init", "--subject", "CN=Bench File CA"))
# The same key through pkcs11-spy, to count its calls (ca.key records the spy as the module).
run(ca(spied_ca, "init", "--subject", "CN=Bench Spied CA", "--key", uri, "--module", spy, "--pin-file", pin_file),
    {"PKCS11SPY": module, "PKCS11SPY_OUTPUT": "/dev/null"})
# openssl ca: the token CA's certificate and the same token key through the engine.
ossl = os.path.join(work, "openssl-ca")
os.makedirs(os.path.join(ossl, "newcerts"))
open(os.path.join(ossl, "index.txt"), "w").close()
open(os.path.join(ossl, "serial"), "w").write("1000\n")
open(os.path.join(ossl, "openssl.cnf"), "w").write(
    f"[ca]\ndefault_ca = d\n[d]\ndir = {ossl}\ndatabase = $dir/index.txt\nnew_certs_dir = $dir/newcerts\n"
    f"certificate = {token_ca}/ca.crt\nserial = $dir/serial\ndefault_md = sha256\ndefault_days = 90\n"
    "policy = p\nunique_subject = no\n[p]\ncommonName = supplied\n")
engine_key = f"{uri};type=private;pin-source=file:{pin_raw}"

def openssl_ca(infiles, extra=None):
    return (["openssl", "ca", "-batch", "-config", os.path.join(ossl, "openssl.cnf"), "-engine", "pkcs11",
             "-keyform", "engine", "-keyfile", engine_key, "-out", "/dev/null", "-notext", "-infiles", *infiles],
            dict({"PKCS11_MODULE_PATH": module}, **(extra or {})))

batch = 1000
lst = os.path.join(work, "list")
open(lst, "w").write((csr + "\n") * batch)

def timed(args, extra, n):
    """Wall and CPU (user + system of the command) milliseconds of n runs."""
    times, cpu = [], []
    for _ in range(n):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t = time.perf_counter()
        run(args, extra)
        times.append((time.perf_counter() - t) * 1000)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append((r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime) * 1000)
    return times, cpu

rows = []
def row(what, fileca_token, fileca_file, openssl):
    cells = []
    for t, cpu in (fileca_token, fileca_file, openssl):
        cells.append(f"{statistics.median(t):.1f} ({min(t):.1f}–{max(t):.1f}); CPU {statistics.median(cpu):.1f}")
    ratio = statistics.median(openssl[0]) / statistics.median(fileca_token[0])
    rows.append(f"| {what} | " + " | ".join(cells) + f" | {ratio:.2f} |")
    print(rows[-1], file=sys.stderr)

o1 = openssl_ca([csr])
row("sign (one CSR)",
    timed(ca(token_ca, "sign", csr, "--pin-file", pin_file), None, runs),
    timed(ca(file_ca, "sign", csr), None, runs),
    timed(o1[0], o1[1], runs))
ob = openssl_ca([csr] * batch)
nb = max(3, (runs + 1) // 2)
row(f"batch of {batch:,} CSRs",
    timed(ca(token_ca, "sign", "--from-list", lst, "--pin-file", pin_file), None, nb),
    timed(ca(file_ca, "sign", "--from-list", lst), None, nb),
    timed(ob[0], ob[1], nb))

# Logins: one spied batch of each tool.
def calls(args, extra):
    log = os.path.join(work, "spy.log")
    if os.path.exists(log):
        os.remove(log)
    run(args, dict(extra, PKCS11SPY=module, PKCS11SPY_OUTPUT=log))
    text = open(log).read()
    return {name: sum(1 for l in text.splitlines() if name in l.split())
            for name in ("C_Login", "C_OpenSession", "C_SignInit", "C_Sign")}
f_calls = calls(ca(spied_ca, "sign", "--from-list", lst, "--pin-file", pin_file), {})
ob_spy = openssl_ca([csr] * batch, {"PKCS11_MODULE_PATH": spy})
o_calls = calls(ob_spy[0], ob_spy[1])
print(f"fileca: {f_calls}\nopenssl: {o_calls}", file=sys.stderr)

version = subprocess.run(["openssl", "version"], capture_output=True, text=True).stdout.strip()
softhsm = subprocess.run(["softhsm2-util", "--version"], capture_output=True, text=True).stdout.strip()
cores = os.cpu_count()
table = "\n".join([
    "<!-- token-bench:start -->",
    f"Measured by `scripts/bench-token.sh` on {time.strftime('%Y-%m-%d')}, {cores} cores, {version}, "
    f"SoftHSM2 {softhsm}, libengine-pkcs11-openssl; one P-256 key on a SoftHSM2 token for fileca's token CA "
    f"and for `openssl ca` (the same key and CA certificate), a P-256 key in ca.key for the file CA. "
    f"Wall time median (min–max) and median CPU time (user + system), {runs} runs for one sign, {nb} for "
    f"a batch (load average {os.getloadavg()[0]:.1f} at the end: the machine is shared, so wall times "
    "are noisy and CPU times the steadier measure); fileca fsyncs every commit, `openssl ca` does not. "
    "Ratio (wall, median) > 1 means fileca with the token key is faster than openssl with it.",
    "",
    "| operation | fileca, token key ms | fileca, file key ms | openssl ca + engine, token key ms | ratio openssl/fileca (token) |",
    "|---|---:|---:|---:|---:|",
    *rows,
    "",
    f"PKCS#11 calls of one batch of {batch:,} (opensc's pkcs11-spy, not timed): fileca "
    f"C_Login {f_calls['C_Login']}, C_OpenSession {f_calls['C_OpenSession']}, C_SignInit {f_calls['C_SignInit']}; "
    f"openssl ca C_Login {o_calls['C_Login']}, C_OpenSession {o_calls['C_OpenSession']}, C_SignInit {o_calls['C_SignInit']}.",
    "<!-- token-bench:end -->",
])
path = os.path.join(root, "docs/benchmarks.md")
text = open(path).read()
pat = re.compile(r"<!-- token-bench:start -->.*?<!-- token-bench:end -->", re.S)
text = pat.sub(lambda m: table, text) if pat.search(text) else text.rstrip("\n") + "\n\n## CA key on a token (issue #28)\n\n" + table + "\n"
open(path, "w").write(text)
print(table)
subprocess.run(["rm", "-rf", work])
EOF
