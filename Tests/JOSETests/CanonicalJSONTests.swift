import Foundation
import JOSE
import Testing

/// RFC 8785 (JCS), against the RFC's own examples: the number table of Appendix B, the sorting example of
/// §3.2.3 and the whole-transformation example of §3.2.2.
@Suite("RFC 8785 canonical JSON")
struct CanonicalJSONTests {
    func canonical(_ value: JSON) -> String { String(decoding: value.canonicalBytes, as: UTF8.self) }

    func canonical(text: String) throws -> String { canonical(try JSON.parse(Array(text.utf8))) }

    /// Appendix B: IEEE 754 bit patterns and their ECMAScript serialization (NaN and Infinity, which JSON cannot
    /// hold, are left out).
    static let appendixB: [(UInt64, String)] = [
        (0x0000_0000_0000_0000, "0"),
        (0x8000_0000_0000_0000, "0"),  // -0
        (0x0000_0000_0000_0001, "5e-324"),
        (0x8000_0000_0000_0001, "-5e-324"),
        (0x7FEF_FFFF_FFFF_FFFF, "1.7976931348623157e+308"),
        (0xFFEF_FFFF_FFFF_FFFF, "-1.7976931348623157e+308"),
        (0x4340_0000_0000_0000, "9007199254740992"),
        (0xC340_0000_0000_0000, "-9007199254740992"),
        (0x4430_0000_0000_0000, "295147905179352830000"),
        (0x44B5_2D02_C7E1_4AF5, "9.999999999999997e+22"),
        (0x44B5_2D02_C7E1_4AF6, "1e+23"),
        (0x44B5_2D02_C7E1_4AF7, "1.0000000000000001e+23"),
        (0x444B_1AE4_D6E2_EF4E, "999999999999999700000"),
        (0x444B_1AE4_D6E2_EF4F, "999999999999999900000"),
        (0x444B_1AE4_D6E2_EF50, "1e+21"),
        (0x3EB0_C6F7_A0B5_ED8C, "9.999999999999997e-7"),
        (0x3EB0_C6F7_A0B5_ED8D, "0.000001"),
        (0x41B3_DE43_5555_5553, "333333333.3333332"),
        (0x41B3_DE43_5555_5554, "333333333.33333325"),
        (0x41B3_DE43_5555_5555, "333333333.3333333"),
        (0x41B3_DE43_5555_5556, "333333333.3333334"),
        (0x41B3_DE43_5555_5557, "333333333.33333343"),
        (0xBECB_F647_612F_3696, "-0.0000033333333333333333"),
        (0x4314_3FF3_C1CB_0959, "1424953923781206.2"),  // round to even
    ]

    @Test("Appendix B: every number of the table")
    func appendixBNumbers() {
        for (bits, expected) in Self.appendixB {
            #expect(canonical(.double(Double(bitPattern: bits))) == expected, "\(String(bits, radix: 16))")
        }
    }

    @Test("ECMAScript layout: exponents, small fractions, integers, non-finite")
    func layout() throws {
        let cases: [(Double, String)] = [
            (1e-7, "1e-7"), (1e21, "1e+21"), (1e20, "100000000000000000000"), (0.1, "0.1"), (-0.0, "0"), (1.5, "1.5"),
            (-2.25, "-2.25"), (123e-20, "1.23e-18"), (1e-6, "0.000001"), (1.2e-6, "0.0000012"), (1.5e300, "1.5e+300"),
            (100, "100"), (0.5, "0.5"), (12345.678, "12345.678"),
        ]
        for (value, expected) in cases { #expect(canonical(.double(value)) == expected, "\(value)") }
        #expect(canonical(.double(.nan)) == "null")
        #expect(canonical(.int(42)) == "42")
        #expect(canonical(.int(-7)) == "-7")
        // Beyond 2^53 an integer is the double nearest it, as ECMAScript reads it.
        #expect(canonical(.int(9_007_199_254_740_993)) == "9007199254740992")
        #expect(canonical(.int(Int64.max)) == "9223372036854776000")
        // Parsed text: integers and fractions alike.
        #expect(try canonical(text: "[1E30, 4.50, 2e-3, 0.000000000000000000000000001, 10, -0.0]") == "[1e+30,4.5,0.002,1e-27,10,0]")
    }

    @Test("§3.2.3: members sorted by their UTF-16 code units")
    func sorting() throws {
        let input = #"""
            {
              "\u20ac": "Euro Sign",
              "\r": "Carriage Return",
              "\ufb33": "Hebrew Letter Dalet With Dagesh",
              "1": "One",
              "\ud83d\ude00": "Emoji: Grinning Face",
              "\u0080": "Control",
              "\u00f6": "Latin Small Letter O With Diaeresis"
            }
            """#
        let expected =
            "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\u{80}\":\"Control\",\"\u{F6}\":\"Latin Small Letter O With Diaeresis\","
            + "\"\u{20AC}\":\"Euro Sign\",\"\u{1F600}\":\"Emoji: Grinning Face\",\"\u{FB33}\":\"Hebrew Letter Dalet With Dagesh\"}"
        #expect(try canonical(text: input) == expected)
    }

    @Test("§3.2.2: the example of the whole transformation")
    func wholeExample() throws {
        let input = #"""
            {
              "numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],
              "string": "\u20ac$\u000F\u000aA'\u0042\u0022\u005c\\\"\/",
              "literals": [null, true, false]
            }
            """#
        let expected =
            #"{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\u000f\nA'B\"\\\\\"/"}"#
        #expect(try canonical(text: input) == expected)
    }

    @Test("the same value always gives the same bytes, whatever its member order or spacing")
    func stable() throws {
        let a = try JSON.parse(Array(#"{"b": [1, 2.0, "x"], "a": {"d": true, "c": null}}"#.utf8))
        let b = try JSON.parse(Array(#"{"a":{"c":null,"d":true},"b":[1,2,"x"]}"#.utf8))
        #expect(a.canonicalBytes == b.canonicalBytes)
        #expect(canonical(a) == #"{"a":{"c":null,"d":true},"b":[1,2,"x"]}"#)
    }
}
