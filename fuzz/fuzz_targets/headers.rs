//! `parse_headers` (src/http/request.rs), the check of a request's `[(name, value), ...]` before
//! it is sent, called in the embedded interpreter, against the rules it applies (a name is an
//! RFC 9110 token, case-folded; a value holds no control byte but tab; either fault raises
//! `LocalProtocolError` naming the first bad header).
//!
//! Input: header lines, `\n` between them, the first `:` between name and value (the value as
//! given, no space stripped). `\x10` escapes the next byte (sent XOR 0x40: `\x10J` is `\n`,
//! `\x10z` is `:`), so a name or value can hold any byte.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pyo3::prelude::*;
use requestx_fuzz::with_python;

fn unescape(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut bytes = raw.iter();
    while let Some(&b) = bytes.next() {
        out.push(match b {
            0x10 => bytes.next().map_or(0x10, |b| b ^ 0x40),
            b => b,
        });
    }
    out
}

/// Splits at unescaped `sep` bytes.
fn split_raw(raw: &[u8], sep: u8) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == 0x10 {
            i += 2;
            continue;
        }
        if raw[i] == sep {
            parts.push(&raw[start..i]);
            start = i + 1;
        }
        i += 1;
    }
    parts.push(&raw[start.min(raw.len())..]);
    parts
}

fn parse_input(input: &[u8]) -> Vec<(Vec<u8>, Vec<u8>)> {
    split_raw(input, b'\n')
        .into_iter()
        .map(|line| match split_raw(line, b':').as_slice() {
            [name] => (unescape(name), Vec::new()),
            [name, ..] => (unescape(name), unescape(&line[name.len() + 1..])),
            [] => unreachable!(),
        })
        .collect()
}

fn valid_name(name: &[u8]) -> bool {
    const TCHAR: &[u8] = b"!#$%&'*+-.^_`|~";
    !name.is_empty()
        && name.len() <= 1 << 16
        && name
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || TCHAR.contains(b))
}

fn valid_value(value: &[u8]) -> bool {
    value
        .iter()
        .all(|&b| b == b'\t' || (b >= 0x20 && b != 0x7F))
}

fuzz_target!(|input: &[u8]| {
    let pairs = parse_input(input);
    let borrowed: Vec<(&[u8], &[u8])> = pairs
        .iter()
        .map(|(n, v)| (n.as_slice(), v.as_slice()))
        .collect();
    let first_bad = pairs
        .iter()
        .find_map(|(n, v)| match (valid_name(n), valid_value(v)) {
            (false, _) => Some("Illegal header name"),
            (true, false) => Some("Illegal header value"),
            _ => None,
        });
    with_python(
        |py| match _requestx::fuzzing::parse_headers(py, &borrowed) {
            Ok(map) => {
                assert_eq!(first_bad, None, "accepted {pairs:?}");
                // The map groups a name's values (in the order given); names fold to lower case.
                let mut names: Vec<Vec<u8>> = Vec::new();
                for (name, _) in &pairs {
                    let name = name.to_ascii_lowercase();
                    if !names.contains(&name) {
                        names.push(name);
                    }
                }
                let mut seen: Vec<Vec<u8>> = Vec::new();
                for (name, _) in &map {
                    if seen.last() != Some(name) {
                        assert!(!seen.contains(name), "{name:?} not grouped in {map:?}");
                        seen.push(name.clone());
                    }
                }
                seen.sort();
                names.sort();
                assert_eq!(seen, names);
                for name in &names {
                    let given: Vec<&Vec<u8>> = pairs
                        .iter()
                        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
                        .map(|(_, v)| v)
                        .collect();
                    let kept: Vec<&Vec<u8>> = map
                        .iter()
                        .filter(|(n, _)| n == name)
                        .map(|(_, v)| v)
                        .collect();
                    assert_eq!(given, kept, "values of {name:?}");
                }
            }
            Err(err) => {
                let class = py
                    .import("requestx._exceptions")
                    .and_then(|m| m.getattr("LocalProtocolError"))
                    .unwrap();
                assert!(
                    err.is_instance(py, &class),
                    "not a LocalProtocolError: {err}"
                );
                let message = err.value(py).to_string();
                let expected = first_bad.unwrap_or_else(|| panic!("rejected {pairs:?}: {message}"));
                assert!(message.starts_with(expected), "{message} for {pairs:?}");
            }
        },
    );
});
