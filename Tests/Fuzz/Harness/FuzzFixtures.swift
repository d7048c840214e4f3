import AuthorizationServer
import CertificateStatus
import Dispatch
import Foundation
import JOSE
import OpenSSLKit
import Synchronization
import TestSupport

/// What the targets judge against: the fixed PKI in `Tests/Fuzz/Fixtures` (made by `make-fixtures.sh`), keys made at
/// start, and one fixed instant inside every fixture's validity, so that a run is repeatable.
final class FuzzFixtures: Sendable {
    static let shared: FuzzFixtures = {
        do { return try FuzzFixtures() } catch { fatalError("fuzz fixtures: \(error)") }
    }()

    static func prepare() { _ = shared }

    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures")
    static let issuer = "https://as.fuzz.example"
    static let directoryIssuer = "https://directory.fuzz.example"
    static let redirectURI = "https://tpp.fuzz.example/cb"

    /// 2030-03-17T17:46:40Z: inside the fixtures' hundred years, and the `iat` of the seeds.
    let now = Date(timeIntervalSince1970: 1_900_000_000)
    let clock: FixedClock
    let ca: X509Certificate
    let leaf: X509Certificate
    let revoked: X509Certificate
    let leafName: DistinguishedName
    let trust: CertificateTrustStore
    let ocspExchange: OCSPExchange
    let revokedExchange: OCSPExchange
    let clientSigner: SigningKey
    let directorySigner: SigningKey
    let dpopKey: AsymmetricKey
    let dpopJWK: JWK
    let serverKeys: JWKSet
    let client: Client
    let requestObjects: RequestObjectValidator
    let dpop: DPoPProofValidator
    let trustedDirectory: TrustedDirectory

    private init() throws {
        clock = FixedClock(now)
        func certificate(_ name: String) throws -> X509Certificate {
            try X509Certificate.parsePEM(String(contentsOf: Self.directory.appendingPathComponent(name), encoding: .utf8))[0]
        }
        ca = try certificate("ca.pem")
        leaf = try certificate("leaf.pem")
        revoked = try certificate("revoked.pem")
        leafName = DistinguishedName(subjectOf: leaf)
        trust = try CertificateTrustStore(anchors: [ca])
        ocspExchange = try OCSPExchange(leaf: leaf, issuer: ca)
        revokedExchange = try OCSPExchange(leaf: revoked, issuer: ca)
        clientSigner = try SigningKey(key: AsymmetricKey.generate(.p256), algorithm: .ES256, kid: "client-key")
        directorySigner = try SigningKey(key: AsymmetricKey.generate(.p256), algorithm: .ES256, kid: "directory-key")
        dpopKey = try AsymmetricKey.generate(.p256)
        dpopJWK = try JWK(key: dpopKey, use: nil)
        serverKeys = JWKSet(keys: [
            try JWK(key: AsymmetricKey.generate(.p256), kid: "server-es256", algorithm: .ES256),
            try JWK(key: AsymmetricKey.generate(.rsa(bits: 2048)), kid: "server-ps256", algorithm: .PS256),
        ])
        client = try Client(
            clientID: "fuzz-client",
            metadata: [
                "tls_client_auth_subject_dn": .string(leaf.subjectDN), "redirect_uris": [.string(Self.redirectURI)],
                "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code id_token", "code"],
                "scope": "openid accounts payments", "jwks": ["keys": [.object(try clientSigner.publicJWK().publicMembers)]],
            ], createdAt: now)
        let keys = ClientKeyResolver(fetcher: OfflineFetcher(), clock: clock)
        requestObjects = RequestObjectValidator(keys: keys, replay: ForgetfulReplayStore(), issuer: Self.issuer, clock: clock)
        dpop = DPoPProofValidator(replay: ForgetfulReplayStore(), nonces: DPoPNonces(key: [UInt8](repeating: 7, count: 32)), clock: clock)
        trustedDirectory = TrustedDirectory(
            name: "fuzz-directory", issuer: Self.directoryIssuer, keys: .set(JWKSet(keys: [try directorySigner.publicJWK()])),
            transportCAs: trust, roleScopes: TrustedDirectory.defaultRoleScopes)
    }

    /// The TPP's certificate as the TLS layer hands it over.
    var presentedLeaf: ClientCertificate {
        ClientCertificate.evaluate(presented: [leaf], trustStore: trust, source: .tls, at: now)!
    }
}

/// Never fetches: a fuzz input must not reach the network.
struct OfflineFetcher: JWKSFetcher {
    func fetch(_ url: String) async throws(JWKSFetchError) -> [UInt8] { throw JWKSFetchError("no network while fuzzing") }
}

/// Accepts every `jti` and remembers none, so that memory stays flat over millions of inputs and an input means the
/// same on every run (replay itself is tested in the storage contract).
struct ForgetfulReplayStore: ReplayStore {
    func consume(jti: String, clientID: String, expiresAt: Date, now: Date) async throws(StorageError) -> Bool { true }
}

/// Runs an async check to the end from libFuzzer's thread, which is not one of Swift's cooperative threads. The task
/// starts on this thread (SE-0472) and, as long as nothing suspends (the memory stores never do), ends here too: a hop
/// to another thread per input costs a scheduler wake-up, which on a loaded machine is milliseconds.
enum FuzzBlocking {
    static func wait(_ body: @escaping @Sendable () async -> Void) {
        let done = DispatchSemaphore(value: 0)
        Task.immediate {
            await body()
            done.signal()
        }
        done.wait()
    }
}

/// `FAPID_FUZZ_VERBOSE=1` prints how each input of the deeper targets ended, to check that the seeds reach the checks
/// after parsing (`swift test --filter FuzzRegression` or the fuzzer with `-runs=0`).
enum FuzzReport {
    static let verbose = ProcessInfo.processInfo.environment["FAPID_FUZZ_VERBOSE"] == "1"

    static func outcome(_ target: String, _ body: () throws -> Void) {
        do {
            try body()
            if verbose { print("\(target): accepted") }
        } catch {
            if verbose { print("\(target): refused: \(error)") }
        }
    }

    static func outcome(_ target: String, _ body: () async throws -> Void) async {
        do {
            try await body()
            if verbose { print("\(target): accepted") }
        } catch {
            if verbose { print("\(target): refused: \((error as? OAuthError)?.detail ?? "\(error)")") }
        }
    }
}
