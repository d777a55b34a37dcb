"""pyca/cryptography's X.509 path validation (tests/interop.rs, SPEC.md INTEROP-PYCA).

    python pyca_verify.py server|client ROOT.pem LEAF.pem DNS-NAME|- INTERMEDIATE.pem...

Parses every certificate with cryptography and validates LEAF up to ROOT through the
intermediates, with the CA/Browser-style profile pyca implements (name constraints included),
at the leaf's notBefore. Prints "ok" and exits 0, or prints the reason and exits 1.
"""
import sys

from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store


def load(path):
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificate(f.read())


def main():
    kind, root, leaf, name = sys.argv[1:5]
    try:
        root, leaf = load(root), load(leaf)
        inters = [load(p) for p in sys.argv[5:]]
    except Exception as e:  # parse failure is the finding
        print(f"parse: {e}")
        return 1
    builder = PolicyBuilder().store(Store([root])).time(leaf.not_valid_before_utc)
    try:
        if kind == "server":
            builder.build_server_verifier(x509.DNSName(name)).verify(leaf, inters)
        else:
            builder.build_client_verifier().verify(leaf, inters)
    except Exception as e:
        print(f"invalid: {e}")
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
