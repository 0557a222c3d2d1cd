//! Content-Encoding chains (src/body/decode.rs): `Chain` for an arbitrary header value, fed in
//! arbitrary chunks, with and without `Bounds`, on its three paths (stepwise as `iter_bytes()`,
//! `decode_all` as a buffered body, the Python `Decoder`). Checked: no step over `STEP_OUTPUT`;
//! the bounds stop exactly the step that passes them, with their message; the paths and the
//! chunking agree; in round-trip mode, what flate2/zstd compressed decodes back.
//!
//! Input: `[split seed][config][Content-Encoding value]\n[body]`. Config: bits 0-2 pick
//! `max_size`, bits 3-5 `max_ratio`, bit 6 round-trip mode (the body is plain text, compressed
//! here as the header says), bit 7 the Python `Decoder` too.

#![no_main]

use std::io::Write;

use _requestx::fuzzing::{Chain, STEP_OUTPUT};
use libfuzzer_sys::fuzz_target;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use requestx_fuzz::{chunks, with_python};

/// Output past this ends a run ("capped"): a bomb is followed this far, no further.
const CAP: usize = 3 << 20;
/// At most this many chunks (the rest of the body is the last one): every step zero-fills a 64 KiB
/// read buffer, so a body fed byte by byte costs ~64 KiB of memset per byte.
const MAX_CHUNKS: usize = 32;

const SIZES: [Option<u64>; 8] = [
    None,
    Some(0),
    Some(1),
    Some(100),
    Some(65536),
    Some(STEP_OUTPUT as u64),
    Some(STEP_OUTPUT as u64 + 1),
    Some(2 << 20),
];
const RATIOS: [Option<f64>; 8] = [
    None,
    Some(0.0),
    Some(0.5),
    Some(1.0),
    Some(10.0),
    Some(100.0),
    Some(1000.0),
    Some(1e9),
];

#[derive(Clone, Copy)]
struct Bounds {
    size: Option<u64>,
    ratio: Option<f64>,
}

const NONE: Bounds = Bounds {
    size: None,
    ratio: None,
};

impl Bounds {
    /// The message of the bound that `made` bytes out of `fed` in pass, as `Chain` words it.
    fn passed(&self, made: usize, fed: usize) -> Option<&'static str> {
        if self.size.is_some_and(|max| made as u64 > max) {
            return Some("over Limits(max_decompressed_size=");
        }
        let ratio = self.ratio?;
        (made > STEP_OUTPUT && made as f64 > ratio * fed.max(1) as f64)
            .then_some("more than Limits(max_decompression_ratio=")
    }
}

#[derive(Clone, Debug, PartialEq)]
enum End {
    Done,
    Failed(String),
    Capped,
}

/// One decode: each non-empty step's output with the input fed when it came, and how it ended.
#[derive(Clone, Debug, PartialEq)]
struct Run {
    steps: Vec<(usize, Vec<u8>)>,
    end: End,
}

impl Run {
    fn output(&self) -> Vec<u8> {
        self.steps
            .iter()
            .flat_map(|(_, s)| s.iter().copied())
            .collect()
    }
}

/// `iter_bytes()`'s way: `step(chunk)`, `step(b"")` until empty, then `end_step()` until empty.
fn stepwise(header: &[u8], bounds: Bounds, parts: &[&[u8]]) -> Option<Run> {
    let mut chain = Chain::for_header(header, bounds.size, bounds.ratio).unwrap()?;
    let mut run = Run {
        steps: Vec::new(),
        end: End::Done,
    };
    let (mut fed, mut made) = (0, 0);
    let inputs = parts.iter().map(Some).chain([None]);
    'outer: for part in inputs {
        fed += part.map_or(0, |p| p.len());
        let mut first = part.copied();
        loop {
            let out = match (first.take(), part) {
                (Some(p), _) => chain.step(p),
                (None, Some(_)) => chain.step(&[]),
                (None, None) => chain.end_step(),
            };
            match out {
                Ok(out) if out.is_empty() => break,
                Ok(out) => {
                    assert!(out.len() <= STEP_OUTPUT, "a step of {} bytes", out.len());
                    made += out.len();
                    assert_eq!(bounds.passed(made, fed), None, "{made} bytes out of {fed}");
                    run.steps.push((fed, out));
                    if made > CAP {
                        run.end = End::Capped;
                        break 'outer;
                    }
                }
                Err(err) => {
                    assert!(err.starts_with("DecodingError: "), "{err}");
                    run.end = End::Failed(err);
                    break 'outer;
                }
            }
        }
    }
    Some(run)
}

