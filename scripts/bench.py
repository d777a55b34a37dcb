#!/usr/bin/env python3
"""Benchmark fileca against `openssl ca` in the same run (issue: scale and speed).

Builds, for each size, equivalent fileca and `openssl ca` directories (same CA key and
certificate, same number of issued or revoked certificates), then times both tools on the
same operations. Each row: median and min-max wall time over REPS runs (no wrapper process),
peak RSS from one more run under GNU time, and the ratio fileca/openssl. Writes docs/benchmarks.md.

Synthetic state: fileca's is made by fileca itself (one batch sign of N copies of one CSR;
revoked state by appending a revocation line per certificate to index.log and updating
index.json's log_len, which `ca check` accepts); openssl's
index.txt is written directly with the same serials. Both are checked before timing.
Usage: scripts/bench.sh [--quick] [--commit-rows] [--sizes=N,N,...] [--reads]
  --quick: sizes 0 and 10000 only, 3 reps
  --sizes: the sizes to build (the last also gets the all-revoked CRL row)
  --commit-rows: only the batch and dirty-page-cache rows, printed (docs/benchmarks.md untouched)
  --reads: only the read rows (status, list, show, verify, crl) at --sizes (default 100000 and
           1000000) over synthetic state (below); written to the "Reads at scale" section of
           docs/benchmarks.md, the rest of the file untouched

Synthetic state (--reads): one certificate really signed, then N-1 index.log lines that copy
its line with other serials (1 in 100 revoked), a format-2 header and `ca upgrade`, which
chains and signs the log as it would any upgraded directory. The reads measured touch only
index.log (show and verify look up the real certificate, the first line, and read the whole
log for it); `ca check` is not run on it (certs/ holds one file). Issuing 1,000,000 real
certificates would take this machine most of an hour and a million files.
"""
import hashlib, json, os, shutil, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CA = os.path.join(ROOT, "target", "release", "ca")
CSR = os.path.join(ROOT, "testdata", "csr", "p256-default.pem")
QUICK = "--quick" in sys.argv
ONLY_NEW = "--commit-rows" in sys.argv  # only the rows of the commit-v2 issue (batch, dirty cache)
READS = "--reads" in sys.argv
REPS = 3 if QUICK else 5
SIZES = [0, 10_000] if QUICK else [100_000, 1_000_000] if READS else [0, 10_000, 100_000]
for _arg in sys.argv:
    if _arg.startswith("--sizes="):  # e.g. --sizes=0,100000,1000000
        SIZES = [int(x) for x in _arg.split("=", 1)[1].split(",")]

OPENSSL_CNF = """
[ ca ]
default_ca = CA_default
[ CA_default ]
dir = {dir}
database = $dir/index.txt
new_certs_dir = $dir/newcerts
certificate = $dir/ca.crt
private_key = $dir/ca.key
serial = $dir/serial
crlnumber = $dir/crlnumber
default_md = sha256
default_days = 365
default_crl_days = 30
policy = policy_any
unique_subject = no
copy_extensions = none
x509_extensions = server
[ policy_any ]
commonName = supplied
[ server ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


def timed(cmd):
    """Runs cmd and returns its wall time in seconds. Nothing else runs in between, so the
    time is the tool's own (no wrapper process)."""
    with tempfile.TemporaryFile() as errf:  # a file, not a pipe: a full pipe blocks the child
        start = time.perf_counter()
        p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=errf)
        elapsed = time.perf_counter() - start
        if p.returncode != 0 and "-status" not in cmd:
            errf.seek(0)
            raise SystemExit(f"failed: {' '.join(cmd)}\n{errf.read().decode(errors='replace')[-2000:]}")
    return elapsed


