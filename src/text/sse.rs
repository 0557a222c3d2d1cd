//! Server-sent events parsed per the WHATWG EventSource rules, in Rust.
//!
//! Python feeds body chunks; each call returns the events completed by that chunk. Lines end at
//! CR, LF or CRLF (a CRLF split across chunks counts once); a UTF-8 BOM at the start is dropped;
//! `:` lines are comments; a field without a colon has an empty value; one space after the colon
//! is stripped; `data` lines are joined with `\n`; `id` persists across events (unless it holds
//! NUL); `retry` takes only ASCII digits; an empty line dispatches, and an event without data is
//! dropped; an event left incomplete at the end of the stream is discarded.

use std::collections::VecDeque;

use pyo3::prelude::*;

use super::aiter::{ItemQueue, IterType, Queued, Ready};

/// `(event, data, id, retry)` while parsing; an empty event type means the default, "message".
pub(crate) type Event = (String, String, String, Option<u64>);

/// One server-sent event. Defined here, re-exported as `requestx.ServerSentEvent`.
/// NOTE: a Python class built per event (`__init__` and four attributes) cost more than the
/// parsing; this object only moves the parsed strings, and makes Python strings when read.
/// SSE events/s (benchmarks/sse_events.py): 1.8M with the Python class, 2.3M with this one.
#[pyclass(frozen, eq, module = "requestx", name = "ServerSentEvent")]
#[derive(PartialEq, Eq)]
pub(crate) struct ServerSentEvent {
    /// None for the default type, "message" (no allocation per event for the common case).
    event_type: Option<String>,
    #[pyo3(get)]
    data: String,
    #[pyo3(get)]
    id: String,
    #[pyo3(get)]
    retry: Option<u64>,
}

#[pymethods]
impl ServerSentEvent {
    #[new]
    #[pyo3(
        signature = (event="message".to_owned(), data=String::new(), id=String::new(), retry=None),
        text_signature = "(event='message', data='', id='', retry=None)"
    )]
    fn new(event: String, data: String, id: String, retry: Option<u64>) -> Self {
        let event_type = (event != "message").then_some(event);
        Self {
            event_type,
            data,
            id,
            retry,
        }
    }

    /// The event type: "message" unless the stream named another.
    #[getter]
    fn event(&self) -> &str {
        self.event_type.as_deref().unwrap_or("message")
    }

    /// `data` decoded as JSON (the engine's decoder).
    fn json<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        super::json::json_loads(py, self.data.as_bytes())
    }

    fn __repr__(&self) -> String {
        format!(
            "ServerSentEvent(event={:?}, data={:?}, id={:?}, retry={})",
            self.event(),
            self.data,
            self.id,
            self.retry.map_or("None".to_owned(), |r| r.to_string())
        )
    }
}

/// Events parsed but not yet handed to Python (each becomes a `ServerSentEvent` when taken).
#[derive(Default)]
pub(crate) struct EventQueue(VecDeque<Event>);

impl ItemQueue for EventQueue {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn pop<'py>(&mut self, py: Python<'py>) -> Option<PyResult<Bound<'py, PyAny>>> {
        let event = self.0.pop_front()?;
        Some(Bound::new(py, ServerSentEvent::from(event)).map(Bound::into_any))
    }

    fn clear(&mut self) {
        self.0.clear();
    }
}

impl From<Event> for ServerSentEvent {
    fn from((event, data, id, retry): Event) -> Self {
        ServerSentEvent {
            event_type: (!event.is_empty()).then_some(event),
            data,
            id,
            retry,
        }
    }
}

/// Parses a body's chunks into events. `feed` returns them; `push`/`finish` queue them for the
/// native async iterator of `aiter_sse()` (`aiter.rs`), which makes each `ServerSentEvent` as
/// it is awaited.
#[pyclass(module = "requestx._requestx")]
#[derive(Default)]
pub(crate) struct SseDecoder {
    ready: Ready<EventQueue>,
    line: Vec<u8>,
    bom_checked: bool,
    after_cr: bool,
    event: String,
    data: String,
    last_id: String,
    retry: Option<u64>,
}

impl Queued for SseDecoder {
    type Queue = EventQueue;

    fn iter_type() -> &'static IterType {
        static TYPE: IterType = IterType::new(c"requestx._requestx.AsyncEvents");
        &TYPE
    }

    fn ready(&mut self) -> &mut Ready<EventQueue> {
        &mut self.ready
    }

    fn close(&mut self) {
        self.ready.close();
        self.line.clear();
        self.data.clear();
    }
}

