import Foundation
public import JOSE

/// Grant Management for OAuth 2.0 (draft -02 §6): the grant management endpoint `<issuer>/grants/{grant_id}`.
/// The client presents an access token it obtained (client credentials) with scope `grant_management_query`
/// (`GET`, §6.4) or `grant_management_revoke` (`DELETE`, §6.5), sender-constrained exactly as at userinfo
/// (certificate binding, DPoP). Only the owning client's grants exist for it: another client's answers as unknown.
public struct GrantManagementService: Sendable {
    /// Draft -02 §6.1: the scopes of the two management requests.
    public static let queryScope = "grant_management_query"
    public static let revokeScope = "grant_management_revoke"
    /// Draft -02 §5: the actions offered (`grant_management_actions_supported`).
    public static let actionsSupported = GrantManagementAction.allCases.map(\.rawValue)
    /// The path of the endpoint under the issuer.
    public static let path = "/grants"

    let consents: any ConsentStore
    let tokens: any TokenStore
    let resource: UserinfoService
    let clock: any WallClock

    /// `resource` checks the access token's sender constraint (the userinfo rule, one home).
    public init(consents: any ConsentStore, tokens: any TokenStore, resource: UserinfoService, clock: any WallClock) {
        self.consents = consents
        self.tokens = tokens
        self.resource = resource
        self.clock = clock
    }

    /// What a management request found.
    public enum Answer: Sendable, Equatable {
        /// `GET`: the grant (draft -02 §6.4.2).
        case grant([String: JSON])
        /// `DELETE`: revoked with its tokens (§6.5.2: 204).
        case revoked
        /// Unknown, or another client's (§6.4.2 / §6.5.2: 404).
        case notFound
    }

    /// Why a management request was refused: `invalid_token` (401) or `insufficient_scope` (403, RFC 6750 §3.1),
    /// or storage could not answer (`temporarily_unavailable`, 503: neither the token nor the grant is at fault, so
    /// no `WWW-Authenticate` challenge and never a 404 that would call an existing grant unknown).
    public enum Refusal: Error, Sendable {
        case invalidToken(OAuthError)
        case insufficientScope(String)
        case unavailable(OAuthError)
    }

    /// `GET /grants/{grant_id}`.
    public func query(grantID: String, accessToken: String?, scheme: UserinfoService.Scheme, certificate: ClientCertificate?) async throws(Refusal)
        -> Answer
    {
        let clientID = try await authorize(accessToken, scope: Self.queryScope, scheme: scheme, certificate: certificate)
        let found: Consent?
        do { found = try await consents.consent(id: grantID) } catch {
            throw .unavailable(OAuthError(.temporarilyUnavailable, "the grant could not be read now", detail: error.description))
        }
        guard let consent = found, consent.clientID == clientID else { return .notFound }
        return .grant(Self.document(consent, now: clock.now()))
    }

    /// `DELETE /grants/{grant_id}`: the consent is revoked with every refresh and access token issued under it, in one
    /// transaction (`Consent.revokedByClient`; a consumed single payment too). A grant already ended (revoked,
    /// rejected, expired) answers 404.
    public func revoke(grantID: String, accessToken: String?, scheme: UserinfoService.Scheme, certificate: ClientCertificate?) async throws(Refusal)
        -> Answer
    {
        let clientID = try await authorize(accessToken, scope: Self.revokeScope, scheme: scheme, certificate: certificate)
        let now = clock.now()
        let outcome: ConsentOutcome?
        do {
            outcome = try await consents.updateConsent(id: grantID) { consent in
                guard consent.clientID == clientID else { return StoredTransition(.notYours) }
                return consent.revokedByClient(at: now)
            }
        } catch {
            throw .unavailable(OAuthError(.temporarilyUnavailable, "the grant could not be revoked now", detail: error.description))
        }
        guard case .done? = outcome else { return .notFound }
        return .revoked
    }

    /// The access token's client, when the token is active, carries `scope`, and is presented by its holder.
    func authorize(_ accessToken: String?, scope: String, scheme: UserinfoService.Scheme, certificate: ClientCertificate?) async throws(Refusal)
        -> String
    {
        guard let accessToken, !accessToken.isEmpty else { throw .invalidToken(OAuthError(.invalidToken, "an access token is required")) }
        let found: AccessTokenRecord?
        do { found = try await tokens.accessToken(hash: TokenIssuer.hash(accessToken)) } catch {
            throw .unavailable(OAuthError(.temporarilyUnavailable, "the access token could not be checked now", detail: error.description))
        }
        guard let record = found, record.isActive(at: clock.now()) else {
            throw .invalidToken(OAuthError(.invalidToken, "the access token is not valid here"))
        }
        do { try await resource.checkSenderConstraint(record, accessToken: accessToken, scheme: scheme, certificate: certificate) } catch {
            throw .invalidToken(error)
        }
        guard record.scope.split(separator: " ").contains(Substring(scope)) else { throw .insufficientScope(scope) }
        return record.clientID
    }

    /// Draft -02 §6.4.2: `scopes` (one entry per scope, `{"scope": …}`), `claims` (the OpenID claims requested),
    /// `authorization_details`; beside them the grant's status and times (fapid's members, in the draft's spirit of
    /// "additional members").
    static func document(_ consent: Consent, now: Date) -> [String: JSON] {
        var document: [String: JSON] = [
            "scopes": .array(consent.scope.split(separator: " ").map { .object(["scope": .string(String($0))]) }),
            "status": .string(consent.status(at: now).rawValue),
            "created_at": .int(Int64(consent.createdAt.timeIntervalSince1970)),
            "updated_at": .int(Int64(consent.updatedAt.timeIntervalSince1970)),
            "expires_at": .int(Int64(consent.expiresAt.timeIntervalSince1970)),
        ]
        if !(consent.authorizationDetails.arrayValue ?? []).isEmpty { document["authorization_details"] = consent.authorizationDetails }
        if let authorisedAt = consent.authorisedAt { document["authorised_at"] = .int(Int64(authorisedAt.timeIntervalSince1970)) }
        return document
    }
}
