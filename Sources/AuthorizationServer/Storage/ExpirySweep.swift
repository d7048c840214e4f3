public import Foundation

/// The aggregates that expire; the raw value names their table in both SQL schemas (`migrations/`).
public enum ExpiringAggregate: String, Sendable, CaseIterable {
    case assertionJTIs = "client_assertion_jtis"
    case accessTokens = "access_tokens"
    case refreshTokens = "refresh_tokens"
    case authorizationCodes = "authorization_codes"
    case pushedRequests = "pushed_requests"
    case cibaRequests = "ciba_requests"
    case psuInteractions = "psu_interactions"
    case psuSessions = "psu_sessions"
}

/// Rows of `aggregate` whose expiry is before `before` (or at it, when `inclusive`) go.
public struct ExpiryCutoff: Sendable, Equatable {
    public var aggregate: ExpiringAggregate
    public var before: Date
    public var inclusive: Bool

    public init(_ aggregate: ExpiringAggregate, before: Date, inclusive: Bool = false) {
        self.aggregate = aggregate
        self.before = before
        self.inclusive = inclusive
    }
}

/// The sweep list: what expires, and when its rows may go. Stores only delete by cutoff.
public enum ExpirySweep {
    /// How long expired tokens, codes and requests are kept, so that a late use is still told apart from an
    /// unknown value (and a reuse still revokes).
    public static let retention: TimeInterval = 3600

    /// Assertion `jti`s as soon as they expire (RFC 7523 §3 item 7: an expired assertion is refused anyway);
    /// tokens, codes, pushed and CIBA requests, PSU interactions and sessions once expired for `retention`.
    public static func cutoffs(now: Date, retention: TimeInterval) -> [ExpiryCutoff] {
        let horizon = now.addingTimeInterval(-retention)
        return [ExpiryCutoff(.assertionJTIs, before: now)]
            + [ExpiringAggregate.accessTokens, .refreshTokens, .authorizationCodes, .pushedRequests, .cibaRequests, .psuInteractions, .psuSessions]
            .map { ExpiryCutoff($0, before: horizon) }
    }

    /// PSU interactions and sessions at once when expired, without a retention: nothing needs them afterwards,
    /// and interactions hold whole requests (CWE-400).
    public static func interactionCutoffs(now: Date) -> [ExpiryCutoff] {
        [ExpiryCutoff(.psuInteractions, before: now, inclusive: true), ExpiryCutoff(.psuSessions, before: now, inclusive: true)]
    }
}

/// Removes expired rows by cutoff, in one transaction; returns how many went.
public protocol ExpiredRowSweeper: Sendable {
    func deleteExpired(_ cutoffs: [ExpiryCutoff]) async throws(StorageError) -> Int
}

extension ExpiredRowSweeper {
    /// Removes what `ExpirySweep.cutoffs` lists. Returns how many rows went.
    public func sweepExpired(now: Date, retention: TimeInterval = ExpirySweep.retention) async throws(StorageError) -> Int {
        try await deleteExpired(ExpirySweep.cutoffs(now: now, retention: retention))
    }
}
