import JOSE


/// The authentication context class (`acr`) of an authorization: what the ID Token says, and whether the
/// request demanded a context the sign-in did not reach (OIDC Core §5.5.1.1, §3.1.2.1 `acr_values`).
public struct AuthenticationContext: Sendable, Equatable {
    /// The `acr` the ID Token carries: the one actually reached, whenever the client asked about `acr`.
    public let acr: String?
    /// An essential `claims.id_token.acr` request whose values do not include what was reached: the
    /// authentication counts as failed (`access_denied`), never as a silent downgrade.
    public let unmet: Bool

    public init(acr: String?, unmet: Bool) {
        self.acr = acr
        self.unmet = unmet
    }

    public static func decide(for request: AuthorizationRequest, achieved: String) -> AuthenticationContext {
        let voluntary = (request.acrValues ?? "").split(separator: " ").map(String.init)
        guard let asked = request.claims?["id_token"]?["acr"] else {
            return AuthenticationContext(acr: voluntary.isEmpty ? nil : achieved, unmet: false)
        }
        var values: [String] = []
        if let value = asked["value"]?.stringValue { values.append(value) }
        values += (asked["values"]?.arrayValue ?? []).compactMap(\.stringValue)
        let essential = asked["essential"]?.boolValue == true
        if essential && !values.isEmpty && !values.contains(achieved) {
            return AuthenticationContext(acr: nil, unmet: true)
        }
        return AuthenticationContext(acr: achieved, unmet: false)
    }
}
