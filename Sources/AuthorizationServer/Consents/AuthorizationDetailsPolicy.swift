public import Foundation
public import JOSE

/// The settings behind `AuthorizationDetailsPolicy`, read once at start-up: the pass-through types with their
/// JSON Schemas (`authorization_details_pass_through`) and the dual-control rules (`dual_control`).
public struct AuthorizationDetailsSettings: Sendable, Equatable {
    /// Types accepted beside the built-in ones, each checked against its schema.
    public var passThrough: [String: JSONSchema] = [:]
    public var dualControl: DualControlPolicy = .none

    public init() {}

    /// Built-in and pass-through types, sorted.
    public var supportedTypes: [String] { (AuthorizationDetailsPolicy.builtInTypes + passThrough.keys).sorted() }

    /// The setting `authorization_details_pass_through`: `{"TYPE": <JSON Schema>, …}`, at most 32 types, each name 1
    /// to 64 characters of letters, digits and `_ - . : /`, none of them a built-in type.
    public static func passThrough(_ value: JSON) throws(DetailError) -> [String: JSONSchema] {
        guard let object = value.objectValue else { throw DetailError("must be a JSON object of type name to JSON Schema") }
        guard object.count <= 32 else { throw DetailError("may name at most 32 types") }
        var result: [String: JSONSchema] = [:]
        for (type, schema) in object.sorted(by: { $0.key < $1.key }) {
            guard (1...64).contains(type.utf8.count), type.utf8.allSatisfy(Self.isTypeNameByte) else {
                throw DetailError("type names must be 1 to 64 letters, digits or _ - . : /")
            }
            guard !AuthorizationDetailsPolicy.builtInTypes.contains(type) else {
                throw DetailError("\(type) is built in and cannot be pass-through")
            }
            do throws(DetailError) { result[type] = try JSONSchema(schema) } catch { throw error.under("\(type):") }
        }
        return result
    }

    static func isTypeNameByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || "_-.:/".utf8.contains(b)
    }
}

/// RFC 9396 Rich Authorization Requests: checks the `authorization_details` a client sends (at PAR, `/authorize`,
/// `/bc-authorize`, the token endpoint, `POST /consents`) and says how many approvers they need.
///
/// Rules, in order, each refusal `invalid_authorization_details` (§5):
/// - the text parameter is at most 8 KiB and parses as JSON with no member name twice; the value is a JSON array
///   of 1 to 16 objects (§2) whose compact form is at most 8 KiB;
/// - each object has a non-empty string `type`; the common members (§2.2) have their types: `locations`,
///   `actions`, `datatypes`, `privileges` arrays of strings, `identifier` a string;
/// - the type is built in (`payment_initiation`, `account_information`) or configured as pass-through, and the
///   client registered it in `authorization_details_types` (§10; a client that registered none may use none);
/// - built-in types pass their typed validator (`PaymentInitiationDetail`, `AccountInformationDetail`), which
///   refuses members they do not define; pass-through types pass their JSON Schema.
public struct AuthorizationDetailsPolicy: Sendable {
    public static let builtInTypes: [String] = [AccountInformationDetail.type, PaymentInitiationDetail.type]
    /// RFC 9396 leaves sizes open; these bound what one request can make the server hold and show.
    public static let maximumTextBytes = 8192
    public static let maximumDetails = 16

    public let settings: AuthorizationDetailsSettings
    let clock: any WallClock

    public init(settings: AuthorizationDetailsSettings = AuthorizationDetailsSettings(), clock: any WallClock) {
        self.settings = settings
        self.clock = clock
    }

    /// Built-in and pass-through types, sorted: discovery's `authorization_details_types_supported` (§10).
    public var supportedTypes: [String] { settings.supportedTypes }

    /// RFC 9396 §2/§5: `value` is the parsed `authorization_details` (a JSON array); the client's registered
    /// `authorization_details_types` enforced. Returns the validated array. Throws .invalidAuthorizationDetails.
    public func validate(_ value: JSON, client: Client) throws(OAuthError) -> JSON {
        try validate(value, client: client, now: clock.now())
    }

