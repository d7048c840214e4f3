import Dispatch
import Foundation

/// Keeps client-supplied URLs (`jwks_uri`, CIBA notification endpoints) from reaching the bank's own
/// network (SSRF): the host's addresses are resolved and refused when any is loopback, private,
/// link-local, shared, multicast or otherwise not public, unless `outbound_allow_private_networks` is set
/// (development and tests, where such services run on loopback).
///
/// The check resolves the name before AsyncHTTPClient resolves it again to connect, so a name whose
/// answers change in between (DNS rebinding) is not fully covered: also deny outbound traffic from the
/// daemon to internal networks at the firewall.
public struct OutboundAddressPolicy: Sendable {
    public let allowPrivateNetworks: Bool

    public init(allowPrivateNetworks: Bool) {
        self.allowPrivateNetworks = allowPrivateNetworks
    }

    /// nil when `url` may be fetched, else why not.
    public func refusal(for url: String) async -> String? {
        guard !allowPrivateNetworks else { return nil }
        guard let components = URLComponents(string: url), let host = components.host, !host.isEmpty else { return "no host in \(url)" }
        let name = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
        let addresses = await Self.resolve(name)
        guard !addresses.isEmpty else { return "\(name) does not resolve" }
        if let blocked = addresses.first(where: { !Self.isPublic($0) }) {
            return "\(name) resolves to \(Self.describe(blocked)), not a public address (outbound_allow_private_networks is off)"
        }
        return nil
    }

    enum Address: Equatable {
        case v4([UInt8])
        case v6([UInt8])
    }

    static func resolve(_ host: String) async -> [Address] {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async {
                var hints = addrinfo()
                hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
                var result: UnsafeMutablePointer<addrinfo>?
                guard getaddrinfo(host, nil, &hints, &result) == 0 else {
                    continuation.resume(returning: [])
                    return
                }
                defer { freeaddrinfo(result) }
                var addresses: [Address] = []
                var cursor = result
                while let entry = cursor {
                    if entry.pointee.ai_family == AF_INET, let raw = entry.pointee.ai_addr {
                        raw.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { address in
                            var value = address.pointee.sin_addr
                            addresses.append(.v4(withUnsafeBytes(of: &value) { Array($0) }))
                        }
                    } else if entry.pointee.ai_family == AF_INET6, let raw = entry.pointee.ai_addr {
                        raw.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { address in
                            var value = address.pointee.sin6_addr
                            addresses.append(.v6(withUnsafeBytes(of: &value) { Array($0) }))
                        }
                    }
                    cursor = entry.pointee.ai_next
                }
                continuation.resume(returning: addresses)
            }
        }
    }

    static func isPublic(_ address: Address) -> Bool {
        switch address {
        case .v4(let b):
            guard b.count == 4 else { return false }
            switch (b[0], b[1]) {
            case (0, _), (10, _), (127, _), (169, 254), (192, 168): return false
            case (100, 64...127): return false  // shared address space (RFC 6598)
            case (172, 16...31): return false
            case (192, 0) where b[2] == 0: return false  // IETF protocol assignments
            case (198, 18...19): return false  // benchmarking
            case (224...255, _): return false  // multicast, reserved, broadcast
            default: return true
            }
        case .v6(let b):
            guard b.count == 16 else { return false }
            if b[0..<10].allSatisfy({ $0 == 0 }) && b[10] == 0xff && b[11] == 0xff { return isPublic(.v4(Array(b[12..<16]))) }
            // NAT64 (64:ff9b::/96, 64:ff9b:1::/48) and 6to4 (2002::/16) carry an IPv4 address a gateway reaches.
            if b[0] == 0x00 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b { return isPublic(.v4(Array(b[12..<16]))) }
            if b[0] == 0x20 && b[1] == 0x02 { return isPublic(.v4(Array(b[2..<6]))) }
            if b[0] == 0x20 && b[1] == 0x01 && b[2] == 0x00 && b[3] == 0x00 { return false }  // Teredo: an IPv4 tunnel
            if b[0] == 0xfe && b[1] & 0xc0 == 0xc0 { return false }  // deprecated site-local fec0::/10
            if b[0..<15].allSatisfy({ $0 == 0 }) { return false }  // :: and ::1
            if b[0] & 0xfe == 0xfc { return false }  // unique local fc00::/7
            if b[0] == 0xfe && b[1] & 0xc0 == 0x80 { return false }  // link-local fe80::/10
            if b[0] == 0xff { return false }  // multicast
            return true
        }
    }

    static func describe(_ address: Address) -> String {
        switch address {
        case .v4(let b): return b.map(String.init).joined(separator: ".")
        case .v6(let b): return stride(from: 0, to: 16, by: 2).map { String(UInt16(b[$0]) << 8 | UInt16(b[$0 + 1]), radix: 16) }.joined(separator: ":")
        }
    }
}
