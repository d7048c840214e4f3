import AuthorizationServer
import Foundation
import JOSE
import Synchronization
import MemoryStorage
import TestSupport
import Testing

/// Users in memory, counting lookups.
final class CountingUserStore: UserStore {
    private let stored: Mutex<[String: User]>
    private let lookups = Mutex(0)
    init(_ users: [User]) { stored = Mutex(Dictionary(uniqueKeysWithValues: users.map { ($0.username, $0) })) }
    var lookupCount: Int { lookups.withLock { $0 } }
    func insertUser(_ user: User) async throws(StorageError) { stored.withLock { $0[user.username] = user } }
    func user(named name: String) async throws(StorageError) -> User? {
        lookups.withLock { $0 += 1 }
        return stored.withLock { $0[name] }
    }
    func users() async throws(StorageError) -> [User] { stored.withLock { Array($0.values) } }
}

@Suite("LoginService")
struct LoginServiceTests {
    static let password = "correct horse battery staple"
    static let alice = User(username: "alice", passwordHash: try! PasswordHash.make(password), createdAt: Date(timeIntervalSince1970: 0))
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    func failure(_ body: () async throws(LoginService.Failure) -> User) async -> LoginService.Failure? {
        do { _ = try await body(); return nil } catch { return error }
    }

    @Test("five failures lock a username for the window, at every instance sharing the counters; the lock ends with it")
    func sharedLockout() async throws {
        let users = CountingUserStore([Self.alice])
        let attempts = MemorySignInAttemptStore()
        let clock = FixedClock(t0)
        // Two instances of the daemon: their own services, one storage.
        let first = LoginService(users: users, attempts: attempts, clock: clock)
        let second = LoginService(users: users, attempts: attempts, clock: clock)
        for index in 0..<5 {
            let service = index % 2 == 0 ? first : second
            #expect(await failure { () async throws(LoginService.Failure) in
                try await service.authenticate(username: "alice", password: "guess \(index)", address: "192.0.2.\(index)")
            } == .invalidCredentials)
        }
        // Even the right password is refused now, at either instance, with the time left to wait.
        #expect(await failure { () async throws(LoginService.Failure) in
            try await second.authenticate(username: "ALICE", password: Self.password, address: "198.51.100.1")
        } == .throttled(retryAfter: 300))
        clock.advance(120)
        #expect(await failure { () async throws(LoginService.Failure) in
            try await first.authenticate(username: "alice", password: Self.password, address: "198.51.100.2")
        } == .throttled(retryAfter: 180))
        clock.advance(181)
        let user = try await first.authenticate(username: "alice", password: Self.password, address: "198.51.100.3")
        #expect(user.username == "alice")
    }

    @Test("a success takes its attempt back; an interaction and an address are throttled whatever the usernames")
    func interactionAndAddress() async throws {
        let users = CountingUserStore([Self.alice])
        let attempts = MemorySignInAttemptStore()
        let clock = FixedClock(t0)
        let service = LoginService(users: users, attempts: attempts, clock: clock, maximumFailures: 5, maximumAddressFailures: 8)
        for _ in 0..<10 { _ = try await service.authenticate(username: "alice", password: Self.password, address: "192.0.2.1", interaction: "i-1") }
        for index in 0..<5 {
            #expect(await failure { () async throws(LoginService.Failure) in
                try await service.authenticate(username: "user\(index)", password: "x", address: "192.0.2.1", interaction: "i-1")
            } == .invalidCredentials)
        }
        #expect(await failure { () async throws(LoginService.Failure) in
            try await service.authenticate(username: "alice", password: Self.password, address: "192.0.2.1", interaction: "i-1")
        } == .throttled(retryAfter: 300))
        // Another interaction from the same address goes on, until the address has had its 8 failures.
        #expect(try await service.authenticate(username: "alice", password: Self.password, address: "192.0.2.1", interaction: "i-2").username == "alice")
        for index in 0..<2 {
            #expect(await failure { () async throws(LoginService.Failure) in
                try await service.authenticate(username: "other\(index)", password: "x", address: "192.0.2.1", interaction: "i-3")
            } == .invalidCredentials)
        }
        #expect(await failure { () async throws(LoginService.Failure) in
            try await service.authenticate(username: "alice", password: Self.password, address: "192.0.2.1", interaction: "i-4")
        } == .throttled(retryAfter: 300))
        #expect(try await service.authenticate(username: "alice", password: Self.password, address: "192.0.2.2", interaction: "i-5").username == "alice")
    }

    @Test("an over-long or malformed username is refused before any lookup and never becomes a counter key")
    func boundedUsernames() async throws {
        let users = CountingUserStore([Self.alice])
        let attempts = MemorySignInAttemptStore()
        let service = LoginService(users: users, attempts: attempts, clock: FixedClock(t0))
        for name in [String(repeating: "a", count: 100_000), String(repeating: "a", count: 65), "a\u{0301}" + String(repeating: "\u{0301}", count: 300), "a b", ""] {
            #expect(await failure { () async throws(LoginService.Failure) in
                try await service.authenticate(username: name, password: "x", address: nil)
            } == .invalidCredentials)
        }
        #expect(users.lookupCount == 0)
        #expect(attempts.count == 0)
    }

    @Test("a full line of waiting sign-ins is turned away at once as busy, and that attempt is not counted")
    func busy() async throws {
        let attempts = MemorySignInAttemptStore()
        let pool = PasswordHashPool(width: 1, maximumWaiting: 0)
        let service = LoginService(users: CountingUserStore([Self.alice]), attempts: attempts, clock: FixedClock(t0), hashing: pool)
        let outcomes = await withTaskGroup(of: LoginService.Failure?.self) { group in
            for _ in 0..<6 {
                group.addTask { await failure { () async throws(LoginService.Failure) in
                    try await service.authenticate(username: "alice", password: Self.password, address: nil)
                } }
            }
            var all: [LoginService.Failure?] = []
            for await outcome in group { all.append(outcome) }
            return all
        }
        #expect(outcomes.contains(nil))
        #expect(outcomes.contains(.busy))
        // Busy attempts were forgiven like successes: the user is not locked.
        #expect(try await service.authenticate(username: "alice", password: Self.password, address: nil).username == "alice")
    }
}
