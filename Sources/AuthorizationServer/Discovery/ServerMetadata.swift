public import JOSE

/// The authorization server metadata document (RFC 8414 §2, OpenID Connect Discovery 1.0 §3).
///
/// It advertises only what the server implements: each feature adds its own members through
/// `adding`, so a field appears in the same change that makes it true.
public struct ServerMetadata: Sendable {
    public let issuer: String
    public private(set) var members: [String: JSON]

    public init(issuer: String) {
        self.issuer = issuer
        self.members = [
            "issuer": .string(issuer),
            "jwks_uri": .string(issuer + "/jwks"),
        ]
    }

    /// Adds or replaces members contributed by a feature.
    public func adding(_ contribution: [String: JSON]) -> ServerMetadata {
        var copy = self
        copy.members.merge(contribution) { _, new in new }
        copy.members["issuer"] = .string(issuer)
        return copy
    }

    /// An endpoint URL under the issuer.
    public func endpoint(_ path: String) -> String { issuer + path }

    public var document: JSON { .object(members) }
}
