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
        let keys = ["user:" + username.lowercased(), "address:" + (address ?? "-")]
        let blocked = failures.withLock { all in
            keys.contains { key in (all[key] ?? []).filter { now.timeIntervalSince($0) < window }.count >= maximumFailures }
        }
        guard !blocked else { throw .throttled }
        let user = (try? await users.user(named: username)) ?? nil
        let valid = PasswordHash.verify(password, against: user?.passwordHash ?? dummyHash) && user != nil
        guard valid, let user else {
            failures.withLock { all in
                for key in keys { all[key] = (all[key] ?? []).filter { now.timeIntervalSince($0) < window } + [now] }
            }
            throw .invalidCredentials
        }
        return user
    }
}

enum Base64URLRandom {
    static func value() -> String { Crypto.randomToken() }
}