impl SseDecoder {
    fn feed_bytes(&mut self, mut chunk: &[u8]) -> Vec<Event> {
        let events = Vec::new();
        if !self.bom_checked {
            // The BOM may itself arrive split; hold bytes until three are seen or they differ.
            const BOM: &[u8] = b"\xEF\xBB\xBF";
            let mut head = std::mem::take(&mut self.line);
            head.extend_from_slice(chunk);
            let n = head.len().min(3);
            if head[..n] == BOM[..n] && n < 3 {
                self.line = head;
                return events;
            }
            self.bom_checked = true;
            let start = if head.starts_with(BOM) { 3 } else { 0 };
            return self.feed_checked(&head[start..], events);
        }
        if self.after_cr && chunk.first() == Some(&b'\n') {
            chunk = &chunk[1..];
        }
        self.after_cr = false;
        self.feed_checked(chunk, events)
    }

    fn feed_checked(&mut self, chunk: &[u8], mut events: Vec<Event>) -> Vec<Event> {
        let mut rest = chunk;
        while let Some(pos) = memchr::memchr2(b'\n', b'\r', rest) {
            let (line, tail) = rest.split_at(pos);
            self.line.extend_from_slice(line);
            let line = std::mem::take(&mut self.line);
            self.process_line(&line, &mut events);
            let is_cr = tail[0] == b'\r';
            rest = &tail[1..];
            if is_cr {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    None => self.after_cr = true,
                    Some(_) => {}
                }
            }
        }
        self.line.extend_from_slice(rest);
        events
    }

    fn process_line(&mut self, line: &[u8], events: &mut Vec<Event>) {
        if line.is_empty() {
            self.dispatch(events);
            return;
        }
        if line[0] == b':' {
            return;
        }
        let line = String::from_utf8_lossy(line);
        let (field, value) = match line.find(':') {
            Some(i) => {
                let value = &line[i + 1..];
                (&line[..i], value.strip_prefix(' ').unwrap_or(value))
            }
            None => (line.as_ref(), ""),
        };
        match field {
            "event" => self.event = value.to_owned(),
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
            }
            "id" if !value.contains('\0') => self.last_id = value.to_owned(),
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                self.retry = value.parse().ok();
            }
            _ => {}
        }
    }

    fn dispatch(&mut self, events: &mut Vec<Event>) {
        let retry = self.retry.take();
        let event = std::mem::take(&mut self.event);
        if self.data.is_empty() {
            return;
        }
        let mut data = std::mem::take(&mut self.data);
        data.pop(); // the trailing "\n" of the last data line
        events.push((event, data, self.last_id.clone(), retry));
    }
}

#[pymethods]
impl SseDecoder {
    #[new]
    fn new() -> Self {
        Self::default()
    }

    /// The events completed by `chunk`.
    fn feed(&mut self, chunk: &[u8]) -> Vec<ServerSentEvent> {
        self.feed_bytes(chunk)
            .into_iter()
            .map(ServerSentEvent::from)
            .collect()
    }

    /// Queues the events completed by `chunk`; True if any event is ready.
    fn push(&mut self, chunk: &[u8]) -> bool {
        let events = self.feed_bytes(chunk);
        self.ready.items.0.extend(events);
        !self.ready.items.is_empty()
    }

    /// The body ended (an event left incomplete is discarded, as the rules say).
    fn finish(&mut self) {
        self.ready.ended = true;
    }

    /// The last event id seen (for `Last-Event-ID` when resuming).
    #[getter]
    fn last_event_id(&self) -> &str {
        &self.last_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(chunks: &[&[u8]]) -> Vec<Event> {
        let mut d = SseDecoder::default();
        chunks.iter().flat_map(|c| d.feed_bytes(c)).collect()
    }

    #[test]
    fn splits_on_every_line_ending_even_across_chunks() {
        let e = parse(&[b"data: a\r", b"\ndata: b\rdata: c\n\r\n"]);
        assert_eq!(e, vec![("".into(), "a\nb\nc".into(), "".into(), None)]);
    }

    #[test]
    fn bom_comments_fields_without_colon() {
        let e = parse(&[b"\xEF\xBB", b"\xBF: hi\nevent: x\ndata\nid: 7\n\n"]);
        assert_eq!(e, vec![("x".into(), "".into(), "7".into(), None)]);
    }

    #[test]
    fn retry_only_digits_and_no_data_no_event() {
        let e = parse(&[b"retry: 10x\nid: 1\n\nretry: 25\ndata:  two spaces\n\n"]);
        assert_eq!(
            e,
            vec![("".into(), " two spaces".into(), "1".into(), Some(25))]
        );
    }

    #[test]
    fn incomplete_event_at_end_is_dropped() {
        assert!(parse(&[b"data: never finished"]).is_empty());
    }
}
