/// Every error the server sends on the wire, at every endpoint: a code from one closed set and a public
/// description. `detail` is for the log only. (The OAuth, CIBA and registration families share the
/// shape, the status rule and the renderer, so they are one type.)
public struct OAuthError: Error, Sendable, CustomStringConvertible {
    /// RFC 6749 §4.1.2.1 and §5.2, RFC 7009 §2.2.1, RFC 7662 §2.3, RFC 6750 §3.1, RFC 9101 §6.2,
    /// OIDC Core §3.1.2.6, CIBA Core §11 and §13, RFC 7591 §3.2.2.
    public enum Code: String, Sendable, CaseIterable {
        case invalidRequest = "invalid_request"
        case invalidClient = "invalid_client"
        case invalidGrant = "invalid_grant"
        case unauthorizedClient = "unauthorized_client"
        case unsupportedGrantType = "unsupported_grant_type"
        case invalidScope = "invalid_scope"
        case unsupportedTokenType = "unsupported_token_type"
        case accessDenied = "access_denied"
        /// CIBA Core §11.
        case authorizationPending = "authorization_pending"
        case slowDown = "slow_down"
        case expiredToken = "expired_token"
        /// OIDC Core §3.1.2.6, for `prompt=none`.
        case loginRequired = "login_required"
        case consentRequired = "consent_required"
        /// RFC 6750 §3.1, at resource endpoints (userinfo).
        case invalidToken = "invalid_token"
        /// RFC 9101 §6.2: the request object is invalid.
        case invalidRequestObject = "invalid_request_object"
        /// RFC 9101 §6.2: `request_uri` is invalid, expired or already used.
        case invalidRequestURI = "invalid_request_uri"
        case serverError = "server_error"
        case temporarilyUnavailable = "temporarily_unavailable"
        /// CIBA Core §13: the authentication request's hint names no known user.
        case unknownUserID = "unknown_user_id"
        /// CIBA Core §13: `binding_message` is missing or unacceptable.
        case invalidBindingMessage = "invalid_binding_message"
        /// CIBA Core §13: a user code is required and was not sent.
        case missingUserCode = "missing_user_code"
        /// CIBA Core §13: the user code is wrong (or user codes are not supported).
        case invalidUserCode = "invalid_user_code"
        /// RFC 7591 §3.2.2: the software statement is invalid.
        case invalidSoftwareStatement = "invalid_software_statement"
        /// RFC 7591 §3.2.2: the software statement is not approved for this server.
        case unapprovedSoftwareStatement = "unapproved_software_statement"
        /// RFC 7591 §3.2.2: a redirect URI is not acceptable.
        case invalidRedirectURI = "invalid_redirect_uri"
        /// RFC 7591 §3.2.2: a client metadata field is not acceptable.
        case invalidClientMetadata = "invalid_client_metadata"
        /// RFC 9396 §5: `authorization_details` is malformed, of an unknown or unregistered type, or not allowed.
        case invalidAuthorizationDetails = "invalid_authorization_details"
        /// Grant Management draft -02 §5.2: `grant_id` names no grant of this client (and user).
        case invalidGrantID = "invalid_grant_id"
        /// RFC 9449 §5, §7.1: the DPoP proof is missing where required, or invalid.
        case invalidDPoPProof = "invalid_dpop_proof"
        /// RFC 9449 §8, §9: the proof must carry the nonce the server provides (sent in `DPoP-Nonce`).
        case useDPoPNonce = "use_dpop_nonce"
    }

    public let code: Code
    /// Safe to send: says what is wrong with the request, never why internally.
    public let description: String
    /// For the log: the reason in full. Never sent.
    public let detail: String
    /// For `invalid_client`: why, as a short code from a closed set (metrics labels, audit events).
    public var failure: ClientAuthenticationFailure?

    public init(_ code: Code, _ description: String, detail: String? = nil, failure: ClientAuthenticationFailure? = nil) {
        self.code = code
        self.description = ErrorDescription.wireSafe(description)
        self.detail = detail ?? description
        self.failure = failure
    }

    /// The one status rule: 401 for `invalid_client` (RFC 6749 §5.2) and `invalid_token` (RFC 6750 §3.1,
    /// RFC 7592 §2), 500 and 503 for server trouble, 400 otherwise (RFC 7591 §3.2.2 and CIBA Core §13 too).
    public var status: Int {
        switch code {
        case .invalidClient, .invalidToken: 401
        case .serverError: 500
        case .temporarilyUnavailable: 503
        default: 400
        }
    }

    /// Anything unexpected: logged with its detail, sent as a bare `server_error`.
    public static func server(_ detail: String) -> OAuthError {
        OAuthError(.serverError, "the server could not complete the request", detail: detail)
    }

    public static func invalidClient(_ failure: ClientAuthenticationFailure, _ detail: String) -> OAuthError {
        OAuthError(.invalidClient, "client authentication failed", detail: detail, failure: failure)
    }
}

extension OAuthError {
    /// A storage failure: `server_error`, with the storage's reason in the detail only.
    init(_ error: StorageError, _ description: String = "the server could not complete the request") {
        self.init(.serverError, description, detail: "storage: \(error)")
    }
}

/// Why client authentication failed, in a closed set (bounded metric labels, audit reasons).
public enum ClientAuthenticationFailure: String, Sendable, CaseIterable {
    case sharedSecret = "shared_secret"
    case noCredentials = "no_credentials"
    case unknownClient = "unknown_client"
    case noCertificate = "no_certificate"
    case certificateMismatch = "certificate_mismatch"
    case certificateUntrusted = "certificate_untrusted"
    case certificateExpired = "certificate_expired"
    case certificateStatus = "certificate_status"
    case assertionInvalid = "assertion_invalid"
    case assertionReplayed = "assertion_replayed"
    case wrongMethod = "wrong_method"
    case resourceServer = "resource_server"
}
