import Foundation
import JOSE
import OpenSSLKit

/// `make bench`: operations per second of the hot cryptographic paths, single-threaded, in a release build,
/// printed beside `openssl speed` by the Makefile so the overhead of our layer over OpenSSL is visible.
@main
struct FapiBench {
    static let seconds = Double(ProcessInfo.processInfo.environment["FAPIBENCH_SECONDS"] ?? "2") ?? 2

    static func measure(_ name: String, _ body: () throws -> Void) rethrows {
        // Warm up, then count whole iterations within the time budget.
        for _ in 0..<20 { try body() }
        let start = DispatchTime.now().uptimeNanoseconds
        let budget = UInt64(seconds * 1e9)
        var count = 0
        var elapsed: UInt64 = 0
        repeat {
            for _ in 0..<10 { try body() }
            count += 10
            elapsed = DispatchTime.now().uptimeNanoseconds - start
        } while elapsed < budget
        let rate = Double(count) / (Double(elapsed) / 1e9)
        print(name.padding(toLength: 44, withPad: " ", startingAt: 0) + String(format: "%12.0f /s", rate))
    }

    static func main() async throws {
        print("fapid JOSE over OpenSSL \(opensslVersion()), one thread, \(Int(seconds)) s per row")
        let claims: [String: JSON] = [
            "iss": "https://localhost:8443", "sub": "psu-123", "aud": "client-1", "exp": 1_900_000_000, "iat": 1_800_000_000,
            "scope": "openid accounts", "cnf": ["x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"],
        ]
        let payload = JSON.object(claims).bytes
        for (algorithm, kind) in [(JWSAlgorithm.PS256, AsymmetricKey.Kind.rsa(bits: 2048)), (.ES256, .p256), (.EdDSA, .ed25519)] {
            let signer = try SigningKey(key: AsymmetricKey.generate(kind), algorithm: algorithm, kid: "bench")
            let token = try signer.sign(payload: payload)
            let jws = try CompactJWS(token)
            try measure("\(algorithm) sign (JWT, header+payload)") { _ = try signer.sign(payload: payload) }
            try measure("\(algorithm) verify (signature only)") { try jws.verify(with: signer.key, allowed: JWSAlgorithm.fapi2) }
            try measure("\(algorithm) parse + verify + claims") {
                let parsed = try CompactJWS(token)
                try parsed.verify(with: signer.key, allowed: JWSAlgorithm.fapi2)
                _ = try parsed.claims()
            }
        }
        let der = Crypto.randomBytes(1200)
        measure("SHA-256 of a 1.2 kB certificate (x5t#S256)") { _ = Crypto.sha256(der) }
        try await StatusBench.run(seconds: seconds)
    }

    static func opensslVersion() -> String {
        (try? String(contentsOfFile: "/proc/self/maps", encoding: .utf8))?
            .split(separator: "\n").first { $0.contains("libcrypto.so") }
            .map { String($0.split(separator: "/").last ?? "") } ?? "libcrypto"
    }
}
