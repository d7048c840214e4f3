public import Foundation

/// A cached answer as persisted, so the cache survives restarts.
public struct PersistedStatus: Sendable, Equatable {
    public var thumbprint: String
    public var status: RevocationStatus
    /// `ocsp` or `crl`.
    public var sourceKind: String
    public var sourceURL: String
    public var until: Date
    public var leafDER: [UInt8]
    public var issuerDER: [UInt8]

    public init(thumbprint: String, status: RevocationStatus, sourceKind: String, sourceURL: String, until: Date, leafDER: [UInt8], issuerDER: [UInt8]) {
        self.thumbprint = thumbprint
        self.status = status
        self.sourceKind = sourceKind
        self.sourceURL = sourceURL
        self.until = until
        self.leafDER = leafDER
        self.issuerDER = issuerDER
    }
}

/// Where the checker keeps its answers between runs. Failures are the caller's to log; the cache
/// works without persistence.
public protocol StatusCacheStore: Sendable {
    /// Answers still valid at `now`.
    func loadStatuses(now: Date) async throws -> [PersistedStatus]
    /// Upserts one answer and drops expired ones beyond the bound.
    func saveStatus(_ status: PersistedStatus, now: Date) async throws
}
