import Synchronization

/// One fuzz target per parser that takes outside bytes (docs/robustness.md). The raw value names the target on the
/// command line (`make fuzz FUZZ_TARGETS=jws`), its corpus (`Tests/Fuzz/Corpus/<name>`), its dictionary
/// (`Tests/Fuzz/Dictionaries/<name>.dict`) and its regressions (`Tests/Fuzz/Regressions/<name>`).
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// A compact JWS and its JWT claims: parse, claims, verification against a fixed key (RFC 7515, RFC 7519).
    case jws
    /// A JWK and a JWK Set, with thumbprints (RFC 7517, RFC 7638).
    case jwk
    /// Any JSON text, as every JSON body and JOSE member is read (RFC 8259), and its canonical form (RFC 8785).
    case json
    /// An X.509 certificate in DER: names, alternative names, PSD2 QCStatements, public key (RFC 5280, ETSI TS 119 495).
    case x509
    /// A distinguished name in its RFC 4514 string form, as `tls_client_auth_subject_dn` is registered.
    case dn
    /// The RFC 9440 `Client-Cert` and `Client-Cert-Chain` headers of a trusted proxy, evaluated against the fixed CA.
    case clientCert = "client-cert"
    /// An OCSP response judged for the fixed leaf and CA (RFC 6960).
    case ocsp
    /// A CRL: parse, signature against the fixed CA, scope and status (RFC 5280 §5).
    case crl
    /// An `application/x-www-form-urlencoded` body (RFC 6749 Appendix B).
    case form
    /// A registration request body (RFC 7591 §3.1) carrying a valid software statement.
    case registration
    /// The claims of a software statement signed by the trusted directory (RFC 7591 §2.3), through registration.
    case softwareStatement = "software-statement"
    /// The claims of a request object signed by the client, through the whole validation path (RFC 9101, FAPI 1 §5.2.2).
    case requestObject = "request-object"
    /// A DPoP proof: its claims signed with the key in its header, through the proof checks (RFC 9449 §4.3).
    case dpop
}

/// The part of a check that awaits the core's services.
typealias FuzzCheck = @Sendable () async -> Void

extension FuzzTarget {
    /// Runs one input through the target, from libFuzzer's thread. Expected rejections are swallowed; a crash, a
    /// failed invariant (`FuzzInvariant.check`), a leak or a hang is a finding.
    public func run(_ bytes: [UInt8]) {
        if let check = check(bytes) { FuzzBlocking.wait(check) }
    }

    /// The same from async code (the regression tests); returns the invariants the input broke.
    public func replay(_ bytes: [UInt8]) async -> [String] {
        let violations = FuzzInvariant.Violations()
        await FuzzInvariant.$violations.withValue(violations) {
            if let check = check(bytes) { await check() }
        }
        return violations.messages.withLock { $0 }
    }

    /// Runs the synchronous parsers at once; returns what is left to await for the targets that reach the core.
    private func check(_ bytes: [UInt8]) -> FuzzCheck? {
        switch self {
        case .jws: FuzzJOSE.jws(bytes)
        case .jwk: FuzzJOSE.jwk(bytes)
        case .json: FuzzJOSE.json(bytes)
        case .x509: FuzzCertificates.x509(bytes)
        case .dn: FuzzCertificates.distinguishedName(bytes)
        case .clientCert: FuzzCertificates.clientCert(bytes)
        case .ocsp: FuzzCertificates.ocsp(bytes)
        case .crl: FuzzCertificates.crl(bytes)
        case .form: FuzzRequests.form(bytes)
        case .registration: return FuzzRequests.registration(bytes)
        case .softwareStatement: return FuzzRequests.softwareStatement(bytes)
        case .requestObject: return FuzzRequests.requestObject(bytes)
        case .dpop: return FuzzRequests.dpop(bytes)
        }
        return nil
    }

    /// Builds what the targets judge against (keys, certificates, services) before the first input, so that the
    /// first input is not slower than the others.
    public static func prepare() { FuzzFixtures.prepare() }
}

/// An invariant the parsers promise beyond not crashing (a round trip, a limit); a violation is a finding. Under
/// libFuzzer it stops the process (the fuzzer keeps the input); under `replay` it is collected, so that one broken
/// promise fails its test in `make test` instead of taking every suite down with it.
enum FuzzInvariant {
    /// Set by `replay`: where violations go instead of `fatalError`.
    @TaskLocal static var violations: Violations?

    final class Violations: Sendable {
        let messages = Mutex<[String]>([])
    }

    static func check(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String, file: StaticString = #file, line: UInt = #line) {
        guard !condition() else { return }
        guard let violations else { fatalError("fuzz invariant: \(message())", file: file, line: line) }
        violations.messages.withLock { $0.append("\(message()) (\(file):\(line))") }
    }
}