/// `bounded` must be `free` (the same chunks, no bounds) up to the step that passes a bound, and
/// fail there with that bound's message.
fn check_bounds(bounds: Bounds, bounded: &Run, free: &Run) {
    let mut made = 0;
    for (i, (fed, out)) in free.steps.iter().enumerate() {
        made += out.len();
        if let Some(message) = bounds.passed(made, *fed) {
            assert_eq!(bounded.steps[..], free.steps[..i]);
            match &bounded.end {
                End::Failed(err) if err.contains(message) => return,
                end => panic!("expected the error {message:?}, got {end:?}"),
            }
        }
    }
    assert_eq!(bounded, free);
}

/// The encodings the header asks to undo, in the order they were applied (the reference of
/// `known()`: identity and unknown names pass through).
fn applied(header: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(header)
        .split(',')
        .map(|e| e.trim().to_ascii_lowercase())
        .filter(|e| matches!(e.as_str(), "gzip" | "x-gzip" | "deflate" | "br" | "zstd"))
        .collect()
}

/// `plain` encoded as `encodings` say (None if one of them is br: no encoder here).
fn compress(plain: &[u8], encodings: &[String]) -> Option<Vec<u8>> {
    use flate2::write::{DeflateEncoder, GzEncoder, ZlibEncoder};
    let fast = flate2::Compression::fast();
    let mut data = plain.to_vec();
    for (i, encoding) in encodings.iter().enumerate() {
        // The input's length picks the variants: zlib or raw deflate, one gzip member or two.
        let variant = (plain.len() + i).is_multiple_of(2);
        data = match encoding.as_str() {
            "gzip" | "x-gzip" => {
                let (a, b) = data.split_at(if variant { data.len() / 2 } else { data.len() });
                let mut out = Vec::new();
                for member in [a, b] {
                    if member.is_empty() && !out.is_empty() {
                        continue;
                    }
                    let mut e = GzEncoder::new(Vec::new(), fast);
                    e.write_all(member).unwrap();
                    out.extend(e.finish().unwrap());
                }
                out
            }
            "deflate" if variant => {
                let mut e = ZlibEncoder::new(Vec::new(), fast);
                e.write_all(&data).unwrap();
                e.finish().unwrap()
            }
            "deflate" => {
                let mut e = DeflateEncoder::new(Vec::new(), fast);
                e.write_all(&data).unwrap();
                e.finish().unwrap()
            }
            "zstd" => zstd::stream::encode_all(&data[..], 1).unwrap(),
            _ => return None,
        };
    }
    Some(data)
}

