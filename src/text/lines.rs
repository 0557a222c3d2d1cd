//! `iter_lines()` / `aiter_lines()` for UTF-8 bodies: incremental decoding and line splitting in
//! one pass over each chunk, with httpx's line rules.
//!
//! httpx splits decoded text with `str.splitlines()`, so a line ends at `\n`, `\r`, `\r\n`, `\x0b`,
//! `\x0c`, `\x1c`, `\x1d`, `\x1e`, `\x85`, `\u2028` or `\u2029`; a `\r` at the end of a chunk
//! waits for the next one (it may be half of a `\r\n`). Invalid UTF-8 becomes U+FFFD, as
//! `errors="replace"` does; a character split across chunks is carried over.
//!
//! NOTE: this replaces three Python layers per chunk (`aiter_text`'s incremental decoder, the
//! splitter, `"".join` of partial lines) and one `str` per line built by Python; the referee's
//! `sse_lines` row (200k events, two lines each) is bound by Python's cost per line.

use std::borrow::Cow;

use pyo3::exceptions::{PyRuntimeError, PyStopAsyncIteration};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString};

use super::aiter::{ItemQueue, IterType, Queued, Ready};

/// Bytes that end a line on their own (besides `\r`, handled for `\r\n`).
fn is_ascii_break(b: u8) -> bool {
    matches!(b, b'\n' | 0x0b | 0x0c | 0x1c..=0x1e)
}

/// True if `text` holds a line break other than `\n` and `\r` (checked once per chunk, so the
/// common text takes the memchr path).
fn has_rare_breaks(text: &[u8]) -> bool {
    text.iter().fold(false, |seen, &b| {
        seen | matches!(b, 0x0b | 0x0c | 0x1c..=0x1e | 0xc2 | 0xe2)
    })
}

#[derive(Default)]
struct Splitter {
    /// The start of a line whose end has not arrived yet.
    partial: String,
    /// The previous chunk ended with `\r`.
    trailing_cr: bool,
    /// The bytes of a character split across chunks (at most 3).
    carry: Vec<u8>,
}

impl Splitter {
    /// Decodes `bytes` (after any carried bytes), keeping an incomplete last character for later.
    /// Borrows the chunk when it is whole, valid UTF-8 (the common case).
    fn decode<'a>(&mut self, bytes: &'a [u8]) -> Cow<'a, str> {
        if self.carry.is_empty() {
            if let Ok(text) = std::str::from_utf8(bytes) {
                return Cow::Borrowed(text);
            }
        }
        let mut data = std::mem::take(&mut self.carry);
        data.extend_from_slice(bytes);
        let mut text = String::with_capacity(data.len() + 3);
        decode_lossy(&data, &mut text, &mut self.carry);
        Cow::Owned(text)
    }

    /// Decodes `chunk` and passes the lines it completes to `emit`.
    fn feed(&mut self, chunk: &[u8], emit: &mut impl FnMut(&str)) {
        let text = self.decode(chunk);
        self.split(&text, emit);
    }

    /// Splits `text` into complete lines (passed to `emit`), keeping the unfinished end.
    fn split(&mut self, mut text: &str, emit: &mut impl FnMut(&str)) {
        if text.is_empty() {
            return; // an empty chunk (or only part of a character) must not end a `\r`'s wait
        }
        if self.trailing_cr {
            self.trailing_cr = false;
            if let Some(rest) = text.strip_prefix('\n') {
                text = rest; // the second half of a `\r\n` whose line was already emitted
            }
        }
        let rare = has_rare_breaks(text.as_bytes());
        while !text.is_empty() {
            let found = if rare {
                next_break_any(text)
            } else {
                memchr::memchr2(b'\n', b'\r', text.as_bytes()).map(|i| (i, 1))
            };
            let Some((at, width)) = found else {
                self.partial.push_str(text);
                return;
            };
            let mut end = at + width;
            if text.as_bytes()[at] == b'\r' {
                match text.as_bytes().get(at + 1) {
                    Some(b'\n') => end += 1,
                    Some(_) => {}
                    None => self.trailing_cr = true,
                }
            }
            if self.partial.is_empty() {
                emit(&text[..at]);
            } else {
                self.partial.push_str(&text[..at]);
                emit(&self.partial);
                self.partial.clear();
            }
            text = &text[end..];
        }
    }

    /// The unfinished last line, if any, and any carried bytes as U+FFFD.
    fn finish(&mut self, emit: &mut impl FnMut(&str)) {
        if !self.carry.is_empty() {
            self.carry.clear();
            self.partial.push(char::REPLACEMENT_CHARACTER);
        }
        self.trailing_cr = false;
        if !self.partial.is_empty() {
            emit(&self.partial);
            self.partial.clear();
        }
    }
}

