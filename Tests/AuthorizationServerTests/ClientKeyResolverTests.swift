import AuthorizationServer
import Foundation
import JOSE
import OpenSSLKit
import Synchronization
import TestSupport
import Testing

/// Issue 16 item 1: a client's `jwks_uri` costs at most one fetch and one parse per refetch interval,
/// whatever it serves and however many requests name the client at once.
@Suite("ClientKeyResolver")
struct ClientKeyResolverTests {
    /// Serves one answer (bytes or a failure), counting fetches, optionally slowly.
    final class CountingFetcher: JWKSFetcher {
        private let state = Mutex<(answer: Result<[UInt8], JWKSFetchError>, count: Int)>((.failure(JWKSFetchError("unset")), 0))
        let delay: Duration

        init(_ answer: Result<[UInt8], JWKSFetchError>, delay: Duration = .zero) {
            state.withLock { $0.answer = answer }
            self.delay = delay
        }

        var count: Int { state.withLock { $0.count } }
        func serve(_ answer: Result<[UInt8], JWKSFetchError>) { state.withLock { $0.answer = answer } }

        func fetch(_ url: String) async throws(JWKSFetchError) -> [UInt8] {
            let answer = state.withLock { state in
                state.count += 1
                return state.answer
            }
            if delay > .zero { try? await Task.sleep(for: delay) }
            return try answer.get()
        }
    }

    static let url = "https://tpp.example/jwks.json"

    let client: Client
    let clock = FixedClock(Date(timeIntervalSince1970: 1_800_000_000))
    let key: JWK

    init() throws {
        client = try Client(
            clientID: "c",
            metadata: ["token_endpoint_auth_method": "private_key_jwt", "jwks_uri": .string(Self.url), "grant_types": ["client_credentials"]],
            createdAt: Date(timeIntervalSince1970: 1_800_000_000))
        key = try JWK(key: try AsymmetricKey.generate(.p256), kid: "k1")
    }

    func document(_ keys: [JWK]) -> [UInt8] { JSON.object(["keys": .array(keys.map { .object($0.publicMembers) })]).bytes }

    func expectRefused(_ resolver: ClientKeyResolver, kid: String? = "k1") async {
        let error = await #expect(throws: OAuthError.self) { try await resolver.keys(for: client, kid: kid) }
        #expect(error?.code == .invalidClient)
    }

    @Test("a set that does not parse is remembered as failed until the refetch interval has passed")
    func failedParseIsCached() async throws {
        // The last entry is malformed: the whole set fails, after the good key was parsed.
        let malformed = JSON.object(["keys": [.object(key.publicMembers), ["kty": "RSA", "n": "AQAB", "e": "AQAB"]]]).bytes
        let fetcher = CountingFetcher(.success(malformed))
        let resolver = ClientKeyResolver(fetcher: fetcher, clock: clock)
        for _ in 0..<10 { await expectRefused(resolver) }
        #expect(fetcher.count == 1)
        clock.advance(59)
        await expectRefused(resolver)
        #expect(fetcher.count == 1)
        // A minute later the client's fixed set is fetched and used.
        fetcher.serve(.success(document([key])))
        clock.advance(2)
        #expect(try await resolver.keys(for: client, kid: "k1").keys.count == 1)
        #expect(fetcher.count == 2)
    }

    @Test("a set over the size limits is a failed parse too")
    func oversizedSetIsCached() async throws {
        let many = try (0..<33).map { index in try JWK(key: key.key, kid: "k\(index)") }
        let fetcher = CountingFetcher(.success(document(many)))
        let resolver = ClientKeyResolver(fetcher: fetcher, clock: clock)
        for _ in 0..<5 { await expectRefused(resolver, kid: nil) }
        #expect(fetcher.count == 1)
    }

    @Test("a failed fetch is remembered, and a last good set stands in for a bounded time")
    func failedFetchIsCached() async throws {
        let fetcher = CountingFetcher(.failure(JWKSFetchError("connection refused")))
        let resolver = ClientKeyResolver(fetcher: fetcher, clock: clock)
        for _ in 0..<5 { await expectRefused(resolver) }
        #expect(fetcher.count == 1)

        clock.advance(61)
        fetcher.serve(.success(document([key])))
        #expect(try await resolver.keys(for: client, kid: "k1").keys.count == 1)
        #expect(fetcher.count == 2)
        // The endpoint goes down after the cache lifetime: one attempt, then the old set, no fetch storm.
        fetcher.serve(.failure(JWKSFetchError("down")))
        clock.advance(301)
        for _ in 0..<5 { #expect(try await resolver.keys(for: client, kid: "k1").keys.count == 1) }
        #expect(fetcher.count == 3)
        // Past the stale limit the old set is no longer used.
        clock.advance(3600)
        await expectRefused(resolver)
        #expect(fetcher.count == 4)
    }

    @Test("concurrent requests for one URL wait for one fetch")
    func singleFlight() async throws {
        let fetcher = CountingFetcher(.success(document([key])), delay: .milliseconds(300))
        let resolver = ClientKeyResolver(fetcher: fetcher, clock: clock)
        let client = client
        let found = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<25 { group.addTask { (try? await resolver.keys(for: client, kid: "k1").keys.count) ?? 0 } }
            return await group.reduce(0, +)
        }
        #expect(found == 25)
        #expect(fetcher.count == 1)
    }

    @Test("concurrent requests for a URL that fails share the one failed fetch")
    func singleFlightFailure() async throws {
        let fetcher = CountingFetcher(.success(Array("not json".utf8)), delay: .milliseconds(300))
        let resolver = ClientKeyResolver(fetcher: fetcher, clock: clock)
        let client = client
        let refused = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<25 { group.addTask { (try? await resolver.keys(for: client, kid: "k1")) == nil ? 1 : 0 } }
            return await group.reduce(0, +)
        }
        #expect(refused == 25)
        #expect(fetcher.count == 1)
    }

    @Test("an unknown kid fetches again at most once a minute, so rotation is picked up")
    func unknownKid() async throws {
        let fetcher = CountingFetcher(.success(document([key])))
        let resolver = ClientKeyResolver(fetcher: fetcher, clock: clock)
        #expect(try await resolver.keys(for: client, kid: "k1").keys.count == 1)
        let rotated = try JWK(key: try AsymmetricKey.generate(.p256), kid: "k2")
        fetcher.serve(.success(document([rotated])))
        for _ in 0..<5 { #expect(try await resolver.keys(for: client, kid: "k2").keys.first?.kid == "k1") }
        #expect(fetcher.count == 1)
        clock.advance(61)
        #expect(try await resolver.keys(for: client, kid: "k2").keys.first?.kid == "k2")
        #expect(try await resolver.keys(for: client, kid: "k2").keys.first?.kid == "k2")
        #expect(fetcher.count == 2)
    }
}
