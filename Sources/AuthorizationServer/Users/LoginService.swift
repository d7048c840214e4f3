public import Foundation
import OpenSSLKit

/// Checks PSU passwords, with throttling (CWE-307; PSD2 RTS Art. 4(3)(d)): after `maximumFailures` failures
/// within `window` for one username or one interaction, or `maximumAddressFailures` for one client address,
/// further attempts are refused until the window passes. The counters live in the shared storage, so several
/// instances share them. The same answer for an unknown user and a wrong password, and the same work (a
/// dummy hash), so names cannot be probed. Hashing runs on its own bounded pool, never on the cooperative one.
public final class LoginService: Sendable {
    public enum Failure: Error, Sendable, Equatable {
        case invalidCredentials
        /// Too many failures for the user, the address or the interaction: wait `retryAfter` seconds.
        case throttled(retryAfter: Int)
        /// Too many sign-ins are being checked at once: try again in a moment.
        case busy
        /// The failure counters could not be read or written: refused (fail closed).
        case unavailable
    }

    /// Longer names cannot be valid (`User.isValidName`): refused before any lookup or counter key.
    public static let maximumUsernameBytes = 256

    let users: any UserStore
    let attempts: any SignInAttemptStore
    let clock: any WallClock
    let maximumFailures: Int
    let maximumAddressFailures: Int
    let window: TimeInterval
    let hashing: PasswordHashPool
    private let dummyHash: String

    public init(
        users: any UserStore, attempts: any SignInAttemptStore, clock: any WallClock, maximumFailures: Int = 5, maximumAddressFailures: Int = 20,
        window: TimeInterval = 300, hashing: PasswordHashPool = PasswordHashPool()
    ) {
        self.users = users
        self.attempts = attempts
        self.clock = clock
        self.maximumFailures = maximumFailures
        self.maximumAddressFailures = maximumAddressFailures
        self.window = window
        self.hashing = hashing
        dummyHash = (try? PasswordHash.make(SystemEntropy().token())) ?? ""
    }

    /// `address` is the client's (behind a trusted proxy, the forwarded one); `interaction` the browser
    /// interaction the form belongs to.
    public func authenticate(username: String, password: String, address: String?, interaction: String? = nil) async throws(Failure) -> User {
        let now = clock.now()
        let validName = username.utf8.count <= Self.maximumUsernameBytes && User.isValidName(username)
        var keys: [(name: String, limit: Int)] = []
        if validName { keys.append(("user:" + username.lowercased(), maximumFailures)) }
        if let address { keys.append(("address:" + address, maximumAddressFailures)) }
        if let interaction { keys.append(("interaction:" + interaction, maximumFailures)) }
        let hashes = keys.map { Crypto.sha256($0.name) }
        // The attempt counts as a failure before the (slow) hash, atomically in storage, so parallel attempts at
        // any instance cannot all pass the limit; a success takes it back.
        if !hashes.isEmpty {
            let counts: [SignInAttemptCount]
            do { counts = try await attempts.countSignInAttempt(keys: hashes, now: now, window: window) } catch { throw .unavailable }
            let blocking = zip(keys, counts).filter { $0.1.failures > $0.0.limit }.map(\.1.windowEnds)
            if let until = blocking.max() { throw .throttled(retryAfter: max(1, Int(until.timeIntervalSince(now).rounded(.up)))) }
        }
        guard validName else { throw .invalidCredentials }
        let user = (try? await users.user(named: username)) ?? nil
        let encoded = user?.passwordHash ?? dummyHash
        guard let matches = await hashing.run({ PasswordHash.verify(password, against: encoded) }) else {
            // Not tried, so not a failure.
            try? await attempts.forgiveSignInAttempt(keys: hashes, now: now)
            throw .busy
        }
        guard matches, let user else { throw .invalidCredentials }
        try? await attempts.forgiveSignInAttempt(keys: hashes, now: now)
        return user
    }
}
