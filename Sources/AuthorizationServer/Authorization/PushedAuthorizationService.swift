public import Foundation
import OpenSSLKit

/// A pushed authorization request as stored: keyed by the hash of its `request_uri`.
public struct PushedRequest: Sendable, Equatable {
    public var uriHash: [UInt8]
    public var clientID: String
    public var request: AuthorizationRequest
    public var expiresAt: Date

    public init(uriHash: [UInt8], clientID: String, request: AuthorizationRequest, expiresAt: Date) {
        self.uriHash = uriHash
        self.clientID = clientID
        self.request = request
        self.expiresAt = expiresAt
    }
}

public protocol PushedRequestStore: Sendable {
    func insertPushedRequest(_ pushed: PushedRequest) async throws(StorageError)
    /// The request, if it exists, belongs to `clientID`, has not expired and was not used.
    func pushedRequest(uriHash: [UInt8], clientID: String, now: Date) async throws(StorageError) -> PushedRequest?
    /// Marks it used, atomically; false when it was already used or has expired (RFC 9126 §4: one-time use).
    func consumePushedRequest(uriHash: [UInt8], clientID: String, now: Date) async throws(StorageError) -> Bool
}

/// RFC 9126 pushed authorization requests: an authenticated client posts its signed request object (or, when its
/// profile allows, the form parameters) and gets a short-lived, single-use `request_uri`.
public struct PushedAuthorizationService: Sendable {
    public static let uriPrefix = "urn:ietf:params:oauth:request_uri:"

    let authenticator: ClientAuthenticator
    let validator: RequestObjectValidator
    let store: any PushedRequestStore
    let clock: any WallClock
    /// `expires_in` of a request_uri: short (FAPI 2 SP §5.3.1.2-12: under 600 s).
    public let lifetime: TimeInterval
    let entropy: any EntropySource
    /// RFC 9449 §10.1: checks a DPoP proof sent to PAR; nil where DPoP is not offered.
    let dpop: DPoPProofValidator?
    /// RFC 9396 §3 / Grant Management: the consent a pushed request carries is created (or looked up) here.
    let consents: ConsentService?

    public init(
        authenticator: ClientAuthenticator, validator: RequestObjectValidator, store: any PushedRequestStore, clock: any WallClock,
        lifetime: TimeInterval = 90, entropy: any EntropySource = SystemEntropy(), dpop: DPoPProofValidator? = nil,
        consents: ConsentService? = nil
    ) {
        self.consents = consents
        self.dpop = dpop
        self.entropy = entropy
        self.authenticator = authenticator
        self.validator = validator
        self.store = store
        self.clock = clock
        self.lifetime = lifetime
    }

    /// `proof`: the request's DPoP header values, method and URL; a valid proof binds the code to its key (RFC 9449 §10).
    public func push(parameters: [String: String], credentials: ClientCredentials, proof: DPoPRequest? = nil) async throws(OAuthError) -> (
        requestURI: String, expiresIn: Int
    ) {
        let client = try await authenticator.authenticate(credentials)
        var subject = RequestCheckSubject(endpoint: .pushed, client: client.client, parameters: parameters)
        try await RequestChecks.run(&subject, RequestCheckEnvironment(objects: validator, now: clock.now()))
        guard var request = subject.request else { throw OAuthError.server("the checks read no request") }
        request.dpopJKT = client.client.usesDPoP ? try await Self.dpopBinding(request.dpopJKT, proof: proof, validator: dpop) : nil
        // The consent id stays with the stored request (`AuthorizationRequest.consentID`), never with the client.
        if let consents { request = try await consents.bind(request, client: client.client, certificate: client.certificate, origin: .pushedRequest) }
        let uri = Self.uriPrefix + entropy.token()
        let now = clock.now()
        // FAPI 2 SP §5.3.2.2-12: the profile may bound the server's lifetime (under 600 s).
        let lifetime = client.client.policy.maximumPushedRequestLifetime.map { min($0, self.lifetime) } ?? self.lifetime
        let pushed = PushedRequest(uriHash: Crypto.sha256(uri), clientID: client.client.clientID, request: request, expiresAt: now.addingTimeInterval(lifetime))
        do { try await store.insertPushedRequest(pushed) } catch { throw OAuthError(error) }
        return (uri, Int(lifetime))
    }

    /// RFC 9449 §10.1: the key the code will be bound to. A proof at PAR binds the code to its key; `dpop_jkt`, when
    /// also sent, must be that key's thumbprint (`invalid_dpop_proof` otherwise); `dpop_jkt` alone binds as it says.
    public static func dpopBinding(_ requested: String?, proof: DPoPRequest?, validator: DPoPProofValidator?) async throws(OAuthError) -> String? {
        guard let proof, proof.hasProof else { return requested }
        guard let validator else { throw OAuthError(.invalidDPoPProof, "DPoP is not supported here") }
        guard let checked = try await validator.validate(proof) else { return requested }
        if let requested, !Crypto.constantTimeEqual(requested, checked.thumbprint) {
            throw OAuthError(.invalidDPoPProof, "dpop_jkt does not match the DPoP proof key")
        }
        return checked.thumbprint
    }
}
