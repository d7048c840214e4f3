/// An amount of money as ISO 20022 writes it in JSON: a decimal STRING, never a JSON number (a binary double
/// cannot hold 0.10 exactly). Accepted form: `0` or digits without a leading zero (at most 15), then optionally `.`
/// and 1 up to the currency's minor-unit digits; no sign, no exponent, no spaces. Compared digit by digit, exactly.
public struct DecimalAmount: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The amount exactly as sent (`250.00`): what is shown and typed back.
    public let text: String
    /// Integer digits without leading zeros (empty for zero) and fraction digits without trailing zeros.
    let integer: [UInt8]
    let fraction: [UInt8]

    /// The longest integer part accepted (a quadrillion minus one; no payment is larger).
    static let maximumIntegerDigits = 15

    /// nil when `text` is not a decimal string with at most `minorDigits` fraction digits.
    public init?(_ text: String, minorDigits: Int) {
        let bytes = Array(text.utf8)
        let dot = bytes.firstIndex(of: UInt8(ascii: "."))
        let integerPart = bytes[..<(dot ?? bytes.count)]
        let fractionPart = dot.map { bytes[($0 + 1)...] } ?? []
        func digits(_ part: ArraySlice<UInt8>) -> Bool { part.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } }
        guard !integerPart.isEmpty, integerPart.count <= Self.maximumIntegerDigits, digits(integerPart),
            integerPart.count == 1 || integerPart.first != UInt8(ascii: "0")
        else { return nil }
        if dot != nil {
            guard !fractionPart.isEmpty, fractionPart.count <= minorDigits, digits(fractionPart) else { return nil }
        }
        self.text = text
        self.integer = Array(integerPart.drop { $0 == UInt8(ascii: "0") })
        var fraction = Array(fractionPart)
        while fraction.last == UInt8(ascii: "0") { fraction.removeLast() }
        self.fraction = fraction
    }

    public var isZero: Bool { integer.isEmpty && fraction.isEmpty }

    public var description: String { text }

    /// Numeric order: `100` and `100.00` are equal, `100.01` is above both.
    public static func < (lhs: DecimalAmount, rhs: DecimalAmount) -> Bool {
        if lhs.integer.count != rhs.integer.count { return lhs.integer.count < rhs.integer.count }
        if lhs.integer != rhs.integer { return lhs.integer.lexicographicallyPrecedes(rhs.integer) }
        return lhs.fraction.lexicographicallyPrecedes(rhs.fraction)
    }

    /// Numeric equality (`100` equals `100.00`).
    public static func == (lhs: DecimalAmount, rhs: DecimalAmount) -> Bool {
        lhs.integer == rhs.integer && lhs.fraction == rhs.fraction
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(integer)
        hasher.combine(fraction)
    }
}

/// ISO 4217 currency codes as the details carry them: three upper-case letters, and how many minor-unit digits
/// an amount in them may have (2 unless the small table below says otherwise).
public enum CurrencyCode {
    /// ISO 4217 minor units of the currencies that do not use 2.
    static let minorDigits: [String: Int] = [
        "JPY": 0, "KRW": 0, "ISK": 0, "CLP": 0, "VND": 0, "XAF": 0, "XOF": 0, "UGX": 0, "PYG": 0,
        "BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3, "TND": 3, "IQD": 3, "LYD": 3,
    ]

    /// Currency symbols shown beside the code for the currencies customers most often read.
    static let symbols: [String: String] = ["GBP": "£", "EUR": "€", "USD": "$", "JPY": "¥"]

    public static func isValid(_ code: String) -> Bool {
        code.utf8.count == 3 && code.utf8.allSatisfy { $0 >= 0x41 && $0 <= 0x5A }
    }

    public static func minorDigits(of code: String) -> Int { minorDigits[code] ?? 2 }
}
