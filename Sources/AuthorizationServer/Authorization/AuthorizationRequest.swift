public import JOSE
import OpenSSLKit

/// The parameters of an authorization request, as they came in the signed request object (FAPI 1
/// Advanced §5.2.2-9: only the signed parameters count).
public struct AuthorizationRequest: Sendable, Equatable {
    public var clientID: String
    public var responseType: String
    public var redirectURI: String
    public var scopes: [String]
    public var state: String?
    public var nonce: String?
    /// The PKCE S256 challenge; empty when the request sent none (allowed by value only, FAPI 1 Advanced §5.2.2-18).
    public var codeChallenge: String
    public var responseMode: String?
    public var maxAge: Int?
    public var prompt: String?
    public var acrValues: String?
    /// The OIDC `claims` request, kept as sent (`id_token.acr`, Open Banking `openbanking_intent_id`).
    public var claims: JSON?
    /// RFC 9449 §10: the thumbprint of the DPoP key the code is bound to (`dpop_jkt`, or the PAR proof's key).
    public var dpopJKT: String?
    /// RFC 9396 §2: the `authorization_details` array as sent (a JSON array, checked against the client and the
    /// types by `AuthorizationDetailsPolicy` at PAR and `/authorize`).
    public var authorizationDetails: JSON?
    /// Grant Management (draft -02 §4.1): the grant a `merge` or `replace` acts on.
    public var grantID: String?
    /// Grant Management (draft -02 §4.1): `create`, `merge` or `replace`.
    public var grantManagementAction: GrantManagementAction?
    /// The consent this request is bound to, decided by the server (the consent PAR or `/authorize` created, or the
    /// intent `openbanking_intent_id` names, after the lookup). Never read from a client: `init(clientJSON:)` drops
    /// it, so only the stored form of a request (PAR storage, PSU interactions) carries it.
    public var consentID: String?
    /// Largest `claims` accepted, serialized.
    public static let maximumClaimsBytes = 4096
    /// The member the server's own `consentID` is stored under; a client's request never sets it.
    public static let consentIDMember = "fapid_consent_id"

    /// The Open Banking intent id asked for in `claims.id_token.openbanking_intent_id.value`.
    /// `claims` is checked at parsing (`intentID(in:)`), so this is the one value the request names, if any.
    public var intentID: String? { try? Self.intentID(in: claims) }

    /// The Open Banking intent id `claims` asks for (`id_token` or `userinfo` `openbanking_intent_id.value`): a
    /// string, the same in both when both name one (`invalid_request` otherwise: the lookup and the ID Token would
    /// read different values). Nil when neither names a value.
    public static func intentID(in claims: JSON?) throws(OAuthError) -> String? {
        var found: String?
        for member in ["id_token", "userinfo"] {
            guard let value = claims?[member]?["openbanking_intent_id"]?["value"] else { continue }
            guard let text = value.stringValue else { throw OAuthError(.invalidRequest, "openbanking_intent_id value must be a string") }
            if let found, found != text { throw OAuthError(.invalidRequest, "openbanking_intent_id names two different values") }
            found = text
        }
        return found
    }

    public var json: JSON {
        var members: [String: JSON] = [
            "client_id": .string(clientID), "response_type": .string(responseType), "redirect_uri": .string(redirectURI),
            "scope": .string(scopes.joined(separator: " ")),
        ]
        if !codeChallenge.isEmpty {
            members["code_challenge"] = .string(codeChallenge)
            members["code_challenge_method"] = "S256"
        }
        if let state { members["state"] = .string(state) }
        if let nonce { members["nonce"] = .string(nonce) }
        if let responseMode { members["response_mode"] = .string(responseMode) }
        if let maxAge { members["max_age"] = .int(Int64(maxAge)) }
        if let prompt { members["prompt"] = .string(prompt) }
        if let acrValues { members["acr_values"] = .string(acrValues) }
        if let claims { members["claims"] = claims }
        if let dpopJKT { members["dpop_jkt"] = .string(dpopJKT) }
        if let authorizationDetails { members["authorization_details"] = authorizationDetails }
        if let grantID { members["grant_id"] = .string(grantID) }
        if let grantManagementAction { members["grant_management_action"] = .string(grantManagementAction.rawValue) }
        if let consentID { members[Self.consentIDMember] = .string(consentID) }
        return .object(members)
    }

