/// The one paged walk of the stored chain, for `fapictl audit verify` and the consent evidence export.
extension AuditLogReader {
    /// Walks rows 1 through `end` (the head read before, so rows appended meanwhile are left out) in pages of
    /// `pageSize`, feeding each to one `AuditChain.Verifier` until the first problem, and handing each row to
    /// `visit`. The walk stops at the first problem unless `pastProblems` (a reader of one consent's evidence
    /// still sees its later rows). Returns the verifier as it stopped and the first problem, if any; the caller
    /// compares the end with the head (`Verifier.finish`).
    public func walkChain(
        through end: Int64, pageSize: Int = 10_000, pastProblems: Bool = false, visit: (AuditChain.Row) -> Void = { _ in }
    ) async throws(StorageError) -> (verifier: AuditChain.Verifier, problem: AuditChainProblem?) {
        var verifier = AuditChain.Verifier()
        var problem: AuditChainProblem?
        var after: Int64 = 0
        walk: while true {
            let page = try await rows(after: after, limit: pageSize)
            for row in page {
                if row.seq > end { break walk }
                if problem == nil { problem = verifier.feed(row) }
                if problem != nil && !pastProblems { break walk }
                visit(row)
            }
            guard let last = page.last, page.count == pageSize else { break }
            after = last.seq
        }
        return (verifier, problem)
    }
}