/// Appends `data` to `out` as `errors="replace"` decodes it; an incomplete character at the very
/// end goes to `carry` instead.
fn decode_lossy(mut data: &[u8], out: &mut String, carry: &mut Vec<u8>) {
    loop {
        match std::str::from_utf8(data) {
            Ok(text) => {
                out.push_str(text);
                return;
            }
            Err(err) => {
                let (valid, rest) = data.split_at(err.valid_up_to());
                // SAFETY: `valid_up_to` bytes were just checked to be UTF-8.
                out.push_str(unsafe { std::str::from_utf8_unchecked(valid) });
                match err.error_len() {
                    None => {
                        carry.extend_from_slice(rest);
                        return;
                    }
                    Some(bad) => {
                        out.push(char::REPLACEMENT_CHARACTER);
                        data = &rest[bad..];
                    }
                }
            }
        }
    }
}

/// The next line break of any kind in `text`: (index, width in bytes).
fn next_break_any(text: &str) -> Option<(usize, usize)> {
    text.char_indices().find_map(|(i, c)| match c {
        '\r' => Some((i, 1)),
        c if c.is_ascii() && is_ascii_break(c as u8) => Some((i, 1)),
        '\u{85}' | '\u{2028}' | '\u{2029}' => Some((i, c.len_utf8())),
        _ => None,
    })
}

/// Complete lines not yet turned into `str`: their text back to back, and where each ends.
/// NOTE: a `str` is made only when its line is taken, so one line is alive at a time instead of a
/// chunk's worth (tens of thousands); building them all at once made pymalloc map and unmap arenas
/// for every chunk (~8% of `aiter_lines` time in page faults and munmap).
#[derive(Default)]
pub(crate) struct LineQueue {
    text: String,
    ends: Vec<usize>,
    /// How many lines were taken; the next starts where the previous one ended.
    taken: usize,
}

impl ItemQueue for LineQueue {
    fn is_empty(&self) -> bool {
        self.taken == self.ends.len()
    }

    fn pop<'py>(&mut self, py: Python<'py>) -> Option<PyResult<Bound<'py, PyAny>>> {
        self.pop_line(py).map(|line| Ok(line.into_any()))
    }

    fn clear(&mut self) {
        self.text.clear();
        self.ends.clear();
        self.taken = 0;
    }
}

impl LineQueue {
    fn push(&mut self, line: &str) {
        self.text.push_str(line);
        self.ends.push(self.text.len());
    }

    /// The next line as a new `str`, or None.
    fn pop_line<'py>(&mut self, py: Python<'py>) -> Option<Bound<'py, PyString>> {
        let end = *self.ends.get(self.taken)?;
        let start = match self.taken {
            0 => 0,
            i => self.ends[i - 1],
        };
        self.taken += 1;
        let line = PyString::new(py, &self.text[start..end]);
        if self.is_empty() {
            self.clear();
        }
        Some(line)
    }
}

/// Turns a body's chunks into its lines (`str`, without their line breaks), chunk by chunk.
/// `feed`/`flush` return the lines; `push`/`finish` queue them for `pop` (the async iterator of
/// `aiter_lines`, `AsyncLines`, takes the queue whole and makes each `str` as it is awaited).
#[pyclass(module = "requestx._requestx")]
#[derive(Default)]
pub(crate) struct LineDecoder {
    splitter: Splitter,
    ready: Ready<LineQueue>,
}

