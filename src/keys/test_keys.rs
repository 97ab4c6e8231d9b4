//! Public halves of the test-only key pairs shared by the unit tests of
//! `keys` and `verify` (generated once with Python's `cryptography`; they
//! protect nothing). The private halves live with the tests that sign.

pub(crate) const RSA_2048_N: &str = "\
    xwL9MCZ8T1LU2TQ_gbIXHfdbGQYDpCYgGwjDeLw_2rctq01yvAu5PBtb6mV0NPJn6cUBpifIJld3\
    0GsHVTBvpHevKr_kilDvmYW1UEtKykN8bk8QILwoeDViOGv_qL0dhc40rUQXKBprZbEFVnjBOlNi\
    1GTAJB3Q7hnFB01G2bJE_l1ITcs3kJ6BEicqIoYcFdjrQ_GzYIjEuImHXH1PL1vb6SzqP4QrzsT9\
    Y51ExBYo_xLqcfAE-oNTUE8k-Bi-e0hXYlp1hMI-Hze7TrZs4fIKRReOvOrdO2X828Fx7k8Ini0o\
    MvAMFf9YQ3X8-yecqTmbyQfNT0CSahPbgV1p3Q";
pub(crate) const P256_X: &str = "4cpJwnA_sHkS2HtBNapjvzNbxN2ZbjfEeOeMl8-NiAI";
pub(crate) const P256_Y: &str = "BDaX-bu9Z0LYZfFcmDeSEfeZJWRL0VNqipENlQ3yZP4";
pub(crate) const P384_X: &str = "esU4Ez09zjzTmtmd7cjpD5kTeJ5UWGtGjfSiNCl--ocx4-4C5AIAfX7ZtxfOrrgJ";
pub(crate) const P384_Y: &str = "SndJ-IyJdTlgRF57hBS4fwJdiyb_W5-aqZZoXkyB7DTxeYUv6XaKbFz3BgWl3llV";
pub(crate) const ED25519_X: &str = "c8SsbO5pnwDnWeUn63EwN_dFsZm0JtaHU98927_U6g8";
