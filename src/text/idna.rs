//! IDNA for `requestx.URL` (`requestx/_urlparse.py`): the UTS #46 ToASCII of the `idna` crate,
//! already in the tree through `url`, so that the Python package needs no `idna` dependency.
//!
//! Python checks each code point against IDNA 2008 first (UTS #46 alone accepts symbols such as
//! `☃` that IDNA 2008, and so httpx, refuses); what needs the Unicode data Python lacks (the
//! joiner rules, with joining types) and the Bidi rule, Punycode and the length limits are done here.

use ::idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// `domain` in ASCII form (`faß.de` → `xn--fa-hia.de`): nontransitional UTS #46 with STD3 rules,
/// CheckHyphens and VerifyDnsLength (a trailing root dot allowed), plus the Bidi and ContextJ
/// rules the crate always applies. ValueError if the domain fails any of them.
#[pyfunction]
pub(crate) fn idna_to_ascii(domain: &str) -> PyResult<String> {
    Uts46::new()
        .to_ascii(
            domain.as_bytes(),
            AsciiDenyList::STD3,
            Hyphens::Check,
            DnsLength::VerifyAllowRootDot,
        )
        .map(|ascii| ascii.into_owned())
        .map_err(|_| PyValueError::new_err(format!("invalid IDNA domain: {domain:?}")))
}
