use std::cell::Cell;

thread_local! {
    /// Signature checks made on this thread, so tests can prove that a token
    /// the header rules out never reaches crypto.
    pub(super) static CRYPTO_CALLS: Cell<usize> = const { Cell::new(0) };
}
