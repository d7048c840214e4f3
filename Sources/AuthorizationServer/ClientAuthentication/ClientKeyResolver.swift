public import Foundation
public import JOSE
import Synchronization

/// Fetches a client's `jwks_uri`. One method, bytes or a typed failure; the resolver decides what to do.
public protocol JWKSFetcher: Sendable {
    func fetch(_ url: String) async throws(JWKSFetchError) -> [UInt8]
}

public struct JWKSFetchError: Error, Sendable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A client's verification keys: registered `jwks`, or `jwks_uri` fetched and cached.
///
/// A cached set is used for `cacheLifetime`; a `kid` that is not in it triggers one re-fetch, at most
/// once per `refetchInterval` per URL, so a client rotating keys is picked up at once while a stream of
/// unknown kids cannot turn the server into a fetch amplifier.
public final class ClientKeyResolver: Sendable {
    let fetcher: any JWKSFetcher
    let clock: any Clock
    let cacheLifetime: TimeInterval
    let refetchInterval: TimeInterval
    private let cache = Mutex<[String: (keys: JWKSet, fetchedAt: Date)]>([:])
    /// How long a cached set may stand in for an unreachable `jwks_uri`.
    static let staleLimit: TimeInterval = 3600

    public init(fetcher: any JWKSFetcher, clock: any Clock, cacheLifetime: TimeInterval = 300, refetchInterval: TimeInterval = 60) {
        self.fetcher = fetcher
        self.clock = clock
        self.cacheLifetime = cacheLifetime
        self.refetchInterval = refetchInterval
    }

    /// The keys to try for a JWS with `kid` from `client`.
    public func keys(for client: Client, kid: String?) async throws(OAuthError) -> JWKSet {
        if let jwks = client.jwks { return jwks }
        guard let url = client.jwksURI else { throw OAuthError.invalidClient(.assertionInvalid, "client \(client.clientID) has no keys") }
        let now = clock.now()
        let cached = cache.withLock { $0[url] }
        if let cached {
            let fresh = now.timeIntervalSince(cached.fetchedAt) < cacheLifetime
            let hasKid = kid == nil || cached.keys.keys.contains { $0.kid == kid }
            if fresh && (hasKid || now.timeIntervalSince(cached.fetchedAt) < refetchInterval) { return cached.keys }
        }
        do {
            let bytes = try await fetcher.fetch(url)
            let keys = try JWKSet(json: bytes)
            cache.withLock { $0[url] = (keys, now) }
            return keys
        } catch {
            // While the client's endpoint is down, its last set stays usable for a bounded time only.
            if let cached, now.timeIntervalSince(cached.fetchedAt) < Self.staleLimit { return cached.keys }
            throw OAuthError.invalidClient(.assertionInvalid, "jwks_uri \(url) of client \(client.clientID) could not be used: \(error)")
        }
    }
}
