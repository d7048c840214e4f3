public import JOSE

/// The built-in `payment_initiation` type (RFC 9396 §2 names it as its example; member names from ISO 20022 as
/// the UK and Berlin Group APIs use them). One single payment:
///
/// | member | required | form |
/// |---|---|---|
/// | `type` | yes | `payment_initiation` |
/// | `instructedAmount` | yes | `{"currency": ISO 4217 code, "amount": decimal string}` |
/// | `creditorName` | yes | text, 1 to 140 characters, no control characters |
/// | `creditorAccount` | yes | `{"iban"}` or `{"sortCodeAccountNumber"}` (`AccountReference`) |
/// | `debtorAccount` | no | the same account form |
/// | `remittanceInformation` | no | text (1 to 140) or `{"reference" (1 to 35), "unstructured" (1 to 140)}` |
/// | `remittanceInformationUnstructured` | no | text, 1 to 140 (RFC 9396 §2 example's name); not with the above |
/// | `endToEndIdentification` | no | text, 1 to 35 |
/// | `actions` | no | array of `initiate`, `status`, `cancel` (RFC 9396 §2.2) |
/// | `locations` | no | array of https URIs (RFC 9396 §2.2) |
///
/// Any other member is refused: a typed consent is shown to the customer exactly, so nothing may ride along unseen.
public struct PaymentInitiationDetail: Sendable, Equatable {
    public static let type = "payment_initiation"

    public let currency: String
    public let amount: DecimalAmount
    public let creditorName: String
    public let creditorAccount: AccountReference
    public let debtorAccount: AccountReference?
    /// `remittanceInformation.reference`, or the text of `remittanceInformation` when it is a string.
    public let reference: String?
    /// `remittanceInformation.unstructured` or `remittanceInformationUnstructured`.
    public let unstructured: String?
    public let endToEndIdentification: String?

    static let members: Set<String> = [
        "type", "instructedAmount", "creditorName", "creditorAccount", "debtorAccount", "remittanceInformation",
        "remittanceInformationUnstructured", "endToEndIdentification", "actions", "locations",
    ]
    static let actions: Set<String> = ["initiate", "status", "cancel"]

    public init(_ object: [String: JSON]) throws(DetailError) {
        try DetailText.onlyMembers(Self.members, in: object, of: Self.type)
        guard let instructed = object["instructedAmount"] else { throw DetailError("needs instructedAmount") }
        guard let amountObject = instructed.objectValue, Set(amountObject.keys) == ["currency", "amount"] else {
            throw DetailError("instructedAmount must be an object with exactly currency and amount")
        }
        guard let currency = amountObject["currency"]?.stringValue, CurrencyCode.isValid(currency) else {
            throw DetailError("instructedAmount currency must be an ISO 4217 code of three upper-case letters")
        }
        guard let text = amountObject["amount"]?.stringValue else {
            throw DetailError("instructedAmount amount must be a decimal string, not a number")
        }
        let minor = CurrencyCode.minorDigits(of: currency)
        guard let amount = DecimalAmount(text, minorDigits: minor) else {
            throw DetailError(
                "instructedAmount amount must be a decimal string with at most \(minor) decimal places, no sign and no exponent")
        }
        guard !amount.isZero else { throw DetailError("instructedAmount amount must be above zero") }
        self.currency = currency
        self.amount = amount
        creditorName = try DetailText.required(object["creditorName"], "creditorName", maximum: 140)
        guard let creditor = object["creditorAccount"] else { throw DetailError("needs creditorAccount") }
        do throws(DetailError) { creditorAccount = try AccountReference(creditor) } catch { throw error.under("creditorAccount") }
        if let debtor = object["debtorAccount"] {
            do throws(DetailError) { debtorAccount = try AccountReference(debtor) } catch { throw error.under("debtorAccount") }
        } else {
            debtorAccount = nil
        }
        switch (object["remittanceInformation"], object["remittanceInformationUnstructured"]) {
        case (nil, nil):
            reference = nil
            unstructured = nil
        case (let info?, nil):
            if info.stringValue != nil {
                reference = try DetailText.required(info, "remittanceInformation", maximum: 140)
                unstructured = nil
            } else if let parts = info.objectValue, !parts.isEmpty, parts.keys.allSatisfy({ $0 == "reference" || $0 == "unstructured" }) {
                reference = try DetailText.optional(parts["reference"], "remittanceInformation reference", maximum: 35)
                unstructured = try DetailText.optional(parts["unstructured"], "remittanceInformation unstructured", maximum: 140)
            } else {
                throw DetailError("remittanceInformation must be text or an object with reference and or unstructured")
            }
        case (nil, let text?):
            reference = nil
            unstructured = try DetailText.required(text, "remittanceInformationUnstructured", maximum: 140)
        case (.some, .some):
            throw DetailError("must not hold both remittanceInformation and remittanceInformationUnstructured")
        }
        endToEndIdentification = try DetailText.optional(object["endToEndIdentification"], "endToEndIdentification", maximum: 35)
        try DetailText.actions(object["actions"], allowed: Self.actions)
        try DetailText.locations(object["locations"])
    }
}

