//! Fuzz target: the differential comparison of `tests/differential.rs`
//! (ours against `jsonwebtoken::decode`) on arbitrary bytes. The first byte
//! picks a suite, the rules and the mode (raw token, or claims / header /
//! both as JSON behind a valid signature); see `fuzz_one`.

#![no_main]

use libfuzzer_sys::fuzz_target;

// The test file is the single source of the generator, the oracle and the
// classification; its `#[test]` functions are not compiled here.
#[allow(dead_code, unreachable_pub)]
#[path = "../../tests/differential.rs"]
mod differential;

fuzz_target!(|data: &[u8]| {
    if let Err(report) = differential::fuzz_one(data) {
        panic!("{report}");
    }
});