def peak_rss(cmd):
    """Runs cmd under GNU time and returns its peak RSS in KiB (`%M`): a child forked by this
    Python process would inherit Python's own high-water mark in wait4's ru_maxrss. `openssl
    ca -status` exits 1 even when it finds the serial, so its exit code is not checked."""
    with tempfile.TemporaryFile() as errf, tempfile.NamedTemporaryFile() as rss:
        p = subprocess.run(["/usr/bin/time", "-o", rss.name, "-f", "%M", *cmd], stdout=subprocess.DEVNULL, stderr=errf)
        if p.returncode != 0 and "-status" not in cmd:
            errf.seek(0)
            raise SystemExit(f"failed: {' '.join(cmd)}\n{errf.read().decode(errors='replace')[-2000:]}")
        return int(open(rss.name).read().strip().splitlines()[-1])


def ca(d, *args):
    return [CA, "--dir", d, "-q", *args]


def osl(d, *args):
    return ["openssl", "ca", "-config", os.path.join(d, "openssl.cnf"), "-batch", *args]


def build(work, n, revoked):
    """A fileca dir and an openssl dir with n issued (or n revoked) certificates."""
    tag = f"{n}{'r' if revoked else ''}"
    f = os.path.join(work, f"fileca-{tag}")
    subprocess.run(ca(f, "init", "--subject", "CN=Bench CA"), check=True)
    if n:
        lst = os.path.join(work, f"list-{tag}.txt")
        with open(lst, "w") as fh:
            fh.write((CSR + "\n") * n)
        subprocess.run(ca(f, "sign", "--from-list", lst), check=True, stdout=subprocess.DEVNULL)
    # index.log: one issued line per certificate; revoked state appends a revocation line
    # for each, writes index.json as the format-2 header an earlier fileca kept (log_len
    # moved on, as `ca revoke` would) and lets `ca upgrade` chain the log and sign it.
    log_path = os.path.join(f, "index.log")
    with open(log_path) as fh:
        issued = [json.loads(line) for line in fh]
    if revoked:
        with open(log_path, "a") as fh:
            for e in issued:
                fh.write(json.dumps({"revoked": e["issued"], "at": e["not_before"], "reason": "keyCompromise"}, separators=(",", ":")) + "\n")
        hdr_path = os.path.join(f, "index.json")
        with open(hdr_path) as fh:
            hdr = json.load(fh)
        # One audit record names every revocation, chained as `ca revoke` chains its own,
        # so `ca check` ties each revocation line to a record (CHECK-HISTORY).
        audit_path = os.path.join(f, "audit.log")
        with open(audit_path, "rb") as fh:
            last = fh.read().rstrip(b"\n").rsplit(b"\n", 1)[-1]
        record = {"time": issued[-1]["not_before"], "operation": "revoke",
                  "serials": [e["issued"] for e in issued], "user": "bench",
                  "generation": hdr["generation"] + 1,
                  "prev": hashlib.sha256(last).hexdigest()}
        line = json.dumps(record, separators=(",", ":")).encode()
        with open(audit_path, "ab") as fh:
            fh.write(line + b"\n")
        hdr["generation"] += 1
        hdr["audit_head"] = hashlib.sha256(line).hexdigest()
        hdr["log_len"] = os.path.getsize(log_path)
        hdr["format"] = 2
        for k in ("log_head", "policy_sha256", "checkpoint"):
            hdr.pop(k, None)
        with open(hdr_path, "w") as fh:
            fh.write(json.dumps(hdr, indent=2) + "\n")
        subprocess.run(ca(f, "upgrade"), check=True)
    subprocess.run(ca(f, "check"), check=True, stdout=subprocess.DEVNULL)

    o = os.path.join(work, f"openssl-{tag}")
    os.makedirs(os.path.join(o, "newcerts"))
    shutil.copy(os.path.join(f, "ca.key"), o)
    shutil.copy(os.path.join(f, "ca.crt"), o)
    with open(os.path.join(o, "openssl.cnf"), "w") as fh:
        fh.write(OPENSSL_CNF.format(dir=o))
    lines = []
    for e in issued:
        exp = e["not_after"][2:4] + e["not_after"][5:7] + e["not_after"][8:10] + e["not_after"][11:13] + e["not_after"][14:16] + e["not_after"][17:19] + "Z"
        rev = (exp.replace(exp[:2], exp[:2]) + ",keyCompromise") if revoked else ""
        lines.append(f"{'R' if revoked else 'V'}\t{exp}\t{rev}\t{e['issued']}\tunknown\t/CN=p256.example.test\n")
    with open(os.path.join(o, "index.txt"), "w") as fh:
        fh.writelines(lines)
    with open(os.path.join(o, "serial"), "w") as fh:
        fh.write(open(os.path.join(f, "serial")).read())
    with open(os.path.join(o, "crlnumber"), "w") as fh:
        fh.write("01\n")
    subprocess.run(osl(o, "-gencrl", "-out", os.path.join(work, "check.crl")), check=True, capture_output=True)
    return f, o


