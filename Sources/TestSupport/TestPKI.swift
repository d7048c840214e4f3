public import Foundation

/// A throw-away PKI made with the openssl CLI in a temporary directory: a CA, certificates it issues,
/// and self-signed certificates. Nothing of it is checked in.
public final class TestPKI: @unchecked Sendable {
    public let directory: URL

    public init(name: String = "pki") throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("fapid-\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    deinit {
        try? FileManager.default.removeItem(at: directory)
    }

    public func path(_ file: String) -> String { directory.appendingPathComponent(file).path }

    public func read(_ file: String) throws -> String { try String(contentsOfFile: path(file), encoding: .utf8) }

    @discardableResult
    public func openssl(_ arguments: [String]) throws -> String {
        try Shell.run(["openssl"] + arguments, directory: directory)
    }

    /// A CA `ca.pem`/`ca.key` with `openssl ca` state (index, serial, CRL number) and a config `ca.cnf`
    /// whose `[leaf]` section carries `leafExtensions` (status pointers, usages), for issuing with
    /// `issueWithCA`, revoking and making CRLs.
    public func makeStatefulCA(leafExtensions: [String]) throws {
        try FileManager.default.createDirectory(atPath: path("issued"), withIntermediateDirectories: true)
        try "".write(toFile: path("index.txt"), atomically: true, encoding: .utf8)
        try "1000\n".write(toFile: path("serial"), atomically: true, encoding: .utf8)
        try "1000\n".write(toFile: path("crlnumber"), atomically: true, encoding: .utf8)
        let config = """
            [ca]
            default_ca = t
            [t]
            dir = \(directory.path)
            database = $dir/index.txt
            new_certs_dir = $dir/issued
            serial = $dir/serial
            crlnumber = $dir/crlnumber
            certificate = $dir/ca.pem
            private_key = $dir/ca.key
            default_md = sha256
            default_days = 30
            default_crl_days = 1
            policy = p
            [p]
            commonName = supplied
            [leaf]
            \(leafExtensions.joined(separator: "\n"))

            """
        try config.write(toFile: path("ca.cnf"), atomically: true, encoding: .utf8)
        try makeCA("ca")
    }

    /// `NAME.pem` and `NAME.key` for `/CN=NAME`, issued by `makeStatefulCA`'s CA with its `[leaf]` extensions.
    public func issueWithCA(_ name: String) throws {
        try openssl(["req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(name).key", "-out", "\(name).csr", "-subj", "/CN=\(name)"])
        try openssl(["ca", "-batch", "-config", "ca.cnf", "-extensions", "leaf", "-in", "\(name).csr", "-out", "\(name).pem", "-notext"])
    }

    /// The CA's current CRL, DER, in `ca.crl`.
    public func makeCRL() throws {
        try openssl(["ca", "-config", "ca.cnf", "-gencrl", "-out", "ca.crl.pem"])
        try openssl(["crl", "-in", "ca.crl.pem", "-outform", "DER", "-out", "ca.crl"])
    }

    /// A self-signed CA certificate and key: `NAME.pem`, `NAME.key`, valid for `days`.
    public func makeCA(_ name: String, subject: String? = nil, days: Int = 30) throws {
        try openssl([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(name).key", "-out", "\(name).pem", "-days", String(days),
            "-subj", subject ?? "/O=fapid tests/CN=\(name)", "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        ])
    }

    /// A leaf certificate `NAME.pem` with key `NAME.key`, issued by the CA `issuer`.
    /// `key` is an openssl `-newkey` value (`rsa:2048`, `ec -pkeyopt ec_paramgen_curve:P-256` is spelled `ec`).
    public func issue(_ name: String, subject: String, by issuer: String, key: String = "rsa:2048", days: Int = 30, extensions: [String] = []) throws {
        try newKey(name, key)
        try openssl(["req", "-new", "-key", "\(name).key", "-out", "\(name).csr", "-subj", subject])
        var extfile = "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth,serverAuth\n"
        extfile += extensions.joined(separator: "\n") + "\n"
        try extfile.write(toFile: path("\(name).ext"), atomically: true, encoding: .utf8)
        try openssl([
            "x509", "-req", "-in", "\(name).csr", "-CA", "\(issuer).pem", "-CAkey", "\(issuer).key", "-CAcreateserial",
            "-out", "\(name).pem", "-days", String(days), "-sha256", "-extfile", "\(name).ext",
        ])
    }

    /// A self-signed leaf certificate `NAME.pem` with key `NAME.key`, valid for `days`.
    public func selfSigned(_ name: String, subject: String, key: String = "rsa:2048", days: Int = 30) throws {
        try newKey(name, key)
        try openssl(["req", "-x509", "-new", "-key", "\(name).key", "-out", "\(name).pem", "-days", String(days), "-subj", subject])
    }

    private func newKey(_ name: String, _ key: String) throws {
        switch key {
        case "ec": try openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", "\(name).key"])
        case "ed25519": try openssl(["genpkey", "-algorithm", "ED25519", "-out", "\(name).key"])
        default:
            let bits = key.split(separator: ":").last.map(String.init) ?? "2048"
            try openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:\(bits)", "-out", "\(name).key"])
        }
    }
}
