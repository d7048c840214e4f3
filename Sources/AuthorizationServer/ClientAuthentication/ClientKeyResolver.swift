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
/// unknown kids cannot turn the server into a fetch amplifier. Failures are remembered the same way: a
/// fetch that failed or a set that did not parse is not tried again for `refetchInterval`, and requests
/// arriving while a URL is being fetched wait for that one fetch (single flight). Whatever requests
/// name a client, its `jwks_uri` costs at most one fetch and one parse per `refetchInterval` (CWE-400).
public final class ClientKeyResolver: Sendable {
    let fetcher: any JWKSFetcher
    let clock: any WallClock
    let cacheLifetime: TimeInterval
    let refetchInterval: TimeInterval
    private let entries = Mutex<[String: Entry]>([:])
    /// How long a cached set may stand in for an unreachable `jwks_uri`.
    static let staleLimit: TimeInterval = 3600

    /// What one fetch came to: the parsed set, or why there is none.
    typealias Outcome = Result<JWKSet, JWKSFetchError>

    /// What is known about one `jwks_uri`.
    private struct Entry {
        /// The last set that parsed, and when it was fetched.
        var keys: (set: JWKSet, fetchedAt: Date)?
        /// When the last fetch started, whatever came of it.
        var attemptedAt: Date?
        /// Why the last fetch failed; nil when it succeeded.
        var failure: JWKSFetchError?
        /// The fetch under way, which every request for this URL awaits.
        var inFlight: Task<Outcome, Never>?
    }

    private enum Step {
        case use(JWKSet)
        case await(Task<Outcome, Never>)
        case fail(String)
    }

    public init(fetcher: any JWKSFetcher, clock: any WallClock, cacheLifetime: TimeInterval = 300, refetchInterval: TimeInterval = 60) {
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
        let step = entries.withLock { entries -> Step in
            var entry = entries[url] ?? Entry()
            if let inFlight = entry.inFlight { return .await(inFlight) }
            if let cached = entry.keys, now.timeIntervalSince(cached.fetchedAt) < cacheLifetime,
                kid == nil || cached.set.keys.contains(where: { $0.kid == kid })
            {
                return .use(cached.set)
            }
            if let attemptedAt = entry.attemptedAt, now.timeIntervalSince(attemptedAt) < refetchInterval {
                // Tried within the interval: an unknown kid, a failed fetch and a set that did not parse all wait for the next one.
                if let stale = usable(entry, now: now) { return .use(stale) }
                return .fail("\(entry.failure?.description ?? "no usable keys"); next fetch after \(Int(refetchInterval)) s")
            }
            let task = Task { await self.fetch(url, startedAt: now) }
            entry.inFlight = task
            entry.attemptedAt = now
            entries[url] = entry
            return .await(task)
        }
        let outcome: Outcome
        switch step {
        case .use(let keys): return keys
        case .fail(let reason): throw Self.unusable(url, client, reason)
        case .await(let task): outcome = await task.value
        }
        switch outcome {
        case .success(let keys): return keys
        case .failure(let failure):
            // While the client's endpoint is down, its last set stays usable for a bounded time only.
            if let stale = entries.withLock({ $0[url].flatMap { usable($0, now: now) } }) { return stale }
            throw Self.unusable(url, client, failure.description)
        }
    }

    /// Fetches and parses `url` once, off the cooperative pool for the parse, and records the outcome.
    private func fetch(_ url: String, startedAt: Date) async -> Outcome {
        let outcome: Outcome
        do throws(JWKSFetchError) {
            let bytes = try await fetcher.fetch(url)
            do {
                outcome = .success(try await JWKSet.parsedOffThePool(json: bytes))
            } catch {
                outcome = .failure(JWKSFetchError("the set does not parse: \(error)"))
            }
        } catch {
            outcome = .failure(error)
        }
        entries.withLock { entries in
            var entry = entries[url] ?? Entry()
            entry.inFlight = nil
            switch outcome {
            case .success(let keys):
                entry.keys = (keys, startedAt)
                entry.failure = nil
            case .failure(let failure):
                entry.failure = failure
            }
            entries[url] = entry
        }
        return outcome
    }

    /// The last good set, while it is younger than `staleLimit`.
    private func usable(_ entry: Entry, now: Date) -> JWKSet? {
        guard let cached = entry.keys, now.timeIntervalSince(cached.fetchedAt) < Self.staleLimit else { return nil }
        return cached.set
    }

    private static func unusable(_ url: String, _ client: Client, _ reason: String) -> OAuthError {
        OAuthError.invalidClient(.assertionInvalid, "jwks_uri \(url) of client \(client.clientID) could not be used: \(reason)")
    }
}
