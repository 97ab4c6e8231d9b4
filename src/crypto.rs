//! Which jsonwebtoken crypto backend signs and verifies.
//!
//! jsonwebtoken 10+ panics at the first verification ("Could not
//! automatically determine the process-level CryptoProvider") when it cannot
//! tell which backend to use, for example when some other crate in the build
//! turned on its second backend feature. We never want a user to meet that
//! panic, so every entry point of this crate calls [`ensure_provider`] before
//! touching jsonwebtoken.

use std::sync::Once;

#[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
compile_error!(
    "jwt-rollover needs a crypto backend: enable the `aws-lc-rs` (default) or the `rust-crypto` feature"
);

/// The provider selected by this crate's features. With both enabled,
/// aws-lc-rs wins: it is the default and the faster of the two.
#[cfg(feature = "aws-lc-rs")]
fn selected() -> &'static jsonwebtoken::crypto::CryptoProvider {
    &jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER
}

#[cfg(all(feature = "rust-crypto", not(feature = "aws-lc-rs")))]
fn selected() -> &'static jsonwebtoken::crypto::CryptoProvider {
    &jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER
}

/// Installs this crate's provider as jsonwebtoken's process default, once.
///
/// If the application installed a provider of its own first, that one stays:
/// it was a deliberate choice, and any provider verifies the same tokens.
pub(crate) fn ensure_provider() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        // An `Err` only means a provider is already installed: keep it.
        let _ = selected().install_default();
    });
}

/// SHA-256 through the installed backend, so we add no hashing crate of our own.
pub(crate) fn sha256(data: &[u8]) -> jsonwebtoken::errors::Result<Vec<u8>> {
    (selected().key_utils.compute_digest)(data, jsonwebtoken::jwk::ThumbprintHash::SHA256)
}
