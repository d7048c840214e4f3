/// The FAPI profile a client follows (fapid client metadata `fapi_profile`). It is a policy value: the request
/// check table, client authentication and token issuing read the rules from it, never from scattered tests of
/// the profile's name. `docs/profiles.md` lists what each profile requires and refuses, clause by clause.
public enum FAPIProfile: String, Sendable, CaseIterable, Codable {
    /// FAPI 1.0 Advanced Final (hybrid flow, JARM): fapid's behaviour before profiles existed, and the default.
    case fapi1Advanced = "fapi1-advanced"
    /// FAPI 2.0 Security Profile Final.
    case fapi2SecurityProfile = "fapi2-security-profile"
    /// FAPI 2.0 Security Profile with FAPI 2.0 Message Signing Final (signed requests at PAR, JARM).
    case fapi2MessageSigning = "fapi2-message-signing"

    /// The metadata member that names the profile.
    public static let metadataMember = "fapi_profile"

    /// Whether this is one of the FAPI 2.0 profiles.
    public var isFAPI2: Bool { self != .fapi1Advanced }
}
