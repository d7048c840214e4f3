public import Foundation
public import JOSE
public import OpenSSLKit

/// A registered client: its id and its RFC 7591 metadata, validated, with typed views of what the
/// server acts on. `metadata` keeps every registered member, so it can be shown back unchanged.
public struct Client: Sendable {
    public let clientID: String
    public let metadata: [String: JSON]
    public let createdAt: Date

    public let authMethod: ClientAuthMethod
    /// FAPI clients (the default) may use only PS256/ES256 and get certificate-bound tokens.
    public let isFAPI: Bool
    /// The FAPI profile the client follows (`fapi_profile`, default `fapi1-advanced`).
    public let profile: FAPIProfile
    public let scopes: Set<String>
    public let grantTypes: Set<String>
    public let redirectURIs: [String]
    public let jwks: JWKSet?
    public let jwksURI: String?
    public let tlsClientAuthSubjectDN: DistinguishedName?
    public let tlsClientAuthSAN: (kind: TLSClientAuthSAN, value: String)?
    /// RFC 9068 JWT access tokens instead of opaque ones, signed with this algorithm.
    public let jwtAccessTokenAlgorithm: JWSAlgorithm?

    public var name: String? { metadata["client_name"]?.stringValue }

    /// Which `aud` values this client's assertions may carry: FAPI 2.0 §5.3.2.1-8 the issuer alone, FAPI 1 and
    /// CIBA the issuer or an endpoint URL.
    public var assertionAudienceRule: AssertionAudienceRule { policy.assertionAudience }

    /// The rules of the client's profile, as the checks read them.
    public var policy: ProfilePolicy { profile.policy }

    /// Metadata that people read (RFC 7591 §2 human-readable members and contacts).
    static let displayMembers = ["client_name", "client_uri", "logo_uri", "tos_uri", "policy_uri", "contacts"]

    /// OIDC Dynamic Registration §2: registered beside authorization_code by hybrid clients; no token endpoint grant.
    public static let implicitGrantType = "implicit"

    /// Whether every token of this client must be certificate-bound: all FAPI 1 clients, and others that
    /// registered `tls_client_certificate_bound_access_tokens` (RFC 8705 §3.4). A FAPI 2 client's tokens are
    /// certificate-bound unless it registered `dpop_bound_access_tokens` (RFC 9449 §5.2) instead (FAPI 2 SP §5.3.2.1-4:
    /// mTLS or DPoP), so its registered value decides.
    public var requiresBoundTokens: Bool {
        (isFAPI && !profile.isFAPI2) || metadata["tls_client_certificate_bound_access_tokens"]?.boolValue == true
    }

    /// RFC 9449 §5.2 `dpop_bound_access_tokens`: every token request of this client must carry a DPoP proof.
    /// Whether this client's DPoP proofs count (RFC 9449): every client outside FAPI, and FAPI clients whose
    /// profile offers DPoP (`ProfilePolicy.offersDPoP`); for the others the `DPoP` header is ignored.
    public var usesDPoP: Bool { !isFAPI || policy.offersDPoP }

    public var dpopBoundAccessTokens: Bool { metadata["dpop_bound_access_tokens"]?.boolValue == true }

    public enum TLSClientAuthSAN: String, Sendable, CaseIterable {
        case dns = "tls_client_auth_san_dns"
        case uri = "tls_client_auth_san_uri"
        case ip = "tls_client_auth_san_ip"
        case email = "tls_client_auth_san_email"
    }

    /// What a client signs, each with its own registered algorithm (OIDC Registration §2, CIBA Core §4).
    public enum SignedObject: String, Sendable, CaseIterable {
        case clientAssertion = "token_endpoint_auth_signing_alg"
        case requestObject = "request_object_signing_alg"
        case backchannelRequest = "backchannel_authentication_request_signing_alg"
    }

    /// JWS algorithms this client's assertions may use: the registered `token_endpoint_auth_signing_alg`, else
    /// PS256/ES256 for FAPI clients.
    public var allowedSigningAlgorithms: Set<JWSAlgorithm> { allowedAlgorithms(for: .clientAssertion) }

