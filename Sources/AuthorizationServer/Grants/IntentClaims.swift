import JOSE

enum IntentClaims {
    /// The Open Banking intent id requested in `claims`, passed through to the ID Token.
    static func from(_ claims: JSON?) -> [String: JSON] {
        guard let value = claims?["id_token"]?["openbanking_intent_id"]?["value"] else { return [:] }
        return ["openbanking_intent_id": value]
    }
}
