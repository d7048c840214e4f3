/// The one paged walk of the stored chain, for `fapictl audit verify` and the consent evidence export.
extension AuditLogReader {
    /// Walks rows 1 through `end` (the head read before, so rows appended meanwhile are left out) in pages of
    /// `pageSize`, feeding each to one `AuditChain.Verifier` until the first problem, and handing every row to
    /// `visit` (also those after a problem: a reader of the evidence still sees them). Returns the verifier as it
    /// stopped and the first problem, if any; the caller compares the end with the head (`Verifier.finish`).
    public func walkChain(
        through end: Int64, pageSize: Int = 10_000, visit: (AuditChain.Row) -> Void = { _ in }
    ) async throws(StorageError) -> (verifier: AuditChain.Verifier, problem: AuditChainProblem?) {
        var verifier = AuditChain.Verifier()
        var problem: AuditChainProblem?
        var after: Int64 = 0
        walk: while true {
            let page = try await rows(after: after, limit: pageSize)
            for row in page {
                if row.seq > end { break walk }
                if problem == nil { problem = verifier.feed(row) }
                visit(row)
            }
            guard let last = page.last, page.count == pageSize else { break }
            after = last.seq
        }
        return (verifier, problem)
    }
}