/// The checks the built-in types share for text a TPP sends.
enum DetailText {
    /// Refuses a member the type does not define; names the type only (the member name is TPP text).
    static func onlyMembers(_ members: Set<String>, in object: [String: JSON], of type: String) throws(DetailError) {
        if object.keys.contains(where: { !members.contains($0) }) {
            throw DetailError("holds a member that \(type) does not define")
        }
    }

    /// Text people read: non-empty, not only spaces, at most `maximum` Unicode scalars, no control, format or
    /// bidirectional characters (`DisplayText`).
    static func required(_ value: JSON?, _ member: String, maximum: Int) throws(DetailError) -> String {
        guard let value else { throw DetailError("needs \(member)") }
        guard let text = value.stringValue, text.contains(where: { !$0.isWhitespace }),
            DisplayText.isSafe(text, scalars: maximum, bytes: maximum * 4)
        else {
            throw DetailError("\(member) must be text of 1 to \(maximum) characters without control characters")
        }
        return text
    }

    static func optional(_ value: JSON?, _ member: String, maximum: Int) throws(DetailError) -> String? {
        guard let value else { return nil }
        return try required(value, member, maximum: maximum)
    }

    /// RFC 9396 §2.2 `actions`, limited to the type's own: a non-empty array of distinct known names.
    @discardableResult
    static func actions(_ value: JSON?, allowed: Set<String>, required: Bool = false) throws(DetailError) -> [String] {
        guard let value else {
            if required { throw DetailError("needs actions") }
            return []
        }
        guard let list = value.arrayValue, !list.isEmpty else { throw DetailError("actions must be a non-empty array") }
        var names: [String] = []
        for item in list {
            guard let name = item.stringValue, allowed.contains(name) else {
                throw DetailError("actions may hold only \(allowed.sorted().joined(separator: ", "))")
            }
            guard !names.contains(name) else { throw DetailError("actions must not repeat a name") }
            names.append(name)
        }
        return names
    }

    /// RFC 9396 §2.2 `locations` for the built-in types: 1 to 16 absolute https URIs of at most 512 characters.
    @discardableResult
    static func locations(_ value: JSON?) throws(DetailError) -> [String] {
        guard let value else { return [] }
        guard let list = value.arrayValue, (1...16).contains(list.count) else {
            throw DetailError("locations must be an array of 1 to 16 https URIs")
        }
        var result: [String] = []
        for item in list {
            guard let text = item.stringValue, text.utf8.count <= 512, text.hasPrefix("https://"), text.utf8.count > 8,
                text.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value < 0x7F })
            else {
                throw DetailError("locations must be an array of 1 to 16 https URIs")
            }
            result.append(text)
        }
        return result
    }
}
