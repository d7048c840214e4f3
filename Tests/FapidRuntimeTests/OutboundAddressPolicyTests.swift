@testable import FapidRuntime
import Testing

@Suite("Outbound address policy (SSRF)")
struct OutboundAddressPolicyTests {
    @Test("loopback, private, link-local, shared and multicast addresses are not public")
    func classification() {
        let nonPublic: [[UInt8]] = [[127, 0, 0, 1], [10, 1, 2, 3], [172, 16, 0, 1], [172, 31, 255, 255], [192, 168, 1, 1], [169, 254, 169, 254],
            [100, 64, 0, 1], [0, 0, 0, 0], [224, 0, 0, 1], [255, 255, 255, 255], [198, 18, 0, 1], [192, 0, 0, 8]]
        for address in nonPublic { #expect(!OutboundAddressPolicy.isPublic(.v4(address)), "\(address)") }
        for address: [UInt8] in [[8, 8, 8, 8], [172, 32, 0, 1], [100, 128, 0, 1], [192, 0, 2, 1]] {
            #expect(OutboundAddressPolicy.isPublic(.v4(address)), "\(address)")
        }
        var loopback6 = [UInt8](repeating: 0, count: 16)
        loopback6[15] = 1
        #expect(!OutboundAddressPolicy.isPublic(.v6(loopback6)))
        #expect(!OutboundAddressPolicy.isPublic(.v6([0xfd] + [UInt8](repeating: 1, count: 15))))
        #expect(!OutboundAddressPolicy.isPublic(.v6([0xfe, 0x80] + [UInt8](repeating: 0, count: 14))))
        let mapped: [UInt8] = [UInt8](repeating: 0, count: 10) + [0xff, 0xff, 10, 0, 0, 1]
        #expect(!OutboundAddressPolicy.isPublic(.v6(mapped)))
        #expect(OutboundAddressPolicy.isPublic(.v6([0x20, 0x01, 0x0d, 0xb9] + [UInt8](repeating: 0, count: 11) + [1])))
        // IPv6 forms that carry a private IPv4 address, and site-local.
        #expect(!OutboundAddressPolicy.isPublic(.v6([0x00, 0x64, 0xff, 0x9b] + [UInt8](repeating: 0, count: 8) + [10, 0, 0, 5])))
        #expect(OutboundAddressPolicy.isPublic(.v6([0x00, 0x64, 0xff, 0x9b] + [UInt8](repeating: 0, count: 8) + [8, 8, 8, 8])))
        #expect(!OutboundAddressPolicy.isPublic(.v6([0x20, 0x02, 192, 168, 0, 1] + [UInt8](repeating: 0, count: 10))))
        #expect(!OutboundAddressPolicy.isPublic(.v6([0x20, 0x01, 0x00, 0x00] + [UInt8](repeating: 1, count: 12))))
        #expect(!OutboundAddressPolicy.isPublic(.v6([0xfe, 0xc0] + [UInt8](repeating: 0, count: 14))))
    }

    @Test("a name resolving to loopback is refused unless private networks are allowed")
    func refusal() async {
        let strict = OutboundAddressPolicy(allowPrivateNetworks: false)
        #expect(await strict.refusal(for: "https://localhost:8443/jwks") != nil)
        #expect(await strict.refusal(for: "https://127.0.0.1/jwks")?.contains("not a public address") == true)
        #expect(await strict.refusal(for: "https://[::1]/jwks") != nil)
        #expect(await OutboundAddressPolicy(allowPrivateNetworks: true).refusal(for: "https://localhost/jwks") == nil)
    }
}
