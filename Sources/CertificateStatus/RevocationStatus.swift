public import Foundation

/// What one source (an OCSP responder or a CRL) said about a certificate.
public enum RevocationStatus: Sendable, Equatable, CustomStringConvertible {
    case good
    /// Revoked, with the RFC 5280 §5.3.1 reason (e.g. `keyCompromise`) when given, and when.
    case revoked(reason: String?, at: Date?)

    public var description: String {
        switch self {
        case .good: "good"
        case .revoked(let reason, let at):
            "revoked (\(reason ?? "unspecified")\(at.map { ", " + $0.formatted(.iso8601) } ?? ""))"
        }
    }
}

/// Where a status came from.
public enum StatusSource: Sendable, Equatable, CustomStringConvertible {
    case ocsp(String)
    case crl(String)
    case cache(underlying: String)
    /// The certificate names no OCSP responder and no CRL distribution point.
    case noPointers

    public var description: String {
        switch self {
        case .ocsp(let url): "ocsp \(url)"
        case .crl(let url): "crl \(url)"
        case .cache(let underlying): "cache (\(underlying))"
        case .noPointers: "none: the certificate names no OCSP responder or CRL distribution point"
        }
    }
}

/// The answer of a full check: a status with its source, or no verified answer with the reasons.
public enum StatusOutcome: Sendable, Equatable {
    case known(RevocationStatus, StatusSource)
    /// Neither OCSP nor CRL gave a verified answer; each failure is listed ("ocsp URL: reason").
    case unknown([String])
}

/// A failure to learn the status from one source. `final` failures (a malformed or unverifiable answer)
/// and transient ones (timeouts, refused connections) both make the checker move on to the next source.
public struct StatusSourceFailure: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Network access for status checks: one method per HTTP verb, bytes in and out, typed failure.
/// OCSP and CRL use plain HTTP as their RFCs intend; the answers are signed.
public protocol StatusFetcher: Sendable {
    func post(_ url: String, body: [UInt8], contentType: String, maximumSize: Int) async throws(StatusSourceFailure) -> [UInt8]
    func get(_ url: String, maximumSize: Int) async throws(StatusSourceFailure) -> [UInt8]
}
