import JOSE

enum IntentClaims {
    /// The ID Token's `openbanking_intent_id`: the id of the consent the request was bound to by that intent, never
    /// a value copied from `claims` (which could be any JSON). Only when `claims` asked for the intent and a consent
    /// is bound (the lookup at PAR or `/authorize` made them the same); otherwise none.
    static func from(_ claims: JSON?, consentID: String?) -> [String: JSON] {
        guard let consentID, (try? AuthorizationRequest.intentID(in: claims)) != nil else { return [:] }
        return ["openbanking_intent_id": .string(consentID)]
    }
}
