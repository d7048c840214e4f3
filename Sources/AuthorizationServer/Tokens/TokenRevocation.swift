public import Foundation

/// One set of stored tokens to mark revoked (at `at`, unless revoked already), as the core lists them for a
/// store to apply in the transaction of the change that calls for it. The store only knows how to find each
/// set; which sets go with which change is decided in the core (`CodeRedemption`, `StoredRevocation`).
public struct TokenRevocation: Sendable, Equatable {
    public enum Target: Sendable, Equatable {
        /// Every access and refresh token of the client.
        case client(String)
        /// One access token, if it is the client's.
        case accessToken(hash: [UInt8], clientID: String)
        /// One refresh token, if it is the client's.
        case refreshToken(hash: [UInt8], clientID: String)
        /// The access tokens issued from a code or refresh token (`originHash`), of `clientID` when given.
        case accessTokensIssuedFrom(origin: [UInt8], clientID: String?)
        /// The refresh tokens issued from a code.
        case refreshTokensIssuedFrom(code: [UInt8])
        /// The access tokens issued from any refresh token issued from a code.
        case accessTokensRefreshedFrom(code: [UInt8])
        /// Every access and refresh token issued under the consent (`grant_id`).
        case grant(String)
    }

    public var target: Target
    public var at: Date

    public init(_ target: Target, at: Date) {
        self.target = target
        self.at = at
    }
}
