"""pyca/cryptography's X.509 path validation (tests/interop.rs, SPEC.md INTEROP-PYCA).

    python pyca_verify.py server|client ROOT.pem INTERMEDIATE.pem LEAF.pem [DNS-NAME]

Parses every certificate with cryptography and validates LEAF up to ROOT through the
intermediate, with the CA/Browser-style profile pyca implements (name constraints included),
at the leaf's notBefore. Prints "ok" and exits 0, or prints the reason and exits 1.
"""
import sys

from cryptography import x509
from cryptography.x509.verification import PolicyBuilder, Store


def load(path):
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificate(f.read())


def main():
    kind, root, inter, leaf = sys.argv[1:5]
    try:
        root, inter, leaf = load(root), load(inter), load(leaf)
    except Exception as e:  # parse failure is the finding
        print(f"parse: {e}")
        return 1
    builder = PolicyBuilder().store(Store([root])).time(leaf.not_valid_before_utc)
    try:
        if kind == "server":
            name = x509.DNSName(sys.argv[5])
            builder.build_server_verifier(name).verify(leaf, [inter])
        else:
            builder.build_client_verifier().verify(leaf, [inter])
    except Exception as e:
        print(f"invalid: {e}")
        return 1
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
