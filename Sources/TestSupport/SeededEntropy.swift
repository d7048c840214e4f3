public import AuthorizationServer
import JOSE
import OpenSSLKit
import Synchronization

/// A deterministic `EntropySource` for tests: SHA-256 in counter mode over a seed, so two sources with the
/// same seed produce the same bytes in the same order, and a test can know every token a service will draw.
/// Never for production: anyone who knows the seed knows every secret.
public final class SeededEntropy: EntropySource {
    private let seed: [UInt8]
    private let state = Mutex<(counter: UInt64, buffer: [UInt8])>((0, []))

    public init(seed: String = "fapid tests") {
        self.seed = Array(seed.utf8)
    }

    public func bytes(_ count: Int) -> [UInt8] {
        state.withLock { state in
            while state.buffer.count < count {
                // Block i = SHA-256(seed || i as 8 bytes big-endian).
                let counter = withUnsafeBytes(of: state.counter.bigEndian) { Array($0) }
                state.buffer += Crypto.sha256(seed + counter)
                state.counter += 1
            }
            let out = Array(state.buffer.prefix(count))
            state.buffer.removeFirst(count)
            return out
        }
    }
}
