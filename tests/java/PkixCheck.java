// Java's PKIX validation of a certificate path (tests/interop.rs, SPEC.md INTEROP-JAVA):
// `java PkixCheck ROOT.pem [CA.pem...] LEAF.pem` parses every certificate with Java's
// CertificateFactory, then validates LEAF up to ROOT (the trust anchor) through the CAs given
// between them (nearest the root first), with name constraints and without revocation.
// Prints "ok" and exits 0, or prints the reason and exits 1.
// `java PkixCheck -` reads one path per line from stdin (files separated by tabs) and prints
// one result line per path, in order (one JVM for a whole matrix); exits 0.
import java.io.BufferedReader;
import java.io.FileInputStream;
import java.io.InputStreamReader;
import java.security.cert.*;
import java.util.*;

public class PkixCheck {
    public static void main(String[] args) throws Exception {
        if (args.length == 1 && args[0].equals("-")) {
            BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
            String line;
            while ((line = in.readLine()) != null) {
                if (!line.isEmpty()) {
                    System.out.println(check(line.split("\t")).replace('\n', ' '));
                }
            }
            return;
        }
        String result = check(args);
        System.out.println(result);
        System.exit(result.equals("ok") ? 0 : 1);
    }

    static String check(String[] files) {
        try {
            CertificateFactory cf = CertificateFactory.getInstance("X.509");
            List<X509Certificate> certs = new ArrayList<>();
            for (String a : files) {
                try (FileInputStream in = new FileInputStream(a)) {
                    certs.add((X509Certificate) cf.generateCertificate(in));
                } catch (Exception e) {
                    return "parse " + a + ": " + e;
                }
            }
            X509Certificate root = certs.get(0);
            List<X509Certificate> path = new ArrayList<>(certs.subList(1, certs.size()));
            Collections.reverse(path); // leaf first
            if (path.isEmpty()) {
                return "ok";
            }
            // Java applies no trust anchor's nameConstraints ("not supported"): constraints
            // are checked on the CAs between the anchor and the leaf.
            PKIXParameters params = new PKIXParameters(Set.of(new TrustAnchor(root, null)));
            params.setRevocationEnabled(false);
            try {
                CertPathValidator.getInstance("PKIX").validate(cf.generateCertPath(path), params);
                return "ok";
            } catch (CertPathValidatorException e) {
                return "invalid: " + e.getMessage() + " (index " + e.getIndex() + ")";
            }
        } catch (Exception e) {
            // An exception from the validator itself (Java's own bug, e.g. the out-of-bounds
            // IPAddressName comparison) is a finding too, never a pass.
            return "exception: " + e;
        }
    }
}
