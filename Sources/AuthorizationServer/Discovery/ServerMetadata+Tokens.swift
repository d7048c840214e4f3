import JOSE

extension ServerMetadata {
    /// What the token path contributes to discovery (RFC 8414 §2, RFC 8705 §3.3 and §5).
    public func addingTokenEndpoints(grantTypes: [String]) -> ServerMetadata {
        let token = endpoint("/token")
        let introspection = endpoint("/introspect")
        let revocation = endpoint("/revoke")
        let methods: JSON = .array(ClientAuthMethod.allCases.map { .string($0.rawValue) })
        let algorithms: JSON = .array(["PS256", "ES256"])
        return adding([
            "token_endpoint": .string(token),
            "introspection_endpoint": .string(introspection),
            "revocation_endpoint": .string(revocation),
            "grant_types_supported": .array(grantTypes.map { .string($0) }),
            "token_endpoint_auth_methods_supported": methods,
            "token_endpoint_auth_signing_alg_values_supported": algorithms,
            "introspection_endpoint_auth_methods_supported": ["tls_client_auth"],
            "revocation_endpoint_auth_methods_supported": methods,
            "revocation_endpoint_auth_signing_alg_values_supported": algorithms,
            "tls_client_certificate_bound_access_tokens": true,
            // RFC 9449 §5.1.
            "dpop_signing_alg_values_supported": .array(DPoPSettings.algorithms.map { .string($0.rawValue) }),
            "mtls_endpoint_aliases": [
                "backchannel_authentication_endpoint": .string(endpoint("/bc-authorize")),
                "token_endpoint": .string(token),
                "introspection_endpoint": .string(introspection),
                "revocation_endpoint": .string(revocation),
                "pushed_authorization_request_endpoint": .string(endpoint("/par")),
            ],
        ])
    }

    /// What PAR and request objects contribute (RFC 9126 §5, RFC 9101 §10.1, RFC 7636 §6.2).
    public func addingPushedAuthorization(requirePushed: Bool) -> ServerMetadata {
        adding([
            "pushed_authorization_request_endpoint": .string(endpoint("/par")),
            "require_pushed_authorization_requests": .bool(requirePushed),
            "request_parameter_supported": true,
            "request_object_signing_alg_values_supported": ["PS256", "ES256"],
            "code_challenge_methods_supported": ["S256"],
        ])
    }
}

extension ServerMetadata {
    /// The authorization endpoint's members (OIDC Discovery §3, RFC 9207 §3).
    public func addingAuthorization() -> ServerMetadata {
        adding([
            "authorization_endpoint": .string(endpoint("/authorize")),
            "response_types_supported": ["code id_token", "code"],
            "response_modes_supported": ["fragment", "query", "form_post", "jwt", "query.jwt", "fragment.jwt", "form_post.jwt"],
            "authorization_signing_alg_values_supported": ["PS256", "ES256"],
            "userinfo_endpoint": .string(endpoint("/userinfo")),
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["PS256", "ES256"],
            "scopes_supported": ["openid", "accounts", "payments", "fundsconfirmations"],
            "claims_parameter_supported": true,
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "openbanking_intent_id"],
            "authorization_response_iss_parameter_supported": true,
            "acr_values_supported": ["urn:openbanking:psd2:ca"],
        ])
    }
}

extension ServerMetadata {
    /// CIBA Core §4 metadata.
    public func addingBackchannelAuthentication() -> ServerMetadata {
        adding([
            "backchannel_authentication_endpoint": .string(endpoint("/bc-authorize")),
            "backchannel_token_delivery_modes_supported": ["poll", "ping", "push"],
            "backchannel_authentication_request_signing_alg_values_supported": ["PS256", "ES256"],
            "backchannel_user_code_parameter_supported": false,
        ])
    }
}
