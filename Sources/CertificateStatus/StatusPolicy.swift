/// What to do with a check's outcome (fail closed unless told otherwise, per trust anchor).
public struct StatusPolicy: Sendable {
    public enum Mode: String, Sendable, CaseIterable {
        /// No verified answer → reject. The default.
        case failClosed = "fail_closed"
        /// No verified answer → accept, logged and counted.
        case softFail = "soft_fail"
    }

    public enum Decision: Sendable, Equatable {
        case accept
        /// Accepted without a verified answer: why, as a value (soft-fail, or a certificate without status pointers).
        case acceptUnverified(Unverified)
        case reject(String)
    }

    /// Why a certificate was accepted without a verified status answer.
    public enum Unverified: Sendable, Equatable, CustomStringConvertible {
        /// The certificate names neither an OCSP responder nor a CRL distribution point.
        case noPointers
        /// No source gave a verified answer, and the anchor's mode is `softFail`: each source's failure.
        case softFail([String])

        public var description: String {
            switch self {
            case .noPointers: "no revocation source in the certificate"
            case .softFail(let failures): "soft-fail: \(failures.joined(separator: "; "))"
            }
        }
    }

    public var mode: Mode
    /// Anchors (by `x5t#S256` of the anchor certificate) with their own mode.
    public var anchorModes: [String: Mode]
    /// Reject certificates that name neither an OCSP responder nor a CRL distribution point.
    public var requirePointers: Bool

    public init(mode: Mode = .failClosed, anchorModes: [String: Mode] = [:], requirePointers: Bool = false) {
        self.mode = mode
        self.anchorModes = anchorModes
        self.requirePointers = requirePointers
    }

    public func decide(_ outcome: StatusOutcome, anchorThumbprint: String?) -> Decision {
        switch outcome {
        case .known(.good, .noPointers):
            return requirePointers ? .reject("the certificate names no revocation source") : .acceptUnverified(.noPointers)
        case .known(.good, _):
            return .accept
        case .known(.revoked(let reason, _), let source):
            return .reject("revoked (\(reason ?? "unspecified")) per \(source)")
        case .unknown(let failures):
            let mode = anchorThumbprint.flatMap { anchorModes[$0] } ?? self.mode
            return mode == .softFail ? .acceptUnverified(.softFail(failures)) : .reject("status unknown (fail closed): \(failures.joined(separator: "; "))")
        }
    }
}
