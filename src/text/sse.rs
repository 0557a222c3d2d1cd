//! Server-sent events parsed in Rust, with the line rules of the WHATWG EventSource standard and
//! the dispatch rule of httpx2 (and httpx-sse).
//!
//! Python feeds body chunks; each call returns the events completed by that chunk. Lines end at
//! CR, LF or CRLF (a CRLF split across chunks counts once); a UTF-8 BOM at the start is dropped;
//! `:` lines are comments; a field without a colon has an empty value; one space after the colon
//! is stripped; `data` lines are joined with `\n`; `id` persists across events (unless it holds
//! NUL); `retry` takes only ASCII digits. An empty line dispatches an event once the block had an
//! `event`, `data`, `id` (without NUL) or valid `retry` line, as httpx2 does: `event: ping` alone
//! is an event with empty data (the WHATWG rules would drop it); a block of comments or unknown
//! fields is not. An event left incomplete at the end of the stream is discarded.
//!
//! With a `max_event_size`, the bytes of the lines of one event (comments and line endings not
//! counted, a line still arriving counted as it arrives) are bounded as httpx2 bounds them: the
//! line that passes the limit raises `SSEError`, after the events completed before it.

use std::collections::VecDeque;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyString, PyType};
use pyo3::{PyTraverseError, PyVisit};

use super::aiter::{ItemQueue, IterType, Queued, Ready};

/// `(event, data, id, retry)` while parsing; an empty event type means the default, "message".
pub(crate) type Event = (String, String, String, Option<i64>);

/// One server-sent event. Defined here, re-exported as `requestx.ServerSentEvent`; it behaves as
/// httpx2's frozen dataclass (fields, defaults, `json()`, repr, equality, hash, `__match_args__`).
/// NOTE: a Python class built per event (`__init__` and four attributes) cost more than the
/// parsing; this object only moves the parsed strings, and makes Python strings when read.
/// SSE events/s (benchmarks/sse_events.py): 1.8M with the Python class, 2.3M with this one.
#[pyclass(frozen, eq, hash, module = "requestx", name = "ServerSentEvent")]
#[derive(PartialEq, Eq, Hash)]
pub(crate) struct ServerSentEvent {
    /// None for the default type, "message" (no allocation per event for the common case).
    event_type: Option<String>,
    #[pyo3(get)]
    data: String,
    #[pyo3(get)]
    id: String,
    #[pyo3(get)]
    retry: Option<i64>,
}

#[pymethods]
impl ServerSentEvent {
    /// None for `event`, `data` or `id` means its default, as in httpx-sse.
    #[new]
    #[pyo3(
        signature = (event=None, data=None, id=None, retry=None),
        text_signature = "(event='message', data='', id='', retry=None)"
    )]
    fn new(
        event: Option<String>,
        data: Option<String>,
        id: Option<String>,
        retry: Option<i64>,
    ) -> Self {
        Self {
            event_type: event.filter(|e| e != "message"),
            data: data.unwrap_or_default(),
            id: id.unwrap_or_default(),
            retry,
        }
    }

    #[classattr]
    fn __match_args__() -> (&'static str, &'static str, &'static str, &'static str) {
        ("event", "data", "id", "retry")
    }

    /// The event type: "message" unless the stream named another.
    #[getter]
    fn event(&self) -> &str {
        self.event_type.as_deref().unwrap_or("message")
    }

    /// `data` decoded as JSON (the engine's decoder).
    fn json<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        match super::json::json_loads(py, self.data.as_bytes()) {
            Ok(value) => Ok(value),
            // What serde refuses and the standard library takes (NaN, lone surrogates, numbers
            // beyond a float, deep nesting) is decoded as httpx2 decodes it, with its errors;
            // `Response.json()` falls back alike.
            Err(_) => py
                .import("json")?
                .call_method1("loads", (self.data.as_str(),)),
        }
    }

    /// As the dataclass's: `ServerSentEvent(event='message', data='', id='', retry=None)`.
    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let repr = |s: &str| PyString::new(py, s).repr().map(|r| r.to_string());
        Ok(format!(
            "ServerSentEvent(event={}, data={}, id={}, retry={})",
            repr(self.event())?,
            repr(&self.data)?,
            repr(&self.id)?,
            self.retry.map_or("None".to_owned(), |r| r.to_string())
        ))
    }

    /// Pickling and `copy` (a frozen dataclass has both).
    #[allow(clippy::type_complexity)]
    fn __reduce__<'py>(
        slf: &Bound<'py, Self>,
    ) -> (Bound<'py, PyType>, (String, String, String, Option<i64>)) {
        let this = slf.get();
        let fields = (
            this.event().to_owned(),
            this.data.clone(),
            this.id.clone(),
            this.retry,
        );
        (slf.get_type(), fields)
    }
}

