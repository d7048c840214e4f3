import JOSE

extension ServerMetadata {
    /// Grant Management for OAuth 2.0 (draft -02 §5): the endpoint, the actions offered, and that an action is
    /// not required (a request without one behaves as before). The two management scopes join `scopes_supported`.
    public func addingGrantManagement() -> ServerMetadata {
        var scopes = members["scopes_supported"]?.arrayValue ?? []
        for scope in [GrantManagementService.queryScope, GrantManagementService.revokeScope] where !scopes.contains(.string(scope)) {
            scopes.append(.string(scope))
        }
        return adding([
            "grant_management_endpoint": .string(endpoint(GrantManagementService.path)),
            "grant_management_actions_supported": .array(GrantManagementService.actionsSupported.map { .string($0) }),
            "grant_management_action_required": false,
            "scopes_supported": .array(scopes),
        ])
    }
}