    /// The same at a given time (`expirationDateTime` must lie after `now`).
    public func validate(_ value: JSON, client: Client, now: Date) throws(OAuthError) -> JSON {
        try validate(value, registered: Set(client.authorizationDetailsTypes), now: now)
    }

    /// The same for the form/JSON-text parameter (bounded size, duplicate-name safe parse).
    public func validate(text: String, client: Client) throws(OAuthError) -> JSON {
        try validate(text: text, client: client, now: clock.now())
    }

    public func validate(text: String, client: Client, now: Date) throws(OAuthError) -> JSON {
        try validate(try Self.parse(text: text), client: client, now: now)
    }

    /// Dual control: how many distinct approvers the details need (1 unless `dual_control` says more).
    public func approvalsRequired(for details: JSON) -> Int {
        settings.dualControl.approvalsRequired(for: details)
    }

    /// Parses the text of the parameter: bounded, and refusing a member name given twice (two parsers could
    /// read different values from it).
    public static func parse(text: String) throws(OAuthError) -> JSON {
        guard text.utf8.count <= maximumTextBytes else { throw refusal("authorization_details must be at most 8192 bytes") }
        do {
            return try JSON.parse(Array(text.utf8))
        } catch {
            throw refusal("authorization_details must be valid JSON without repeated member names")
        }
    }

    /// The rules above for a client that registered `registered`.
    public func validate(_ value: JSON, registered: Set<String>, now: Date) throws(OAuthError) -> JSON {
        let entries = try Self.checkShape(value)
        // One payment per request: each payment is counted and approved on its own under dual control, so two
        // payments below the threshold cannot stand for one above it.
        guard entries.filter({ $0["type"]?.stringValue == PaymentInitiationDetail.type }).count <= 1 else {
            throw Self.refusal("authorization_details may hold at most one payment_initiation")
        }
        for (index, entry) in entries.enumerated() {
            let at = "authorization_details[\(index)]"
            guard let object = entry.objectValue else { throw Self.refusal("\(at) must be a JSON object") }
            guard let type = object["type"]?.stringValue, !type.isEmpty else { throw Self.refusal("\(at) needs a type string") }
            do throws(DetailError) {
                try Self.checkCommonMembers(object)
            } catch {
                throw Self.refusal("\(at) \(error.reason)")
            }
            let builtIn = Self.builtInTypes.contains(type)
            let schema = settings.passThrough[type]
            guard builtIn || schema != nil else { throw Self.refusal("\(at) has a type this server does not support") }
            guard registered.contains(type) else { throw Self.refusal("\(at) has a type the client did not register") }
            do throws(DetailError) {
                switch type {
                case PaymentInitiationDetail.type: _ = try PaymentInitiationDetail(object)
                case AccountInformationDetail.type: _ = try AccountInformationDetail(object, now: now)
                default:
                    if let failure = schema?.failure(of: entry) { throw DetailError("does not match the schema of its type: \(failure)") }
                    // PSD2 RTS Art. 5 dynamic linking: what is approved must be shown whole, never cut.
                    guard ConsentDisplay.displayable(.array([entry])) else {
                        throw DetailError(
                            "cannot be shown in full: at most \(ConsentDisplay.maximumPassThroughLines) members of at most \(ConsentDisplay.maximumLineCharacters) characters a line"
                        )
                    }
                }
            } catch {
                throw Self.refusal("\(at) \(error.reason)")
            }
        }
        return value
    }

    /// The scope each built-in type needs (RFC 9396 §3.1 leaves how details and scopes combine to the server): a
    /// client asks for a payment only with `payments`, for account data only with `accounts`. Pass-through types
    /// need none. A client's registered `scope` is limited by its software roles at registration, so this ties the
    /// details a client may ask for to its roles too.
    public static let requiredScopes: [String: String] = [PaymentInitiationDetail.type: "payments", AccountInformationDetail.type: "accounts"]