/// Events parsed but not yet handed to Python (each becomes a `ServerSentEvent` when taken), then
/// the `SSEError` of an event over the size limit, if one came.
#[derive(Default)]
pub(crate) struct EventQueue {
    events: VecDeque<Event>,
    error: Option<PyErr>,
}

impl ItemQueue for EventQueue {
    fn is_empty(&self) -> bool {
        self.events.is_empty() && self.error.is_none()
    }

    fn pop<'py>(&mut self, py: Python<'py>) -> Option<PyResult<Bound<'py, PyAny>>> {
        match self.events.pop_front() {
            Some(event) => Some(Bound::new(py, ServerSentEvent::from(event)).map(Bound::into_any)),
            None => self.error.take().map(Err),
        }
    }

    fn clear(&mut self) {
        self.events.clear();
        self.error = None;
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

/// `requestx._sse.SSEError` (imported when first raised: that module imports the engine).
static SSE_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// Parses a body's chunks into events. `feed` returns them; `push`/`finish` queue them for the
/// native async iterator of `aiter_sse()` (`aiter.rs`), which makes each `ServerSentEvent` as
/// it is awaited.
#[pyclass(module = "requestx._requestx")]
pub(crate) struct SseDecoder {
    ready: Ready<EventQueue>,
    line: Vec<u8>,
    bom_checked: bool,
    after_cr: bool,
    event: String,
    data: String,
    last_id: String,
    retry: Option<i64>,
    /// The block so far has a field that makes the empty line after it dispatch an event.
    pending: bool,
    /// Bytes of the current block's lines (httpx2's count), and the limit (`usize::MAX`: none).
    event_size: usize,
    max_event_size: usize,
    /// An event went over the limit: nothing more is parsed, and `SSEError` is raised.
    overflowed: bool,
    /// The request, for the `SSEError` (it has a `request` as every `RequestError`).
    request: Option<Py<PyAny>>,
}

impl Default for SseDecoder {
    fn default() -> Self {
        Self {
            ready: Ready::default(),
            line: Vec::new(),
            bom_checked: false,
            after_cr: false,
            event: String::new(),
            data: String::new(),
            last_id: String::new(),
            retry: None,
            pending: false,
            event_size: 0,
            max_event_size: usize::MAX,
            overflowed: false,
            request: None,
        }
    }
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
        let mut events = Vec::new();
        // An empty chunk changes nothing (it must not end a pending `\r`'s wait for its `\n`).
        if self.overflowed || chunk.is_empty() {
            return events;
        }
        if !self.bom_checked {
            // The BOM may itself arrive split; hold bytes until three are seen or they differ.
            const BOM: &[u8] = b"\xEF\xBB\xBF";
            let mut head = std::mem::take(&mut self.line);
            head.extend_from_slice(chunk);
            let n = head.len().min(3);
            if head[..n] == BOM[..n] && n < 3 {
                self.line = head;
            } else {
                self.bom_checked = true;
                let start = if head.starts_with(BOM) { 3 } else { 0 };
                self.feed_lines(&head[start..], &mut events);
            }
        } else {
            if self.after_cr && chunk.first() == Some(&b'\n') {
                chunk = &chunk[1..];
            }
            self.after_cr = false;
            self.feed_lines(chunk, &mut events);
        }
        // httpx2 also bounds the line still arriving, with the block's lines before it (a BOM
        // still being held is not part of it).
        let arriving = if self.bom_checked { self.line.len() } else { 0 };
        if !self.overflowed && self.event_size.saturating_add(arriving) > self.max_event_size {
            self.overflow();
        }
        events
    }

    fn feed_lines(&mut self, chunk: &[u8], events: &mut Vec<Event>) {
        let mut rest = chunk;
        while let Some(pos) = memchr::memchr2(b'\n', b'\r', rest) {
            let (line, tail) = rest.split_at(pos);
            let fits = if self.line.is_empty() {
                // The whole line is in this chunk: parsed in place, not copied.
                self.process_line(line, events)
            } else {
                self.line.extend_from_slice(line);
                let mut held = std::mem::take(&mut self.line);
                let fits = self.process_line(&held, events);
                held.clear();
                self.line = held; // its memory is reused for the next line split across chunks
                fits
            };
            if !fits {
                self.overflow();
                return;
            }
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
    }

    /// Applies one line; false if it takes the event over the size limit.
    fn process_line(&mut self, line: &[u8], events: &mut Vec<Event>) -> bool {
        if line.is_empty() {
            self.dispatch(events);
            return true;
        }
        if line[0] == b':' {
            return true;
        }
        self.event_size += line.len();
        if self.event_size > self.max_event_size {
            return false;
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
            "event" => {
                self.event = value.to_owned();
                self.pending = true;
            }
            "data" => {
                self.data.push_str(value);
                self.data.push('\n');
                self.pending = true;
            }
            "id" if !value.contains('\0') => {
                self.last_id.clear();
                self.last_id.push_str(value);
                self.pending = true;
            }
            "retry" if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
                self.retry = value.parse().ok();
                self.pending = true;
            }
            _ => {}
        }
        true
    }

    fn dispatch(&mut self, events: &mut Vec<Event>) {
        self.event_size = 0;
        if !self.pending {
            return;
        }
        self.pending = false;
        let mut data = std::mem::take(&mut self.data);
        data.pop(); // the trailing "\n" of the last data line (none if there was no data line)
        let event = std::mem::take(&mut self.event);
        events.push((event, data, self.last_id.clone(), self.retry.take()));
    }

    /// Stops parsing: the event in progress went over the limit.
    fn overflow(&mut self) {
        self.overflowed = true;
        self.line = Vec::new();
        self.data = String::new();
        self.event.clear();
    }

    /// httpx2's `SSEError` for an event over the limit, with the request.
    fn overflow_error(&self, py: Python<'_>) -> PyErr {
        let message = format!(
            "Server-sent event exceeded the {} byte limit.",
            self.max_event_size
        );
        let made = (|| {
            let class = SSE_ERROR.import(py, "requestx._sse", "SSEError")?;
            let kwargs = PyDict::new(py);
            kwargs.set_item("request", &self.request)?;
            class.call((message,), Some(&kwargs))
        })();
        match made {
            Ok(error) => PyErr::from_value(error),
            Err(err) => err,
        }
    }

    /// The `SSEError` if an event went over the limit.
    fn check_size(&self, py: Python<'_>) -> PyResult<()> {
        if self.overflowed {
            return Err(self.overflow_error(py));
        }
        Ok(())
    }
}