    /// The algorithm registered for `object` when there is one (it alone is then accepted), else the profile's
    /// algorithms for FAPI clients (PS256/ES256; FAPI 2: EdDSA too), and RS256/EdDSA besides for others.
    public func allowedAlgorithms(for object: SignedObject) -> Set<JWSAlgorithm> {
        if let name = metadata[object.rawValue]?.stringValue, let registered = JWSAlgorithm(rawValue: name) { return [registered] }
        return isFAPI ? policy.signingAlgorithms : [.PS256, .ES256, .EdDSA, .RS256]
    }

    /// The JSON shown by `fapictl clients show` and registration responses.
    public var registeredJSON: JSON {
        var object = metadata
        object["client_id"] = .string(clientID)
        object["client_id_issued_at"] = .int(Int64(createdAt.timeIntervalSince1970))
        return .object(object)
    }

    /// Validates `metadata` (RFC 7591 §2, RFC 8705 §2.1.2, FAPI rules) and builds the client.
    /// Errors name the offending field.
    /// `checkDisplayText` is false only for clients read back from storage: one registered before the display-text
    /// rule keeps working, and every place that shows its name escapes it.
    public init(clientID: String, metadata: [String: JSON], createdAt: Date, checkDisplayText: Bool = true) throws(ClientMetadataError) {
        var metadata = metadata
        func string(_ field: String) throws(ClientMetadataError) -> String? {
            guard let value = metadata[field] else { return nil }
            guard let text = value.stringValue, !text.isEmpty else { throw ClientMetadataError(field, "must be a non-empty string") }
            return text
        }
        func strings(_ field: String) throws(ClientMetadataError) -> [String]? {
            guard let value = metadata[field] else { return nil }
            guard let array = value.arrayValue else { throw ClientMetadataError(field, "must be an array of strings") }
            var result: [String] = []
            for entry in array {
                guard let text = entry.stringValue, !text.isEmpty else { throw ClientMetadataError(field, "must be an array of strings") }
                result.append(text)
            }
            return result
        }

        let isFAPI: Bool
        let grantTypesSet: Set<String>
        let scopes: Set<String>
        let jwks: JWKSet?
        let jwksURI: String?
        let jwtAccessTokenAlgorithm: JWSAlgorithm?
        let tlsClientAuthSubjectDN: DistinguishedName?
        let tlsClientAuthSAN: (kind: TLSClientAuthSAN, value: String)?

        if let fapi = metadata["fapi"] {
            guard let flag = fapi.boolValue else { throw ClientMetadataError("fapi", "must be true or false") }
            isFAPI = flag
        } else {
            isFAPI = true
        }
        let profile: FAPIProfile
        if let value = metadata[FAPIProfile.metadataMember] {
            guard let name = value.stringValue, let named = FAPIProfile(rawValue: name) else {
                throw ClientMetadataError(
                    FAPIProfile.metadataMember, "must be one of \(FAPIProfile.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard isFAPI || !named.isFAPI2 else { throw ClientMetadataError(FAPIProfile.metadataMember, "a FAPI 2 client cannot set fapi false") }
            profile = named
        } else {
            profile = .fapi1Advanced
        }

        let method = try string("token_endpoint_auth_method") ?? ClientAuthMethod.tlsClientAuth.rawValue
        guard let authMethod = ClientAuthMethod(rawValue: method) else {
            throw ClientMetadataError(
                "token_endpoint_auth_method",
                "\(method) is not supported; use one of \(ClientAuthMethod.allCases.map(\.rawValue).joined(separator: ", "))"
            )
        }
        metadata["token_endpoint_auth_method"] = .string(method)

        // RFC 7591 §2: omitted grant_types means authorization_code.
        let grantTypes = try strings("grant_types") ?? ["authorization_code"]
        let supported: Set<String> = [
            "client_credentials", "authorization_code", "refresh_token", "urn:openid:params:grant-type:ciba", Self.implicitGrantType,
        ]
        if let unknown = grantTypes.first(where: { !supported.contains($0) }) {
            throw ClientMetadataError("grant_types", "\(unknown) is not supported")
        }
        grantTypesSet = Set(grantTypes)
        metadata["grant_types"] = .array(grantTypes.map { .string($0) })

        let redirectURIs = try strings("redirect_uris") ?? []
        for uri in redirectURIs {
            // FAPI 1 Baseline §5.2.2-20: https only; no fragments (RFC 6749 §3.1.2).
            guard let url = URL(string: uri), url.scheme == "https", url.host != nil, url.fragment == nil else {
                throw ClientMetadataError("redirect_uris", "\(uri) must be an absolute https URI without a fragment")
            }
        }

        scopes = Set((try string("scope") ?? "").split(separator: " ").map(String.init))

        // RFC 9396 §10: the authorization_details types the client may request; whether the server supports each
        // is checked at registration (`checkAuthorizationDetailsTypes`), as pass-through types are a server setting.
        if let types = try strings(Self.authorizationDetailsTypesMember) {
            guard types.count <= 32, Set(types).count == types.count,
                types.allSatisfy({ $0.utf8.count <= 64 && $0.utf8.allSatisfy(AuthorizationDetailsSettings.isTypeNameByte) })
            else {
                throw ClientMetadataError(Self.authorizationDetailsTypesMember, "must be an array of at most 32 distinct type names")
            }
        }

        // Shown to customers and bank staff (consent page, CIBA terminal): printable text only (CWE-150).
        // Language-tagged variants (`client_name#en`, RFC 7591 §2.2) are shown too.
        let shown = metadata.keys.filter { Self.displayMembers.contains(String($0.split(separator: "#", maxSplits: 1).first ?? "")) }
        for field in shown.sorted() where checkDisplayText {
            let values = metadata[field]?.arrayValue ?? metadata[field].map { [$0] } ?? []
            for value in values {
                guard let text = value.stringValue, DisplayText.isSafe(text, scalars: 512, bytes: 2048) else {
                    throw ClientMetadataError(field, "must be printable text without control, format or bidirectional characters")
                }
            }
        }

        // FAPI 1 Advanced §5.2.2-2 / FAPI 2: hybrid, or code (with JARM or PAR). RFC 7591 §2: omitted means code.
        let responseTypes = try strings("response_types") ?? ["code"]
        let allowedResponseTypes: Set<String> = ["code id_token", "code"]
        if let other = responseTypes.first(where: { !allowedResponseTypes.contains($0) }) {
            throw ClientMetadataError("response_types", "\(other) is not supported; use code id_token or code")
        }
        // FAPI 2 SP §5.3.2.2-1: the profile's response types only (code; no hybrid, so no implicit grant either).
        if let other = responseTypes.first(where: { !profile.policy.responseTypes.contains($0) }) {
            throw ClientMetadataError("response_types", "\(other) is not allowed for \(profile.rawValue) clients; use code")
        }
        // OIDC Dynamic Registration §2: a code id_token client registers authorization_code and implicit. implicit is
        // accepted only beside a hybrid response type (it never becomes a grant of the token endpoint), and
        // hybrid clients that omit it (Open Banking UK profiles) stay accepted.
        if grantTypesSet.contains(Self.implicitGrantType) && !responseTypes.contains("code id_token") {
            throw ClientMetadataError("grant_types", "implicit is allowed only for clients registered for response_type code id_token")
        }
        // CIBA Core §4: delivery mode, and an https notification endpoint for ping and push.
        if let mode = try string("backchannel_token_delivery_mode") {
            guard ["poll", "ping", "push"].contains(mode) else {
                throw ClientMetadataError("backchannel_token_delivery_mode", "must be poll, ping or push")
            }
            if mode == "push"
                && (isFAPI || metadata["tls_client_certificate_bound_access_tokens"]?.boolValue == true
                    || metadata["dpop_bound_access_tokens"]?.boolValue == true)
            {
                // Pushed tokens travel without the client's TLS connection, so they cannot be bound (FAPI-CIBA forbids push).
                throw ClientMetadataError("backchannel_token_delivery_mode", "push is not allowed for FAPI clients or clients with bound tokens")
            }
            if mode != "poll" {
                guard let endpoint = try string("backchannel_client_notification_endpoint"), let url = URL(string: endpoint), url.scheme == "https",
                    url.host != nil
                else {
                    throw ClientMetadataError("backchannel_client_notification_endpoint", "\(mode) mode needs an https notification endpoint")
                }
            }
        }

        if metadata["jwks"] != nil && metadata["jwks_uri"] != nil {
            throw ClientMetadataError("jwks", "jwks and jwks_uri must not both be present")
        }
        if let value = metadata["jwks"] {
            guard value.objectValue != nil else { throw ClientMetadataError("jwks", "must be a JWK Set object") }
            do {
                let set = try JWKSet(json: value.bytes)
                guard !set.keys.isEmpty else { throw ClientMetadataError("jwks", "holds no usable key") }
                if let privateKey = set.keys.first(where: { $0.key.isPrivate }) {
                    throw ClientMetadataError("jwks", "key \(privateKey.kid ?? "?") includes private members")
                }
                jwks = set
            } catch let error as JOSEError {
                throw ClientMetadataError("jwks", "invalid: \(error.code.rawValue)")
            } catch let error as ClientMetadataError {
                throw error
            } catch {
                throw ClientMetadataError("jwks", "invalid")
            }
        } else {
            jwks = nil
        }
        if let uri = try string("jwks_uri") {
            guard let url = URL(string: uri), url.scheme == "https", url.host != nil else {
                throw ClientMetadataError("jwks_uri", "must be an https URL")
            }
            jwksURI = uri
        } else {
            jwksURI = nil
        }

        func algorithm(_ field: String) throws(ClientMetadataError) -> JWSAlgorithm? {
            guard let name = try string(field) else { return nil }
            guard let algorithm = JWSAlgorithm(rawValue: name) else { throw ClientMetadataError(field, "\(name) is not supported") }
            if isFAPI && !profile.policy.signingAlgorithms.contains(algorithm) {
                // FAPI 1 Advanced §8.6; FAPI 2 SP §5.4.1-1.
                let allowed = profile.isFAPI2 ? "FAPI 2 clients must use PS256, ES256 or EdDSA" : "FAPI clients must use PS256 or ES256"
                throw ClientMetadataError(field, allowed)
            }
            return algorithm
        }
        // Each registered algorithm is checked here and enforced for its object by `allowedAlgorithms(for:)`.
        for field in ["token_endpoint_auth_signing_alg", "id_token_signed_response_alg", "request_object_signing_alg", "authorization_signed_response_alg", "backchannel_authentication_request_signing_alg"] {
            _ = try algorithm(field)
        }
        if let format = try string("access_token_format") {
            guard format == "jwt" || format == "opaque" else { throw ClientMetadataError("access_token_format", "must be jwt or opaque") }
            if format == "jwt" {
                let signing = try algorithm("access_token_signing_alg") ?? .PS256
                guard JWSAlgorithm.signing.contains(signing) else {
                    throw ClientMetadataError("access_token_signing_alg", "\(signing) cannot sign")
                }
                jwtAccessTokenAlgorithm = signing
            } else {
                jwtAccessTokenAlgorithm = nil
            }
        } else {
            jwtAccessTokenAlgorithm = nil
        }

        var sans: [(TLSClientAuthSAN, String)] = []
        for kind in TLSClientAuthSAN.allCases {
            if let value = try string(kind.rawValue) { sans.append((kind, value)) }
        }
        let subject = try string("tls_client_auth_subject_dn")
        switch authMethod {
        case .tlsClientAuth:
            // RFC 8705 §2.1.2: exactly one of the subject DN or SAN fields.
            guard (subject == nil ? 0 : 1) + sans.count == 1 else {
                throw ClientMetadataError(
                    "tls_client_auth_subject_dn",
                    "tls_client_auth needs exactly one of tls_client_auth_subject_dn or tls_client_auth_san_dns/uri/ip/email"
                )
            }
            if let subject {
                do { tlsClientAuthSubjectDN = try DistinguishedName(rfc4514: subject) } catch {
                    throw ClientMetadataError("tls_client_auth_subject_dn", "not an RFC 4514 distinguished name: \(error)")
                }
            } else {
                tlsClientAuthSubjectDN = nil
            }
            tlsClientAuthSAN = sans.first
        case .selfSignedTLSClientAuth, .privateKeyJWT:
            guard jwks != nil || jwksURI != nil else {
                throw ClientMetadataError("jwks", "\(authMethod.rawValue) needs jwks or jwks_uri")
            }
            tlsClientAuthSubjectDN = nil
            tlsClientAuthSAN = nil
        }
        if !isFAPI, let value = metadata["tls_client_certificate_bound_access_tokens"], value.boolValue == nil {
            throw ClientMetadataError("tls_client_certificate_bound_access_tokens", "must be true or false")
        }
        // RFC 9449 §5.2: DPoP-bound tokens instead of certificate-bound ones (FAPI 2 SP §5.3.2.1-4 allows either).
        let dpopBound: Bool
        if let value = metadata["dpop_bound_access_tokens"] {
            guard let flag = value.boolValue else { throw ClientMetadataError("dpop_bound_access_tokens", "must be true or false") }
            dpopBound = flag
            if flag && isFAPI && !profile.policy.offersDPoP {
                throw ClientMetadataError("dpop_bound_access_tokens", "FAPI 1 Advanced clients use certificate-bound tokens; choose a FAPI 2 profile for DPoP")
            }
        } else {
            dpopBound = false
        }
        // FAPI 1 clients' tokens are always certificate-bound; a FAPI 2 client's too unless it chose DPoP.
        if isFAPI && !(profile.isFAPI2 && dpopBound) {
            metadata["tls_client_certificate_bound_access_tokens"] = true
        } else if isFAPI, let value = metadata["tls_client_certificate_bound_access_tokens"], value.boolValue == nil {
            throw ClientMetadataError("tls_client_certificate_bound_access_tokens", "must be true or false")
        }
        self.clientID = clientID
        self.createdAt = createdAt
        self.metadata = metadata
        self.isFAPI = isFAPI
        self.profile = profile
        self.authMethod = authMethod
        self.grantTypes = grantTypesSet
        self.redirectURIs = redirectURIs
        self.scopes = scopes
        self.jwks = jwks
        self.jwksURI = jwksURI
        self.jwtAccessTokenAlgorithm = jwtAccessTokenAlgorithm
        self.tlsClientAuthSubjectDN = tlsClientAuthSubjectDN
        self.tlsClientAuthSAN = tlsClientAuthSAN
    }
}

/// Client metadata that cannot be registered; names the field (RFC 7591 §3.2.2 `invalid_client_metadata`).
public struct ClientMetadataError: Error, Sendable, CustomStringConvertible {
    public let field: String
    public let reason: String

    public init(_ field: String, _ reason: String) {
        self.field = field
        self.reason = reason
    }

    public var description: String { "\(field): \(reason)" }
}

extension Client.TLSClientAuthSAN {
    /// RFC 8705 §2.1.2: whether `names` holds `value` for this kind (DNS names and e-mail addresses without case).
    public func matches(_ value: String, in names: X509Certificate.SubjectAlternativeNames) -> Bool {
        switch self {
        case .dns: names.dns.contains { $0.lowercased() == value.lowercased() }
        case .uri: names.uris.contains(value)
        case .ip: names.ipAddresses.contains(value)
        case .email: names.emails.contains { $0.lowercased() == value.lowercased() }
        }
    }
}