    /// The one rule linking details to scopes: each detail of a built-in type needs its scope (`requiredScopes`)
    /// among `scopes` — the scopes the request asks for (PAR, `/authorize`, `/bc-authorize`; already limited to the
    /// client's registered scope), or the client's registered scope where a request names none (`POST /consents`).
    /// Refusal: `invalid_authorization_details`.
    public static func checkScopes(_ details: JSON, scopes: some Sequence<String>) throws(OAuthError) {
        let granted = Set(scopes)
        for entry in details.arrayValue ?? [] {
            guard let type = entry["type"]?.stringValue, let scope = requiredScopes[type], !granted.contains(scope) else { continue }
            throw refusal("\(type) needs the \(scope) scope")
        }
    }

    /// RFC 9396 §2: the one set of bounds of `authorization_details`, checked wherever the value arrives (here, and
    /// when an authorization request is parsed, before it is stored): a non-empty JSON array of at most 16 objects
    /// whose compact form is at most 8 KiB. Returns the entries.
    public static func checkShape(_ value: JSON) throws(OAuthError) -> [JSON] {
        guard let entries = value.arrayValue else { throw refusal("authorization_details must be a JSON array") }
        guard !entries.isEmpty else { throw refusal("authorization_details must not be empty") }
        guard entries.count <= maximumDetails else { throw refusal("authorization_details may hold at most 16 entries") }
        guard value.bytes.count <= maximumTextBytes else { throw refusal("authorization_details must be at most 8192 bytes") }
        for (index, entry) in entries.enumerated() where entry.objectValue == nil {
            throw refusal("authorization_details[\(index)] must be a JSON object")
        }
        return entries
    }

    /// RFC 9396 §2.2: the common members, when present, have the types the RFC gives them.
    static func checkCommonMembers(_ object: [String: JSON]) throws(DetailError) {
        for member in ["locations", "actions", "datatypes", "privileges"] {
            guard let value = object[member] else { continue }
            guard let list = value.arrayValue, list.allSatisfy({ $0.stringValue != nil }) else {
                throw DetailError("\(member) must be an array of strings")
            }
        }
        if let identifier = object["identifier"], identifier.stringValue == nil { throw DetailError("identifier must be a string") }
    }

    static func refusal(_ reason: String) -> OAuthError { OAuthError(.invalidAuthorizationDetails, reason) }
}

extension Client {
    /// Registration: every built-in type in `authorization_details_types` needs its scope in the client's `scope`
    /// (`AuthorizationDetailsPolicy.requiredScopes`), or the client could register a type it may never ask for.
    public func checkAuthorizationDetailsScopes() throws(ClientMetadataError) {
        for type in authorizationDetailsTypes {
            guard let scope = AuthorizationDetailsPolicy.requiredScopes[type], !scopes.contains(scope) else { continue }
            throw ClientMetadataError(Self.authorizationDetailsTypesMember, "holds \(type), which needs the \(scope) scope in scope")
        }
    }

    /// RFC 9396 §10 `authorization_details_types`: the types this client may request (none when unregistered).
    public var authorizationDetailsTypes: [String] {
        metadata[Self.authorizationDetailsTypesMember]?.arrayValue?.compactMap(\.stringValue) ?? []
    }

    static let authorizationDetailsTypesMember = "authorization_details_types"

    /// Registration (`fapictl clients add`/`update`, `/register`, RFC 7592 update): every registered type must be
    /// one this server supports (`AuthorizationDetailsPolicy.supportedTypes`).
    public func checkAuthorizationDetailsTypes(supported: [String]) throws(ClientMetadataError) {
        for type in authorizationDetailsTypes where !supported.contains(type) {
            throw ClientMetadataError(
                Self.authorizationDetailsTypesMember, "holds a type this server does not support; use \(supported.joined(separator: ", "))")
        }
    }
}