#[pymethods]
impl SseDecoder {
    /// `max_event_size`: the bound on one event's bytes (None: unbounded); `request` goes on the
    /// `SSEError` raised past it.
    #[new]
    #[pyo3(signature = (max_event_size=None, request=None))]
    fn new(max_event_size: Option<usize>, request: Option<Py<PyAny>>) -> Self {
        Self {
            max_event_size: max_event_size.unwrap_or(usize::MAX),
            request,
            ..Self::default()
        }
    }

    /// The events completed by `chunk`. If an event went over the size limit, these are the
    /// events before it, and `check()` raises (as `feed` does when nothing came before it).
    fn feed(&mut self, py: Python<'_>, chunk: &[u8]) -> PyResult<Vec<ServerSentEvent>> {
        self.check_size(py)?;
        let events = self.feed_bytes(chunk);
        if events.is_empty() {
            self.check_size(py)?;
        }
        Ok(events.into_iter().map(ServerSentEvent::from).collect())
    }

    /// Raises `SSEError` if an event went over the size limit.
    fn check(&self, py: Python<'_>) -> PyResult<()> {
        self.check_size(py)
    }

    /// Queues the events completed by `chunk`; True if any event is ready. An event over the size
    /// limit queues its `SSEError` after the events before it, and ends the stream.
    fn push(&mut self, py: Python<'_>, chunk: &[u8]) -> PyResult<bool> {
        self.check_size(py)?;
        let events = self.feed_bytes(chunk);
        self.ready.items.events.extend(events);
        if self.overflowed {
            self.ready.items.error = Some(self.overflow_error(py));
            self.ready.ended = true;
        }
        Ok(!self.ready.items.is_empty())
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

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        if let Some(request) = &self.request {
            visit.call(request)?;
        }
        Ok(())
    }

