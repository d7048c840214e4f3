public import JOSE

extension ServerMetadata {
    /// RFC 9701 §7: the algorithms JWT introspection responses can be signed with (none: the member is left out,
    /// as no resource server could get a signed response). No encryption members: responses are not encrypted.
    public func addingIntrospectionResponseSigning(algorithms: [JWSAlgorithm]) -> ServerMetadata {
        guard !algorithms.isEmpty else { return self }
        return adding(["introspection_signing_alg_values_supported": .array(algorithms.map { .string($0.rawValue) })])
    }
}
