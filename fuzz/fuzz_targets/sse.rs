//! `SseDecoder` (src/text/sse.rs), fed through Python in arbitrary chunks, against a model of the
//! rules its module documents, applied to the whole stream at once.
//!
//! Input: `[split seed][limit][stream...]`; `limit` picks `max_event_size` (0: none).

#![no_main]

use libfuzzer_sys::fuzz_target;
use pyo3::prelude::*;
use pyo3::types::PyBytes;
use requestx_fuzz::{chunks, with_python};

/// `(event, data, id, retry)`, the event type as Python reads it ("message" by default).
type Event = (String, String, String, Option<i64>);

#[derive(Debug, PartialEq)]
struct Outcome {
    events: Vec<Event>,
    overflowed: bool,
    last_id: String,
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

fn limit(b: u8) -> Option<usize> {
    match b {
        0 => None,
        0xFF => Some(0),
        1..=0x7F => Some(usize::from(b)),
        _ => Some(usize::from(b & 0x7F) << 6),
    }
}

/// One line of the stream: `start..end` is its text; it is complete once `done` bytes arrived
/// (after its CR or LF: a CRLF's LF is not waited for); the next line starts at `next`.
struct Line {
    start: usize,
    end: usize,
    done: usize,
    next: usize,
}

fn split_lines(stream: &[u8], from: usize) -> (Vec<Line>, usize) {
    let mut lines = Vec::new();
    let mut start = from;
    let mut i = from;
    while i < stream.len() {
        match stream[i] {
            b'\n' => {
                lines.push(Line {
                    start,
                    end: i,
                    done: i + 1,
                    next: i + 1,
                });
                start = i + 1;
            }
            b'\r' => {
                let next = if stream.get(i + 1) == Some(&b'\n') {
                    i + 2
                } else {
                    i + 1
                };
                lines.push(Line {
                    start,
                    end: i,
                    done: i + 1,
                    next,
                });
                start = next;
                i = next - 1;
            }
            _ => {}
        }
        i += 1;
    }
    (lines, start)
}

#[derive(Default)]
struct Model {
    events: Vec<Event>,
    event: String,
    data: Vec<String>,
    last_id: String,
    retry: Option<i64>,
    pending: bool,
    size: usize,
}

impl Model {
    /// False if the line takes the event over `max`.
    fn line(&mut self, line: &[u8], max: usize) -> bool {
        if line.is_empty() {
            self.size = 0;
            if std::mem::take(&mut self.pending) {
                let event = std::mem::take(&mut self.event);
                let event = if event.is_empty() {
                    "message".to_owned()
                } else {
                    event
                };
                let data = std::mem::take(&mut self.data).join("\n");
                self.events
                    .push((event, data, self.last_id.clone(), self.retry.take()));
            }
            return true;
        }
        if line[0] == b':' {
            return true;
        }
        self.size += line.len();
        if self.size > max {
            return false;
        }
        // ':' is ASCII, so decoding the two sides apart is decoding the line whole.
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => (
                &line[..i],
                line[i + 1..].strip_prefix(b" ").unwrap_or(&line[i + 1..]),
            ),
            None => (line, &b""[..]),
        };
        let value = String::from_utf8_lossy(value);
        match field {
            b"event" => {
                self.event = value.into_owned();
                self.pending = true;
            }
            b"data" => {
                self.data.push(value.into_owned());
                self.pending = true;
            }
            b"id" if !value.contains('\0') => {
                self.last_id = value.into_owned();
                self.pending = true;
            }
            b"retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                // As the module does: digits past i64 give no retry (httpx2's int() keeps them).
                self.retry = value.parse().ok();
                self.pending = true;
            }
            _ => {}
        }
        true
    }
}

/// The documented rules over the whole stream. `ends`: where the chunks ended; there, the line
/// still arriving counts against the limit with its event's lines before it.
fn model(stream: &[u8], ends: &[usize], max: Option<usize>) -> Outcome {
    let max = max.unwrap_or(usize::MAX);
    let bom = stream.starts_with(BOM);
    let (lines, _) = split_lines(stream, if bom { 3 } else { 0 });
    let mut m = Model::default();
    let mut next = 0;
    let mut overflowed = false;
    'chunks: for &end in ends {
        while next < lines.len() && lines[next].done <= end {
            let l = &lines[next];
            next += 1;
            if !m.line(&stream[l.start..l.end], max) {
                overflowed = true;
                break 'chunks;
            }
        }
        let start = lines.get(next).map_or_else(
            || lines.last().map_or(if bom { 3 } else { 0 }, |l| l.next),
            |l| l.start,
        );
        // The first bytes while they may still be a BOM are held, not counted: whether they are
        // event bytes is not known yet.
        let held = end < 3 && stream[..end] == BOM[..end];
        let arriving = if held { 0 } else { end.saturating_sub(start) };
        if m.size.saturating_add(arriving) > max {
            overflowed = true;
            break;
        }
    }
    Outcome {
        events: m.events,
        overflowed,
        last_id: m.last_id,
    }
}

fn decoded(py: Python<'_>, parts: &[&[u8]], max: Option<usize>) -> Outcome {
    let decoder = _requestx::fuzzing::sse_decoder_type(py)
        .call1((max, py.None()))
        .unwrap();
    let sse_error = py
        .import("requestx._sse")
        .unwrap()
        .getattr("SSEError")
        .unwrap();
    let overflow = |err: PyErr| {
        assert!(err.is_instance(py, &sse_error), "not an SSEError: {err}");
        let message = err.value(py).to_string();
        let limit = format!("exceeded the {} byte limit", max.unwrap());
        assert!(message.contains(&limit), "{message}");
    };
    let mut events = Vec::new();
    let mut overflowed = false;
    for part in parts {
        match decoder.call_method1("feed", (PyBytes::new(py, part),)) {
            Ok(list) => {
                for event in list.try_iter().unwrap() {
                    let event = event.unwrap();
                    let get = |name: &str| event.getattr(name).unwrap();
                    events.push((
                        get("event").extract().unwrap(),
                        get("data").extract().unwrap(),
                        get("id").extract().unwrap(),
                        get("retry").extract().unwrap(),
                    ));
                }
            }
            Err(err) => {
                overflow(err);
                overflowed = true;
                break;
            }
        }
    }
    if !overflowed {
        if let Err(err) = decoder.call_method0("check") {
            overflow(err);
            overflowed = true;
        }
    }
    let last_id = decoder.getattr("last_event_id").unwrap().extract().unwrap();
    Outcome {
        events,
        overflowed,
        last_id,
    }
}

fuzz_target!(|input: &[u8]| {
    let [seed, limit_byte, stream @ ..] = input else {
        return;
    };
    let max = limit(*limit_byte);
    // Empty chunks included: one between a CR and its LF used to end a second line (fixed).
    let parts = chunks(*seed, stream, true);
    let mut ends = Vec::with_capacity(parts.len());
    let mut at = 0;
    for part in &parts {
        at += part.len();
        ends.push(at);
    }
    let expected = model(stream, &ends, max);
    let got = with_python(|py| decoded(py, &parts, max));
    assert_eq!(got, expected, "chunks {parts:?}");
});
