public import Foundation
import JOSE
import Synchronization

/// Checks PSU passwords, with throttling: after `maximumFailures` failures within `window` for one
/// username or one address, further attempts are refused until the window passes. The same answer for
/// an unknown user and a wrong password, and the same work (a dummy hash), so names cannot be probed.
public final class LoginService: Sendable {
    public enum Failure: Error, Sendable, Equatable {
        case invalidCredentials
        case throttled
    }

    let users: any UserStore
    let clock: any Clock
    let maximumFailures: Int
    let window: TimeInterval
    private let failures = Mutex<[String: [Date]]>([:])
    private let dummyHash: String

    public init(users: any UserStore, clock: any Clock, maximumFailures: Int = 5, window: TimeInterval = 300) {
        self.users = users
        self.clock = clock
        self.maximumFailures = maximumFailures
        self.window = window
        dummyHash = (try? PasswordHash.make(Base64URLRandom.value())) ?? ""
    }

    public func authenticate(username: String, password: String, address: String?) async throws(Failure) -> User {
        let now = clock.now()
        // No address (behind a shared proxy): by user only, never under one shared key all PSUs would fill.
        let keys = ["user:" + username.lowercased()] + (address.map { ["address:" + $0] } ?? [])
        // The attempt counts as a failure before the (slow) hash, in the same critical section as the check,
        // so parallel attempts cannot all pass the limit; a success takes it back.
        let allowed = failures.withLock { all -> Bool in
            if all.count > 100_000 { all = all.filter { $0.value.contains { now.timeIntervalSince($0) < window } } }
            let blocked = keys.contains { key in (all[key] ?? []).filter { now.timeIntervalSince($0) < window }.count >= maximumFailures }
            if blocked { return false }
            for key in keys { all[key] = (all[key] ?? []).filter { now.timeIntervalSince($0) < window } + [now] }
            return true
        }
        guard allowed else { throw .throttled }
        let user = (try? await users.user(named: username)) ?? nil
        let valid = PasswordHash.verify(password, against: user?.passwordHash ?? dummyHash) && user != nil
        guard valid, let user else { throw .invalidCredentials }
        failures.withLock { all in
            for key in keys {
                if let index = all[key]?.lastIndex(of: now) { all[key]?.remove(at: index) }
            }
        }
        return user
    }
}

enum Base64URLRandom {
    static func value() -> String { Crypto.randomToken() }
}
