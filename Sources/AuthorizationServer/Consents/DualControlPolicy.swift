public import JOSE

/// The setting `dual_control`: which `authorization_details` need more than one distinct staff approver (N of M)
/// before a consent is authorised. One rule per type:
///
/// ```json
/// {"payment_initiation": {"above_amount": {"currency": "GBP", "amount": "100.00"},
///                         "accounts": [{"sortCodeAccountNumber": "60161331926819"}],
///                         "approvals_required": 2}}
/// ```
///
/// - `approvals_required` (required): a whole number from 1 to 10.
/// - `above_amount` (`payment_initiation` only): a payment whose amount is strictly above it needs N (an equal
///   amount does not). A payment in another currency cannot be compared, so it needs N too (fail safe).
/// - `accounts` (`payment_initiation`: the `debtorAccount`; `account_information`: any of its `accounts`): business
///   accounts; any detail naming one of them needs N, whatever the amount. A detail that names no account at all
///   (a payment without `debtorAccount`, account access without `accounts`) may reach one, so it needs N too.
/// - With neither condition every detail of the type needs N. A rule may name a pass-through type, with
///   `approvals_required` alone.
///
/// The most demanding detail of a request decides. A detail that cannot be read (it never passed validation)
/// counts as matching its type's rule.
public struct DualControlPolicy: Sendable, Equatable {
    public struct Rule: Sendable, Equatable {
        public var aboveAmount: (currency: String, amount: DecimalAmount)?
        public var accounts: Set<AccountReference>
        public var approvalsRequired: Int

        public static func == (lhs: Rule, rhs: Rule) -> Bool {
            lhs.aboveAmount?.currency == rhs.aboveAmount?.currency && lhs.aboveAmount?.amount == rhs.aboveAmount?.amount
                && lhs.aboveAmount?.amount.text == rhs.aboveAmount?.amount.text && lhs.accounts == rhs.accounts
                && lhs.approvalsRequired == rhs.approvalsRequired
        }
    }

    public private(set) var rules: [String: Rule]

    public static let none = DualControlPolicy(rules: [:])
    public static let approvalsRange = 1...10

    init(rules: [String: Rule]) { self.rules = rules }

    /// Reads the setting; `knownTypes` are the types it may name (built-ins and pass-through ones).
    public init(_ value: JSON, knownTypes: Set<String>) throws(DetailError) {
        guard let object = value.objectValue else { throw DetailError("must be a JSON object of type name to rule") }
        var rules: [String: Rule] = [:]
        for (type, ruleValue) in object.sorted(by: { $0.key < $1.key }) {
            guard knownTypes.contains(type) else { throw DetailError("names a type that is neither built in nor pass-through") }
            guard let rule = ruleValue.objectValue else { throw DetailError("\(type) must be an object") }
            let allowed: Set<String> =
                switch type {
                case PaymentInitiationDetail.type: ["above_amount", "accounts", "approvals_required"]
                case AccountInformationDetail.type: ["accounts", "approvals_required"]
                default: ["approvals_required"]
                }
            if let other = rule.keys.sorted().first(where: { !allowed.contains($0) }) {
                let shown = other.unicodeScalars.allSatisfy { $0.value > 0x20 && $0.value < 0x7F } ? String(other.prefix(40)) : "?"
                throw DetailError("\(type) member \(shown) is not supported here; use \(allowed.sorted().joined(separator: ", "))")
            }
            guard case .int(let count) = rule["approvals_required"], Self.approvalsRange.contains(Int(count)) else {
                throw DetailError("\(type) approvals_required must be a whole number from 1 to 10")
            }
            var parsed = Rule(aboveAmount: nil, accounts: [], approvalsRequired: Int(count))
            if let above = rule["above_amount"] {
                guard let threshold = above.objectValue, Set(threshold.keys) == ["currency", "amount"],
                    let currency = threshold["currency"]?.stringValue, CurrencyCode.isValid(currency)
                else {
                    throw DetailError("\(type) above_amount must be an object with an ISO 4217 currency and an amount")
                }
                guard let text = threshold["amount"]?.stringValue,
                    let amount = DecimalAmount(text, minorDigits: CurrencyCode.minorDigits(of: currency))
                else {
                    throw DetailError("\(type) above_amount amount must be a decimal string such as 100.00")
                }
                parsed.aboveAmount = (currency, amount)
            }
            if let accounts = rule["accounts"] {
                guard let list = accounts.arrayValue, (1...1000).contains(list.count) else {
                    throw DetailError("\(type) accounts must be an array of 1 to 1000 accounts")
                }
                for item in list {
                    do throws(DetailError) { parsed.accounts.insert(try AccountReference(item)) } catch { throw error.under("\(type) accounts entry") }
                }
            }
            rules[type] = parsed
        }
        self.rules = rules
    }

    /// How many distinct approvers `details` need: the largest `approvals_required` of a matching rule, else 1.
    public func approvalsRequired(for details: JSON) -> Int {
        guard !rules.isEmpty else { return 1 }
        var required = 1
        for entry in details.arrayValue ?? [details] {
            guard let type = entry["type"]?.stringValue, let rule = rules[type], rule.approvalsRequired > required else { continue }
            if Self.matches(rule, entry, type: type) { required = rule.approvalsRequired }
        }
        return required
    }

    static func matches(_ rule: Rule, _ entry: JSON, type: String) -> Bool {
        switch type {
        case PaymentInitiationDetail.type:
            if rule.aboveAmount == nil && rule.accounts.isEmpty { return true }
            if !rule.accounts.isEmpty {
                // A payment that names no debtor account may be paid from a business one (chosen at the bank): fail safe.
                guard let debtor = entry["debtorAccount"], let account = try? AccountReference(debtor) else { return true }
                if rule.accounts.contains(account) { return true }
            }
            if let above = rule.aboveAmount {
                let (currency, threshold) = (above.currency, above.amount)
                guard let instructed = entry["instructedAmount"], let sentCurrency = instructed["currency"]?.stringValue,
                    let text = instructed["amount"]?.stringValue,
                    let amount = DecimalAmount(text, minorDigits: CurrencyCode.minorDigits(of: sentCurrency))
                else { return true }
                // Another currency cannot be compared without a rate: fail safe.
                if sentCurrency != currency { return true }
                if amount > threshold { return true }
            }
            return false
        case AccountInformationDetail.type:
            if rule.accounts.isEmpty { return true }
            // Access not limited to named accounts may reach a business one: fail safe.
            guard let list = entry["accounts"]?.arrayValue else { return true }
            for item in list {
                guard let account = try? AccountReference(item) else { return true }
                if rule.accounts.contains(account) { return true }
            }
            return false
        default:
            return true
        }
    }
}