impl Queued for LineDecoder {
    type Queue = LineQueue;
    const KEEPS_LAST: bool = false;

    fn iter_type() -> &'static IterType {
        static TYPE: IterType = IterType::new(c"requestx._requestx.AsyncLines");
        &TYPE
    }

    fn ready(&mut self) -> &mut Ready<LineQueue> {
        &mut self.ready
    }

    fn close(&mut self) {
        self.ready.close();
        self.splitter = Splitter::default();
    }
}

#[pymethods]
impl LineDecoder {
    #[new]
    fn new() -> Self {
        Self::default()
    }

    /// The lines completed by `chunk` (bytes of a UTF-8 body).
    fn feed<'py>(&mut self, py: Python<'py>, chunk: &[u8]) -> PyResult<Bound<'py, PyList>> {
        let mut lines = Vec::new();
        self.splitter
            .feed(chunk, &mut |line| lines.push(PyString::new(py, line)));
        PyList::new(py, lines)
    }

    /// The last line if the body did not end with a line break.
    fn flush<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let mut lines = Vec::new();
        self.splitter
            .finish(&mut |line| lines.push(PyString::new(py, line)));
        PyList::new(py, lines)
    }

    /// Queues the lines completed by `chunk`; True if any line is ready.
    fn push(&mut self, chunk: &[u8]) -> bool {
        let items = &mut self.ready.items;
        self.splitter.feed(chunk, &mut |line| items.push(line));
        !items.is_empty()
    }

    /// Queues the last line (if the body did not end with a line break): the body ended.
    fn finish(&mut self) {
        let items = &mut self.ready.items;
        self.splitter.finish(&mut |line| items.push(line));
        self.ready.ended = true;
    }

    /// The next queued line; StopAsyncIteration when none is left after `finish`.
    fn pop<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyString>> {
        match self.ready.items.pop_line(py) {
            Some(line) => Ok(line),
            None if self.ready.ended => Err(PyStopAsyncIteration::new_err(())),
            None => Err(PyRuntimeError::new_err("no line is ready")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: &[&[u8]]) -> Vec<String> {
        let mut splitter = Splitter::default();
        let mut lines = Vec::new();
        for chunk in chunks {
            splitter.feed(chunk, &mut |line| lines.push(line.to_owned()));
        }
        splitter.finish(&mut |line| lines.push(line.to_owned()));
        lines
    }

    #[test]
    fn splits_like_str_splitlines() {
        let text = "a\nb\r\nc\rd\x0be\x0cf\x1cg\x1dh\x1ei\u{85}j\u{2028}k\u{2029}l\n\nm";
        let expected: Vec<&str> = vec![
            "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "", "m",
        ];
        assert_eq!(run(&[text.as_bytes()]), expected);
        // Every split point of the same bytes gives the same lines.
        for cut in 1..text.len() {
            let (head, tail) = text.as_bytes().split_at(cut);
            assert_eq!(run(&[head, tail]), expected, "cut at {cut}");
        }
    }

    #[test]
    fn crlf_split_across_chunks_is_one_break() {
        assert_eq!(run(&[b"a\r", b"\nb\r", b"\r\n"]), vec!["a", "b", ""]);
    }

    #[test]
    fn an_empty_chunk_between_cr_and_lf_changes_nothing() {
        // Found by the fuzz target `lines`: the empty chunk ended the `\r`'s wait for its `\n`.
        assert_eq!(run(&[b"a\r", b"", b"\nb"]), vec!["a", "b"]);
        assert_eq!(
            run(&[b"a\r", b"\xe2", b"\x82\xac\n"]),
            vec!["a", "\u{20ac}"]
        );
    }

    #[test]
    fn invalid_and_truncated_utf8_become_replacement_characters() {
        assert_eq!(
            run(&[b"a\xffb\n", b"\xe2\x82"]),
            vec!["a\u{fffd}b", "\u{fffd}"]
        );
        assert_eq!(run(&[b"\xe2", b"\x82\xac\n"]), vec!["\u{20ac}"]);
    }
}
