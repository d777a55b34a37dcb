// Java's PKIX validation of a certificate path (tests/interop.rs, SPEC.md INTEROP-JAVA):
// `java PkixCheck ROOT.pem [CA.pem...] LEAF.pem` parses every certificate with Java's
// CertificateFactory, then validates LEAF up to ROOT (the trust anchor) through the CAs given
// between them (nearest the root first), with name constraints and without revocation.
// Prints "ok" and exits 0, or prints the reason and exits 1.
import java.io.FileInputStream;
import java.security.cert.*;
import java.util.*;

public class PkixCheck {
    public static void main(String[] args) throws Exception {
        CertificateFactory cf = CertificateFactory.getInstance("X.509");
        List<X509Certificate> certs = new ArrayList<>();
        for (String a : args) {
            try (FileInputStream in = new FileInputStream(a)) {
                certs.add((X509Certificate) cf.generateCertificate(in));
            } catch (Exception e) {
                System.out.println("parse " + a + ": " + e);
                System.exit(1);
            }
        }
        X509Certificate root = certs.get(0);
        List<X509Certificate> path = new ArrayList<>(certs.subList(1, certs.size()));
        Collections.reverse(path); // leaf first
        if (path.isEmpty()) {
            System.out.println("ok");
            return;
        }
        // Java applies no trust anchor's nameConstraints ("not supported"): constraints are
        // checked on the CAs between the anchor and the leaf.
        PKIXParameters params = new PKIXParameters(Set.of(new TrustAnchor(root, null)));
        params.setRevocationEnabled(false);
        try {
            CertPathValidator.getInstance("PKIX").validate(cf.generateCertPath(path), params);
            System.out.println("ok");
        } catch (CertPathValidatorException e) {
            System.out.println("invalid: " + e.getMessage() + " (index " + e.getIndex() + ")");
            System.exit(1);
        }
    }
}