def build_synthetic(work, n):
    """A fileca dir and an openssl dir with the same n certificates, 1 in 100 revoked, made
    without issuing n certificates (see the module comment)."""
    f = os.path.join(work, f"fileca-s{n}")
    subprocess.run(ca(f, "init", "--subject", "CN=Bench CA"), check=True)
    subprocess.run(ca(f, "sign", CSR), check=True, stdout=subprocess.DEVNULL)
    log_path = os.path.join(f, "index.log")
    first = open(log_path).read()
    e = json.loads(first)
    base, width = int(e["issued"], 16), len(e["issued"])
    serials = [e["issued"]] + [format(base + i * 7919, "0%dX" % width) for i in range(1, n)]
    revoked = serials[100::100]
    with open(log_path, "w") as fh:
        fh.write(first)
        for s in serials[1:]:
            e["issued"] = s
            fh.write(json.dumps(e, separators=(",", ":")) + "\n")
        for s in revoked:
            fh.write(json.dumps({"revoked": s, "at": e["not_before"], "reason": "keyCompromise"}, separators=(",", ":")) + "\n")
    hdr_path = os.path.join(f, "index.json")
    with open(hdr_path) as fh:
        hdr = json.load(fh)
    old = {"format": 2, "generation": hdr["generation"], "audit_head": hdr["audit_head"],
           "log_len": os.path.getsize(log_path), "max_serial": serials[-1]}
    with open(hdr_path, "w") as fh:
        fh.write(json.dumps(old, indent=2) + "\n")
    with open(os.path.join(f, "serial"), "w") as fh:
        fh.write(format(base + n * 7919 + 1, "0%dX" % width) + "\n")
    subprocess.run(ca(f, "upgrade"), check=True)
    o = os.path.join(work, f"openssl-s{n}")
    os.makedirs(os.path.join(o, "newcerts"))
    shutil.copy(os.path.join(f, "ca.key"), o)
    shutil.copy(os.path.join(f, "ca.crt"), o)
    with open(os.path.join(o, "openssl.cnf"), "w") as fh:
        fh.write(OPENSSL_CNF.format(dir=o))
    na = e["not_after"]
    exp = na[2:4] + na[5:7] + na[8:10] + na[11:13] + na[14:16] + na[17:19] + "Z"
    rs = set(revoked)
    with open(os.path.join(o, "index.txt"), "w") as fh:
        for s in serials:
            r = s in rs
            fh.write(f"{'R' if r else 'V'}\t{exp}\t{exp + ',keyCompromise' if r else ''}\t{s}\tunknown\t/CN=p256.example.test\n")
    with open(os.path.join(o, "serial"), "w") as fh:
        fh.write(open(os.path.join(f, "serial")).read())
    with open(os.path.join(o, "crlnumber"), "w") as fh:
        fh.write("01\n")
    return f, o