/// `_steps()` of requestx/_models.py on the Python `Decoder`, compared with `expected`.
fn check_python(header: &[u8], bounds: Bounds, parts: &[&[u8]], expected: &Run) {
    with_python(|py| {
        let class = _requestx::fuzzing::decoder_type(py);
        let header = String::from_utf8_lossy(header);
        let decoder = class.call1((header, bounds.size, bounds.ratio)).unwrap();
        let decoding_error = py
            .import("requestx._exceptions")
            .and_then(|m| m.getattr("DecodingError"))
            .unwrap();
        let mut out = Vec::new();
        let result = (|| -> PyResult<()> {
            for part in parts.iter().copied().map(Some).chain([None]) {
                let next = |chunk: &[u8]| match part {
                    Some(_) => decoder.call_method1("decode", (PyBytes::new(py, chunk),)),
                    None => decoder.call_method0("flush"),
                };
                let mut step = next(part.unwrap_or_default())?;
                loop {
                    let bytes = step.cast::<PyBytes>()?.as_bytes();
                    if bytes.is_empty() {
                        break;
                    }
                    out.extend_from_slice(bytes);
                    step = next(&[])?;
                }
            }
            Ok(())
        })();
        assert_eq!(out, expected.output(), "the Python Decoder's output");
        match (result, &expected.end) {
            (Ok(()), End::Done) => {}
            (Err(err), End::Failed(message)) => {
                assert!(
                    err.is_instance(py, &decoding_error),
                    "not a DecodingError: {err}"
                );
                let text = err.value(py).to_string();
                assert_eq!(Some(text.as_str()), message.strip_prefix("DecodingError: "));
            }
            (result, end) => panic!("the Python Decoder: {result:?}, the chain: {end:?}"),
        }
    });
}

fuzz_target!(|input: &[u8]| {
    let [seed, config, rest @ ..] = input else {
        return;
    };
    let (header, body) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let bounds = Bounds {
        size: SIZES[usize::from(config & 7)],
        ratio: RATIOS[usize::from(config >> 3 & 7)],
    };
    let encodings = applied(header);
    let plain = body;
    let compressed;
    let body = if config & 0x40 != 0 {
        match compress(body, &encodings) {
            Some(data) => {
                compressed = data;
                &compressed[..]
            }
            None => return,
        }
    } else {
        body
    };
    let mut parts = chunks(*seed, body, true);
    if parts.len() > MAX_CHUNKS {
        let kept: usize = parts[..MAX_CHUNKS - 1].iter().map(|p| p.len()).sum();
        parts.truncate(MAX_CHUNKS - 1);
        parts.push(&body[kept..]);
    }
    let Some(free) = stepwise(header, NONE, &parts) else {
        assert!(encodings.is_empty(), "no chain for {encodings:?}");
        return;
    };
    assert!(!encodings.is_empty(), "a chain for {header:?}");
    let bounded = match bounds {
        Bounds {
            size: None,
            ratio: None,
        } => free.clone(),
        _ => stepwise(header, bounds, &parts).unwrap(),
    };
    check_bounds(bounds, &bounded, &free);
    if free.end == End::Capped {
        return;
    }
    if config & 0x40 != 0 {
        assert_eq!(free.end, End::Done, "round trip of {encodings:?}");
        assert!(free.output() == plain, "round trip of {encodings:?}");
    }
    // The cut of the body must not matter.
    if parts.len() > 1 {
        let whole = stepwise(header, NONE, &[body]).unwrap();
        let same = match (&whole.end, &free.end) {
            (End::Done, End::Done) => whole.output() == free.output(),
            (End::Failed(_), End::Failed(_)) => true,
            _ => false,
        };
        assert!(
            same,
            "whole: {:?}, in {} chunks: {:?}",
            whole.end,
            parts.len(),
            free.end
        );
    }
    // The buffered path (`decode_buffered`) reads the same, within the same bounds.
    let all = Chain::for_header(header, bounds.size, bounds.ratio)
        .unwrap()
        .unwrap()
        .decode_all(&parts);
    match (&all, &bounded.end) {
        (Ok(out), End::Done) => assert!(*out == bounded.output(), "decode_all's output"),
        (Err(err), End::Failed(message)) => assert_eq!(err, message),
        (all, end) => panic!(
            "decode_all: {:?}, stepwise: {end:?}",
            all.as_ref().map(Vec::len)
        ),
    }
    if config & 0x80 != 0 {
        check_python(header, bounds, &parts, &bounded);
    }
});
