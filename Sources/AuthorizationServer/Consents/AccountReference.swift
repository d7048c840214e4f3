public import JOSE

/// A bank account as a `payment_initiation` or `account_information` detail names it (`creditorAccount`,
/// `debtorAccount`, `accounts[]`, and the `accounts` of the `dual_control` setting): an object with exactly one of
/// `iban` (ISO 13616, electronic format: no spaces, upper case, mod-97 check) or `sortCodeAccountNumber` (UK: 14
/// digits, the 6-digit sort code then the 8-digit account number). Nothing else is accepted in it.
public enum AccountReference: Sendable, Hashable {
    case iban(String)
    case sortCodeAccountNumber(String)

    /// The account object's members.
    static let members: Set<String> = ["iban", "sortCodeAccountNumber"]

    /// Parses an account object; the error says what is wrong, without repeating the value (it is TPP text).
    public init(_ value: JSON) throws(DetailError) {
        guard let object = value.objectValue else { throw DetailError("must be an object with iban or sortCodeAccountNumber") }
        if object.keys.contains(where: { !Self.members.contains($0) }) {
            throw DetailError("may hold only iban or sortCodeAccountNumber")
        }
        switch (object["iban"], object["sortCodeAccountNumber"]) {
        case (let iban?, nil):
            guard let text = iban.stringValue, Self.isIBAN(text) else { throw DetailError("iban is not a valid IBAN") }
            self = .iban(text)
        case (nil, let number?):
            guard let text = number.stringValue, text.utf8.count == 14, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else {
                throw DetailError("sortCodeAccountNumber must be 14 digits")
            }
            self = .sortCodeAccountNumber(text)
        case (nil, nil): throw DetailError("needs iban or sortCodeAccountNumber")
        case (.some, .some): throw DetailError("must hold only one of iban and sortCodeAccountNumber")
        }
    }

    /// The account as the customer or a staff member reads it, masked: an IBAN shows its country, check digits
    /// and the 4 characters after them (for most countries the bank code) and its last 4, `GB29 NWBK **** 6819`;
    /// a UK account shows its sort code and the last 4 digits of the number, `60-16-13 ****1234`.
    public var masked: String {
        switch self {
        case .iban(let iban):
            let characters = Array(iban)
            let head = String(characters[0..<4]) + " " + String(characters[4..<8])
            return head + " **** " + String(characters.suffix(4))
        case .sortCodeAccountNumber(let number):
            let digits = Array(number)
            let sortCode = String(digits[0..<2]) + "-" + String(digits[2..<4]) + "-" + String(digits[4..<6])
            return sortCode + " ****" + String(digits.suffix(4))
        }
    }

    /// ISO 13616 countries and their IBAN lengths (a subset; other countries get the general bounds, 15 to 34).
    static let ibanLengths: [String: Int] = [
        "AT": 20, "BE": 16, "BG": 22, "CH": 21, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "EE": 20, "ES": 24, "FI": 18, "FR": 27,
        "GB": 22, "GI": 23, "GR": 27, "HR": 21, "HU": 28, "IE": 22, "IS": 26, "IT": 27, "LI": 21, "LT": 20, "LU": 20, "LV": 21,
        "MT": 31, "NL": 18, "NO": 15, "PL": 28, "PT": 25, "RO": 24, "SE": 24, "SI": 19, "SK": 24, "AE": 23, "SA": 24,
    ]

    /// ISO 13616-1: two upper-case letters (country), two check digits, up to 30 upper-case letters or digits
    /// (the BBAN), the country's length where known, and the ISO 7064 mod-97-10 check: with the first four
    /// characters moved to the end and letters as 10...35, the number is 1 modulo 97.
    public static func isIBAN(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        guard (15...34).contains(bytes.count) else { return false }
        func isUpper(_ b: UInt8) -> Bool { b >= 0x41 && b <= 0x5A }
        func isDigit(_ b: UInt8) -> Bool { b >= 0x30 && b <= 0x39 }
        guard isUpper(bytes[0]), isUpper(bytes[1]), isDigit(bytes[2]), isDigit(bytes[3]),
            bytes[4...].allSatisfy({ isUpper($0) || isDigit($0) })
        else { return false }
        if let length = ibanLengths[String(decoding: bytes[0..<2], as: UTF8.self)], length != bytes.count { return false }
        var remainder = 0
        for b in bytes[4...] + bytes[0..<4] {
            if isDigit(b) {
                remainder = (remainder * 10 + Int(b - 0x30)) % 97
            } else {
                remainder = (remainder * 100 + Int(b - 0x41 + 10)) % 97
            }
        }
        return remainder == 1
    }
}

/// Why one part of an `authorization_details` entry, or of a setting, is not acceptable: short printable text
/// naming members only (never a value the TPP sent), made into `invalid_authorization_details` by the policy.
public struct DetailError: Error, Sendable, CustomStringConvertible {
    public let reason: String
    public init(_ reason: String) { self.reason = reason }
    public var description: String { reason }

    /// The same reason under `member`: `creditorAccount iban is not a valid IBAN`.
    func under(_ member: String) -> DetailError { DetailError(member + " " + reason) }
}