    fn __clear__(&mut self) {
        self.request = None;
        self.ready.items.error = None;
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
    fn an_empty_chunk_between_cr_and_lf_changes_nothing() {
        // Found by the fuzz target `sse`: the empty chunk ended the `\r`'s wait for its `\n`.
        let e = parse(&[b"data: a\r", b"", b"\ndata: b\n\n"]);
        assert_eq!(e, vec![("".into(), "a\nb".into(), "".into(), None)]);
    }

    #[test]
    fn a_bom_arriving_split_is_not_counted_against_the_size_limit() {
        // Found by the fuzz target `sse`, with a limit of 1 byte.
        let mut d = SseDecoder {
            max_event_size: 1,
            ..SseDecoder::default()
        };
        for chunk in [&b"\xEF"[..], b"\xBB", b"\xBF"] {
            assert!(d.feed_bytes(chunk).is_empty());
        }
        assert!(!d.overflowed);
    }

    #[test]
    fn bom_comments_fields_without_colon() {
        let e = parse(&[b"\xEF\xBB", b"\xBF: hi\nevent: x\ndata\nid: 7\n\n"]);
        assert_eq!(e, vec![("x".into(), "".into(), "7".into(), None)]);
    }

    fn ev(event: &str, data: &str, id: &str, retry: Option<i64>) -> Event {
        (event.into(), data.into(), id.into(), retry)
    }

    #[test]
    fn retry_only_digits() {
        let e = parse(&[b"retry: 10x\ndata: a\n\nretry: 25\ndata:  two spaces\n\n"]);
        assert_eq!(
            e,
            vec![ev("", "a", "", None), ev("", " two spaces", "", Some(25))]
        );
    }

    #[test]
    fn blocks_without_data_dispatch_as_in_httpx2() {
        // An event, id or valid retry line makes a block an event; comments, unknown fields, an
        // id holding NUL and an invalid retry do not.
        let e = parse(&[
            b"event: ping\n\nid: 1\n\nretry: 30\n\nevent:\n\n",
            b": only a comment\n\nfoo: bar\n\nid: x\0y\n\nretry: 3s\n\n\n\ndata: real\n\n",
        ]);
        assert_eq!(
            e,
            vec![
                ev("ping", "", "", None),
                ev("", "", "1", None),
                ev("", "", "1", Some(30)),
                ev("", "", "1", None),
                ev("", "real", "1", None),
            ]
        );
    }

    #[test]
    fn incomplete_event_at_end_is_dropped() {
        assert!(parse(&[b"data: never finished"]).is_empty());
        assert!(parse(&[b"event: ping\n"]).is_empty());
    }

    #[test]
    fn a_line_split_across_chunks_is_joined() {
        let e = parse(&[b"da", b"ta: he", b"llo\n", b"\n"]);
        assert_eq!(e, vec![ev("", "hello", "", None)]);
    }

    fn limited(max: usize, chunks: &[&[u8]]) -> (Vec<Event>, bool) {
        let mut d = SseDecoder {
            max_event_size: max,
            ..SseDecoder::default()
        };
        let events = chunks.iter().flat_map(|c| d.feed_bytes(c)).collect();
        (events, d.overflowed)
    }

    #[test]
    fn max_event_size_counts_the_lines_of_one_event() {
        // "event: x" (8) + "data: abcd" (10): 18 bytes; comments and line endings are not counted.
        let body: &[u8] = b": a long comment, not counted\nevent: x\r\ndata: abcd\n\n";
        assert_eq!(limited(18, &[body, body]).0.len(), 2);
        assert!(!limited(18, &[body, body]).1);
        // One byte less: the data line passes the limit; nothing of the event is returned.
        assert_eq!(limited(17, &[body]), (vec![], true));
    }

    #[test]
    fn max_event_size_stops_after_the_events_before() {
        let (events, overflowed) = limited(10, &[b"data: a\n\ndata: 0123456789\n\ndata: b\n\n"]);
        assert_eq!((events, overflowed), (vec![ev("", "a", "", None)], true));
    }

    #[test]
    fn max_event_size_bounds_a_line_still_arriving() {
        assert_eq!(limited(10, &[b"data: 01234"]), (vec![], true));
        assert_eq!(limited(11, &[b"data: 01234"]), (vec![], false));
        // The count starts again at every empty line.
        assert_eq!(limited(11, &[b"data: 01234\n\ndata: 56789\n"]).0.len(), 1);
    }
}
