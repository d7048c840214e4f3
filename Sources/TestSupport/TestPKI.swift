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

    /// A self-signed CA certificate and key: `NAME.pem`, `NAME.key`.
    public func makeCA(_ name: String, subject: String? = nil) throws {
        try openssl([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(name).key", "-out", "\(name).pem", "-days", "30",
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

    /// A self-signed leaf certificate `NAME.pem` with key `NAME.key`.
    public func selfSigned(_ name: String, subject: String, key: String = "rsa:2048") throws {
        try newKey(name, key)
        try openssl(["req", "-x509", "-new", "-key", "\(name).key", "-out", "\(name).pem", "-days", "30", "-subj", subject])
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
