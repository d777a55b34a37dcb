"""pyca/cryptography's X.509 path validation (tests/interop.rs, SPEC.md INTEROP-PYCA).

    python pyca_verify.py server|client ROOT.pem LEAF.pem DNS-NAME|- INTERMEDIATE.pem...
    python pyca_verify.py -

Parses every certificate with cryptography and validates LEAF up to ROOT through the
intermediates, with the CA/Browser-style profile pyca implements (name constraints included),
at the leaf's notBefore. Prints "ok" and exits 0, or prints the reason and exits 1. With `-`,
reads one such argument list per line from stdin (tab-separated) and prints one result line
per line, in order; exits 0.
"""
import sys

from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store


def load(path):
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificate(f.read())


def check(args):
    kind, root, leaf, name = args[:4]
    try:
        root, leaf = load(root), load(leaf)
        inters = [load(p) for p in args[4:]]
    except Exception as e:  # parse failure is the finding
        return f"parse: {e}"
    builder = PolicyBuilder().store(Store([root])).time(leaf.not_valid_before_utc)
    try:
        if kind == "server":
            builder.build_server_verifier(x509.DNSName(name)).verify(leaf, inters)
        else:
            builder.build_client_verifier().verify(leaf, inters)
    except Exception as e:
        return f"invalid: {e}".replace("\n", " ")
    return "ok"


def main():
    if sys.argv[1:] == ["-"]:
        for line in sys.stdin:
            line = line.rstrip("\n")
            if line:
                print(check(line.split("\t")), flush=True)
        return 0
    result = check(sys.argv[1:])
    print(result)
    return 0 if result == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
