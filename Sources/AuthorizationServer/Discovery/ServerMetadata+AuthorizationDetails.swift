import JOSE

extension ServerMetadata {
    /// RFC 9396 §10: `authorization_details_types_supported`, the built-in and pass-through types
    /// (`AuthorizationDetailsPolicy.supportedTypes`).
    public func addingAuthorizationDetails(_ policy: AuthorizationDetailsPolicy) -> ServerMetadata {
        adding(["authorization_details_types_supported": .array(policy.supportedTypes.map { .string($0) })])
    }
}