def reads(work, rows):
    """The read rows (VERIFIED-READ) at each size, over synthetic state."""
    for n in SIZES:
        f, o = build_synthetic(work, n)
        first = open(os.path.join(o, "index.txt")).readline().split("\t")[3]
        cert = os.path.join(work, f"show-s{n}.crt")
        with open(cert, "w") as fh:
            subprocess.run(ca(f, "show", first, "--pem"), stdout=fh, check=True)
        measure("status / -status", n, lambda i: ca(f, "status"), lambda i: osl(o, "-status", first), rows)
        measure("list --json / -updatedb", n, lambda i: ca(f, "list", "--json"), lambda i: osl(o, "-updatedb"), rows)
        measure("show SERIAL / -status", n, lambda i: ca(f, "show", first), lambda i: osl(o, "-status", first), rows)
        measure("verify CERT / -status", n, lambda i: ca(f, "verify", cert), lambda i: osl(o, "-status", first), rows)
        measure("crl (1% revoked) / -gencrl", n, lambda i: ca(f, "crl", "--out", os.path.join(work, f"s{n}-{i}.crl"), "--force"), lambda i: osl(o, "-gencrl", "-out", os.path.join(work, f"so{n}-{i}.crl")), rows)


def table_rows(rows):
    """The markdown rows of the measured rows: median (min–max) of each tool, ratio, RSS."""
    out = []
    for label, size, ft, fr, ot, orr in rows:
        fm, om = statistics.median(ft) * 1000, statistics.median(ot) * 1000
        out.append(
            f"| {label} | {size:,} | {fm:.1f} ({min(ft)*1000:.1f}–{max(ft)*1000:.1f}) | {om:.1f} ({min(ot)*1000:.1f}–{max(ot)*1000:.1f}) | {fm/om:.2f} | {fr/1024:.1f} | {orr/1024:.1f} |"
        )
    return out


