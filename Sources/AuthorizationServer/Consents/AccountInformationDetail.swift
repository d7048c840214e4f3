public import Foundation
public import JOSE

/// The built-in `account_information` type: read access to account data.
///
/// | member | required | form |
/// |---|---|---|
/// | `type` | yes | `account_information` |
/// | `actions` | yes | non-empty array of distinct `balances`, `transactions`, `details` (RFC 9396 §2.2) |
/// | `accounts` | no | array of 1 to 16 accounts, each `{"iban"}` or `{"sortCodeAccountNumber"}` |
/// | `locations` | no | array of 1 to 16 https URIs of the resource servers (RFC 9396 §2.2) |
/// | `expirationDateTime` | no | RFC 3339 date-time with an offset, after now and at most 366 days ahead |
///
/// Without `accounts` the access is not limited to named accounts (the customer picks at the bank); without
/// `expirationDateTime` it lasts until withdrawn. Any other member is refused.
public struct AccountInformationDetail: Sendable, Equatable {
    public static let type = "account_information"
    public static let permittedActions: Set<String> = ["balances", "transactions", "details"]
    /// The furthest ahead an `expirationDateTime` may lie.
    public static let maximumLifetime: TimeInterval = 366 * 86_400

    public let actions: [String]
    public let accounts: [AccountReference]
    public let locations: [String]
    public let expiration: Date?

    static let members: Set<String> = ["type", "actions", "accounts", "locations", "expirationDateTime"]

    public init(_ object: [String: JSON], now: Date) throws(DetailError) {
        try DetailText.onlyMembers(Self.members, in: object, of: Self.type)
        actions = try DetailText.actions(object["actions"], allowed: Self.permittedActions, required: true)
        locations = try DetailText.locations(object["locations"])
        if let value = object["accounts"] {
            guard let list = value.arrayValue, (1...16).contains(list.count) else {
                throw DetailError("accounts must be an array of 1 to 16 accounts")
            }
            var accounts: [AccountReference] = []
            for item in list {
                do throws(DetailError) { accounts.append(try AccountReference(item)) } catch { throw error.under("accounts entry") }
            }
            guard Set(accounts).count == accounts.count else { throw DetailError("accounts must not repeat an account") }
            self.accounts = accounts
        } else {
            accounts = []
        }
        if let value = object["expirationDateTime"] {
            guard let text = value.stringValue, let date = Self.parseDateTime(text) else {
                throw DetailError("expirationDateTime must be an RFC 3339 date-time with a time zone offset")
            }
            guard date > now else { throw DetailError("expirationDateTime must be in the future") }
            guard date.timeIntervalSince(now) <= Self.maximumLifetime else {
                throw DetailError("expirationDateTime must be at most 366 days ahead")
            }
            expiration = date
        } else {
            expiration = nil
        }
    }

    /// RFC 3339 §5.6 `date-time`: `2027-03-01T00:00:00Z`, fractions of a second and numeric offsets allowed.
    public static func parseDateTime(_ text: String) -> Date? {
        guard text.utf8.count <= 40, text.utf8.count >= 20 else { return nil }
        let bytes = Array(text.utf8)
        // The formatter is lenient about some shapes; insist on the fixed `YYYY-MM-DDTHH:MM:SS` head.
        func digit(_ i: Int) -> Bool { bytes[i] >= 0x30 && bytes[i] <= 0x39 }
        guard [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18].allSatisfy(digit), bytes[4] == 0x2D, bytes[7] == 0x2D,
            bytes[10] == UInt8(ascii: "T") || bytes[10] == UInt8(ascii: "t"), bytes[13] == 0x3A, bytes[16] == 0x3A
        else { return nil }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        if let date = formatter.date(from: text.uppercased()) { return date }
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.date(from: text.uppercased())
    }
}
