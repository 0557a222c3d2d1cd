//! `LineDecoder` (src/text/lines.rs, its `Splitter`), fed through Python in arbitrary chunks by
//! both of its faces (`feed`/`flush`, and `push`/`pop`/`finish` of `aiter_lines()`), against a
//! reference splitter on every break the module documents, and against what the module says it
//! matches: `bytes.decode("utf-8", "replace").splitlines()`.
//!
//! Input: `[split seed][body...]`.

#![no_main]

use libfuzzer_sys::fuzz_target;
use pyo3::exceptions::{PyRuntimeError, PyStopAsyncIteration};
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use requestx_fuzz::{chunks, with_python};

/// Lines of the whole text, split on `\r\n`, `\r`, `\n` and the rest of `str.splitlines()`'s
/// breaks (`\v`, `\f`, `\x1c`-`\x1e`, NEL, LS, PS); an unfinished last line counts.
fn reference(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                lines.push(std::mem::take(&mut line));
            }
            '\n' | '\x0b' | '\x0c' | '\x1c' | '\x1d' | '\x1e' | '\u{85}' | '\u{2028}'
            | '\u{2029}' => lines.push(std::mem::take(&mut line)),
            c => line.push(c),
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

fn strings(list: Bound<'_, PyAny>) -> Vec<String> {
    list.extract().unwrap()
}

/// `iter_lines()`'s way: `feed` each chunk, then `flush`.
fn fed(py: Python<'_>, parts: &[&[u8]]) -> Vec<String> {
    let decoder = _requestx::fuzzing::line_decoder_type(py).call0().unwrap();
    let mut lines = Vec::new();
    for part in parts {
        lines.extend(strings(
            decoder
                .call_method1("feed", (PyBytes::new(py, part),))
                .unwrap(),
        ));
    }
    lines.extend(strings(decoder.call_method0("flush").unwrap()));
    lines
}

/// `aiter_lines()`'s way: `push` each chunk, `pop` while lines are ready, `finish`, `pop` to the end.
fn pushed(py: Python<'_>, parts: &[&[u8]]) -> Vec<String> {
    let decoder = _requestx::fuzzing::line_decoder_type(py).call0().unwrap();
    let mut lines = Vec::new();
    let pop_all = |lines: &mut Vec<String>, ended: bool| loop {
        match decoder.call_method0("pop") {
            Ok(line) => lines.push(line.extract().unwrap()),
            Err(err) if !ended && err.is_instance_of::<PyRuntimeError>(py) => return,
            Err(err) if ended && err.is_instance_of::<PyStopAsyncIteration>(py) => return,
            Err(err) => panic!("pop raised {err}"),
        }
    };
    for part in parts {
        let before = lines.len();
        let ready: bool = decoder
            .call_method1("push", (PyBytes::new(py, part),))
            .unwrap()
            .extract()
            .unwrap();
        pop_all(&mut lines, false);
        assert_eq!(ready, lines.len() > before, "push() said {ready}");
    }
    decoder.call_method0("finish").unwrap();
    pop_all(&mut lines, true);
    lines
}

fuzz_target!(|input: &[u8]| {
    let [seed, body @ ..] = input else {
        return;
    };
    // Empty chunks included: one between a CR and its LF used to end a second line (fixed).
    let parts = chunks(*seed, body, true);
    let expected = reference(&String::from_utf8_lossy(body));
    with_python(|py| {
        let python: Vec<String> = PyBytes::new(py, body)
            .call_method1("decode", ("utf-8", "replace"))
            .and_then(|text| text.call_method0("splitlines"))
            .unwrap()
            .extract()
            .unwrap();
        assert_eq!(expected, python, "the reference is not str.splitlines()");
        assert_eq!(fed(py, &parts), expected, "feed/flush, chunks {parts:?}");
        assert_eq!(pushed(py, &parts), expected, "push/pop, chunks {parts:?}");
    });
});
