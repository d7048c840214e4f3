public import Foundation

/// A SoftHSM2 token initialised in a temporary directory, for tests of keys in a PKCS#11 token. SoftHSM reads its
/// configuration (`SOFTHSM2_CONF`) once per process, when the module is first initialised, so a test process has one
/// such token: `SoftHSM.shared`, nil when softhsm2 is not installed (the tests that need it are then skipped).
public final class SoftHSM: Sendable {
    public static let tokenLabel = "fapid-test"
    public static let pin = "123456"
    public let directory: URL
    public let module: String

    public static let shared: SoftHSM? = try? SoftHSM()

    /// Where Debian puts the module (softhsm2's libsofthsm2).
    public static let modulePaths = ["/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"]

    init() throws {
        guard let module = Self.modulePaths.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
            throw CocoaError(.fileNoSuchFile)
        }
        self.module = module
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("fapid-softhsm-\(UUID().uuidString)")
        let tokens = directory.appendingPathComponent("tokens")
        try FileManager.default.createDirectory(at: tokens, withIntermediateDirectories: true)
        let configuration = directory.appendingPathComponent("softhsm2.conf")
        try "directories.tokendir = \(tokens.path)\nobjectstore.backend = file\nlog.level = ERROR\n".write(to: configuration, atomically: true, encoding: .utf8)
        setenv("SOFTHSM2_CONF", configuration.path, 1)
        try Shell.run(
            ["softhsm2-util", "--init-token", "--free", "--label", Self.tokenLabel, "--so-pin", "12345678", "--pin", Self.pin],
            environment: ["SOFTHSM2_CONF": configuration.path])
    }
}