def write_reads(rows):
    """Writes the rows into docs/benchmarks.md's "Reads at scale" section."""
    ver = subprocess.run(["openssl", "version"], capture_output=True, text=True).stdout.strip()
    out = [
        "## Reads at scale",
        "",
        f"Measured by `scripts/bench.sh --reads` on {time.strftime('%Y-%m-%d')}, {ver}, {REPS} runs per row,",
        "synthetic state (scripts/bench.py: one real certificate, the other lines copies with",
        "other serials, 1 in 100 revoked; both tools over the same certificates).",
        "",
        "| operation | issued | fileca ms | openssl ms | ratio | fileca RSS MiB | openssl RSS MiB |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    out.extend(table_rows(rows))
    section = "\n".join(out) + "\n"
    path = os.path.join(ROOT, "docs", "benchmarks.md")
    doc = open(path).read()
    start = doc.find("\n## Reads at scale\n")
    if start < 0:
        marker = doc.find("\n## Analysis")
        doc = doc[:marker] + "\n" + section + doc[marker:]
    else:
        end = doc.find("\n## ", start + 1)
        doc = doc[:start + 1] + section + (doc[end:] if end >= 0 else "")
    with open(path, "w") as fh:
        fh.write(doc)
    print(section)


DIRTY_MB = 1536
BIG = None


def settle(work):
    """Removes the dirty file, if any, and waits until the page cache has written back."""
    big = os.path.join(work, "big")
    if os.path.exists(big):
        os.remove(big)
    for _ in range(200):
        with open("/proc/meminfo") as fh:
            m = dict(l.split(":", 1) for l in fh)
        if int(m["Dirty"].split()[0]) < 20_000 and int(m["Writeback"].split()[0]) < 1_000:
            return
        time.sleep(0.05)


def dirty(work):
    """Leaves DIRTY_MB of another process's unsynced data in the page cache, as `dd` does."""
    settle(work)
    subprocess.run(["dd", "if=/dev/zero", "of=" + os.path.join(work, "big"), "bs=1M", f"count={DIRTY_MB}"], check=True, capture_output=True)


def measure(label, size, fcmd, ocmd, rows, setup=None, each=None):
    """REPS timed runs of each tool, alternating, then one more run of each under GNU time for
    peak RSS (with its own setup, so a mutating command sees the same kind of state). `each`
    runs again between the two tools of one round (e.g. to dirty the page cache anew)."""
    ft, ot = [], []
    for i in range(REPS + 1):
        if setup:
            setup(i)
        if i < REPS:
            ft.append(timed(fcmd(i)))
            if each:
                each(i)
            ot.append(timed(ocmd(i)))
        else:
            fr, orr = peak_rss(fcmd(i)), peak_rss(ocmd(i))
    rows.append((label, size, ft, fr, ot, orr))
    print(f"{label:<28} {size:>7}  fileca {statistics.median(ft)*1000:8.1f} ms  openssl {statistics.median(ot)*1000:8.1f} ms  RSS {fr/1024:.1f} / {orr/1024:.1f} MiB", flush=True)


def main():
    if not os.path.exists(CA):
        raise SystemExit("build first: cargo build --release")
    work = tempfile.mkdtemp(prefix="fileca-bench-")
    rows = []
    if READS:
        try:
            reads(work, rows)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        write_reads(rows)
        return
    try:
        for n in ([] if ONLY_NEW else SIZES):
            f, o = build(work, n, revoked=False)
            measure("sign (one CSR)", n, lambda i: ca(f, "sign", CSR), lambda i: osl(o, "-in", CSR, "-out", os.devnull, "-notext"), rows)
            certs = {}
            def prep(i):
                out = os.path.join(work, f"rev-{n}-{i}.crt")
                subprocess.run(ca(f, "sign", CSR, "--out", out), check=True)
                oout = os.path.join(work, f"orev-{n}-{i}.crt")
                subprocess.run(osl(o, "-in", CSR, "-out", oout, "-notext"), check=True, capture_output=True)
                certs[i] = (out, oout)
            def serial_of(p):
                return subprocess.run(["openssl", "x509", "-in", p, "-noout", "-serial"], capture_output=True, text=True, check=True).stdout.strip().split("=")[1]
            measure("revoke", n, lambda i: ca(f, "revoke", serial_of(certs[i][0])), lambda i: osl(o, "-revoke", certs[i][1]), rows, setup=prep)
            measure("crl", n, lambda i: ca(f, "crl", "--out", os.path.join(work, f"c{n}-{i}.crl"), "--force"), lambda i: osl(o, "-gencrl", "-out", os.path.join(work, f"o{n}-{i}.crl")), rows)
            first = open(os.path.join(o, "index.txt")).readline().split("\t")[3]
            measure("status (fileca) / -status (openssl)", n, lambda i: ca(f, "status"), lambda i: osl(o, "-status", first), rows)
            measure("list --json / -updatedb", n, lambda i: ca(f, "list", "--json"), lambda i: osl(o, "-updatedb"), rows)
            if n:
                # Answers about one certificate (VERIFIED-READ: each checks the signed state);
                # openssl's nearest is -status, a lookup in index.txt.
                cert = os.path.join(work, f"show-{n}.crt")
                with open(cert, "w") as fh:
                    subprocess.run(ca(f, "show", first, "--pem"), stdout=fh, check=True)
                measure("show SERIAL / -status", n, lambda i: ca(f, "show", first), lambda i: osl(o, "-status", first), rows)
                measure("verify CERT / -status", n, lambda i: ca(f, "verify", cert), lambda i: osl(o, "-status", first), rows)
        # CRL with 100k (or 10k in quick mode) revoked.
        n = SIZES[-1]
        if not ONLY_NEW:
            f, o = build(work, n, revoked=True)
            measure("crl, all revoked", n, lambda i: ca(f, "crl", "--out", os.path.join(work, f"rc{i}.crl"), "--force"), lambda i: osl(o, "-gencrl", "-out", os.path.join(work, f"ro{i}.crl")), rows)
        # Batch of 10,000 CSRs into a fresh CA.
        reqs = os.path.join(work, "reqs")
        os.makedirs(reqs)
        for i in range(10_000):
            shutil.copy(CSR, os.path.join(reqs, f"r{i:05}.pem"))
        files = sorted(os.path.join(reqs, x) for x in os.listdir(reqs))
        lst = os.path.join(work, "batch.txt")
        with open(lst, "w") as fh:
            fh.write("\n".join(files) + "\n")
        batch_dirs = {}
        def fresh(i):
            batch_dirs[i] = build(work, 0, revoked=False) if i not in batch_dirs else batch_dirs[i]
        def fresh_unique(i):
            sub = os.path.join(work, f"batch-{i}")
            os.makedirs(sub)
            batch_dirs[i] = build(sub, 0, revoked=False)
        measure("batch of 10,000 CSRs", 10_000, lambda i: ca(batch_dirs[i][0], "sign", "--from-list", lst), lambda i: osl(batch_dirs[i][1], "-out", os.devnull, "-notext", "-infiles", *files), rows, setup=fresh_unique)
        # The same batch with every certificate also written to --out-dir (one file each, all
        # or nothing); openssl writes its newcerts/ files in both rows.
        def fresh_out(i):
            sub = os.path.join(work, f"batch-out-{i}")
            os.makedirs(sub)
            batch_dirs[i] = build(sub, 0, revoked=False)
        measure("batch of 10,000 CSRs --out-dir", 10_000, lambda i: ca(batch_dirs[i][0], "sign", "--from-list", lst, "--out-dir", os.path.join(work, f"batch-out-{i}", "issued")), lambda i: osl(batch_dirs[i][1], "-out", os.devnull, "-notext", "-infiles", *files), rows, setup=fresh_out)
        # One sign on a clean page cache, then right after another process wrote DIRTY_MB
        # without syncing (dirty, not yet under writeback): fileca must not wait for it.
        cache = os.path.join(work, "cache")
        os.makedirs(cache)
        f, o = build(cache, 0, revoked=False)
        measure("sign, clean page cache", 0, lambda i: ca(f, "sign", CSR), lambda i: osl(o, "-in", CSR, "-out", os.devnull, "-notext"), rows, setup=lambda i: settle(work))
        measure(f"sign after {DIRTY_MB} MB of unsynced writes", 0, lambda i: ca(f, "sign", CSR), lambda i: osl(o, "-in", CSR, "-out", os.devnull, "-notext"), rows, setup=lambda i: dirty(work), each=lambda i: dirty(work))
    finally:
        settle(work)
        shutil.rmtree(work, ignore_errors=True)
    if ONLY_NEW:
        return  # a partial run: printed above, docs/benchmarks.md untouched
    write_report(rows)


def write_report(rows):
    ver = subprocess.run(["openssl", "version"], capture_output=True, text=True).stdout.strip()
    cpu = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    out = [
        "# Benchmarks: fileca vs `openssl ca`",
        "",
        f"Measured by `scripts/bench.sh{' --quick' if QUICK else ''}` on {time.strftime('%Y-%m-%d')}, {cpu} cores, {ver},",
        f"{REPS} runs per row, both tools in the same run on the same disk. fileca fsyncs every commit;",
        "`openssl ca` does not fsync at all. Wall time median (min–max) of runs with no wrapper",
        "process; peak RSS from one more run of each under GNU time. Ratio < 1 means fileca is faster.",
        "",
        "| operation | issued | fileca ms | openssl ms | ratio | fileca RSS MiB | openssl RSS MiB |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    out.extend(table_rows(rows))
    path = os.path.join(ROOT, "docs", "benchmarks.md")
    table = "\n".join(out) + "\n"
    notes = ""
    if os.path.exists(path):
        old = open(path).read()
        marker = "\n## Analysis"
        if marker in old:
            notes = old[old.index(marker):]
    with open(path, "w") as fh:
        fh.write(table + notes)
    print(table)


if __name__ == "__main__":
    main()