    /// A request as a client sent it (request object members or form parameters): like `init(json:)`, but the
    /// server's own members (`consentIDMember`) are ignored, so no client can name a consent it was not given.
    public init(clientJSON json: JSON) throws(OAuthError) {
        guard var object = json.objectValue else { throw OAuthError(.invalidRequestObject, "the request object is not a JSON object") }
        object[Self.consentIDMember] = nil
        try self.init(json: .object(object))
    }

    public init(json: JSON) throws(OAuthError) {
        guard let object = json.objectValue else { throw OAuthError(.invalidRequestObject, "the request object is not a JSON object") }
        func string(_ name: String) throws(OAuthError) -> String? {
            guard let value = object[name] else { return nil }
            guard let text = value.stringValue else { throw OAuthError(.invalidRequestObject, "\(name) must be a string") }
            return text
        }
        func required(_ name: String) throws(OAuthError) -> String {
            guard let text = try string(name), !text.isEmpty else { throw OAuthError(.invalidRequest, "\(name) is required in the request object") }
            return text
        }
        clientID = try required("client_id")
        responseType = try required("response_type")
        redirectURI = try required("redirect_uri")
        scopes = (try string("scope") ?? "").split(separator: " ").map(String.init)
        state = try string("state")
        nonce = try string("nonce")
        codeChallenge = try string("code_challenge") ?? ""
        let method = try string("code_challenge_method")
        responseMode = try string("response_mode")
        prompt = try string("prompt")
        acrValues = try string("acr_values")
        claims = object["claims"]
        // RFC 9449 §10: a JWK SHA-256 thumbprint, base64url (43 characters).
        dpopJKT = try string("dpop_jkt")
        if let dpopJKT, dpopJKT.utf8.count != 43 || (try? Base64URL.decode(dpopJKT))?.count != 32 {
            throw OAuthError(.invalidRequest, "dpop_jkt must be a base64url SHA-256 JWK thumbprint")
        }
        // The whole request is stored with every PSU interaction: a bounded `claims` keeps each row small (CWE-400).
        if let claims, claims.bytes.count > Self.maximumClaimsBytes {
            throw OAuthError(.invalidRequest, "claims is too large")
        }
        _ = try Self.intentID(in: claims)
        // RFC 9396 §2 / §5: a JSON array of objects, bounded by the policy's one set of bounds (it is stored with the
        // request, CWE-400); the full validation for the client follows at the consent binding.
        if let details = object["authorization_details"] {
            _ = try AuthorizationDetailsPolicy.checkShape(details)
            authorizationDetails = details
        } else {
            authorizationDetails = nil
        }
        // Grant Management draft -02 §4.1.
        grantID = try string("grant_id")
        if let grantID, grantID.isEmpty || grantID.utf8.count > 128 { throw OAuthError(.invalidRequest, "grant_id is malformed") }
        if let action = try string("grant_management_action") {
            guard let known = GrantManagementAction(rawValue: action) else {
                throw OAuthError(.invalidRequest, "grant_management_action must be create, merge or replace")
            }
            grantManagementAction = known
        } else {
            grantManagementAction = nil
        }
        consentID = try string(Self.consentIDMember)
        if let value = object["max_age"] {
            guard let number = value.int64Value ?? (value.stringValue).flatMap({ Int64($0) }), number >= 0 else {
                throw OAuthError(.invalidRequest, "max_age must be a non-negative integer")
            }
            maxAge = Int(number)
        } else {
            maxAge = nil
        }
        // PKCE (RFC 7636) with S256 only, when present; whether it is required is RequestChecks' rule (the pkce row).
        if !codeChallenge.isEmpty || method != nil {
            guard method == "S256" else { throw OAuthError(.invalidRequest, "code_challenge_method must be S256") }
            guard (43...128).contains(codeChallenge.count), (try? Base64URL.decode(codeChallenge)) != nil else {
                throw OAuthError(.invalidRequest, "code_challenge must be a base64url SHA-256 value")
            }
        }
    }
}

/// Grant Management for OAuth 2.0 (draft -02 §4.1): what an authorization request does to a grant.
public enum GrantManagementAction: String, Sendable, CaseIterable {
    /// A new grant (the default without an action).
    case create
    /// The grant `grant_id` names, with what this request adds (scopes and details united).
    case merge
    /// The grant `grant_id` names, holding only what this request asks for.
    case replace
}
