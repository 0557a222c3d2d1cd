//! Content-Encoding, undone in Rust: gzip, deflate, br, zstd and stacks of them.
//!
//! reqwest's own decompression is off, so the engine sees the body as sent: `iter_raw()` yields it
//! untouched, buffered bodies are decoded here on a tokio thread (off the GIL), and streamed bodies
//! through a `Decoder` that Python feeds chunk by chunk.
//!
//! The decoders pull: each stage reads from the one below it, the lowest from the input fed so
//! far (`Source`, which answers "would block" until more arrives), so output is taken in steps
//! of a bounded size whatever the compression ratio. A decompression bomb is read a step at a
//! time, and `Bounds` cap the whole.

use std::io::{BufRead, BufReader, Read};
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::error::RxError;

/// NOTE: a streamed body is decoded in steps of at most this much output: half a megabyte of gzip
/// used to come out of `iter_bytes()` as one 511 MiB chunk (a few KiB of br or zstd as 1.2 GiB).
pub(crate) const STEP_OUTPUT: usize = 1 << 20;
/// What one read of the top stage asks for (the output buffer grows by this much at a time).
const READ_PIECE: usize = 64 * 1024;

/// How much a decoded body may grow (`Limits(max_decompressed_size=, max_decompression_ratio=)`).
#[derive(Clone, Copy, Default)]
pub(crate) struct Bounds {
    pub(crate) max_size: Option<u64>,
    pub(crate) max_ratio: Option<f64>,
}

/// The input fed so far and not yet taken by the lowest stage, and whether the body has ended.
#[derive(Default)]
struct Feed {
    data: Vec<u8>,
    ended: bool,
}

/// The lowest stage's input: "would block" while the feed is empty and the body goes on, so
/// every decoder stops with its state kept, and goes on when more is fed.
struct Source {
    feed: Arc<parking_lot::Mutex<Feed>>,
    buf: Vec<u8>,
    pos: usize,
}

impl Read for Source {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for Source {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.pos == self.buf.len() {
            let mut feed = self.feed.lock();
            self.buf.clear();
            std::mem::swap(&mut self.buf, &mut feed.data);
            self.pos = 0;
            if self.buf.is_empty() && !feed.ended {
                return Err(std::io::ErrorKind::WouldBlock.into());
            }
        }
        Ok(&self.buf[self.pos..])
    }

    fn consume(&mut self, amount: usize) {
        self.pos = (self.pos + amount).min(self.buf.len());
    }
}

type Input = Box<dyn BufRead + Send>;
type Stage = Box<dyn Read + Send>;

/// HTTP's "deflate" is zlib-wrapped as the RFC says, or raw deflate as some servers send it; the
/// first bytes decide, as browsers and httpx do.
enum Deflate {
    Undecided(Option<Input>),
    Zlib(flate2::bufread::ZlibDecoder<Input>),
    Raw(flate2::bufread::DeflateDecoder<Input>),
}

impl Read for Deflate {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if let Self::Undecided(input) = self {
            let mut input = input
                .take()
                .expect("an undecided deflate stage has its input");
            let zlib = match input.fill_buf() {
                Ok(&[first, second, ..]) => {
                    first & 0x0F == 8 && (u16::from(first) << 8 | u16::from(second)) % 31 == 0
                }
                Ok(&[first]) => first & 0x0F == 8 && first >> 4 <= 7,
                Ok(&[]) => true,
                Err(err) => {
                    *self = Self::Undecided(Some(input));
                    return Err(err);
                }
            };
            *self = if zlib {
                Self::Zlib(flate2::bufread::ZlibDecoder::new(input))
            } else {
                Self::Raw(flate2::bufread::DeflateDecoder::new(input))
            };
        }
        match self {
            Self::Zlib(d) => d.read(out),
            Self::Raw(d) => d.read(out),
            Self::Undecided(_) => unreachable!("decided above"),
        }
    }
}

/// The encodings of a Content-Encoding value that there is something to undo for, innermost
/// first; identity and encodings we do not know are passed through, as httpx does.
fn known(content_encoding: &str) -> Vec<String> {
    content_encoding
        .rsplit(',')
        .map(|e| e.trim().to_ascii_lowercase())
        .filter(|e| matches!(e.as_str(), "gzip" | "x-gzip" | "deflate" | "br" | "zstd"))
        .collect()
}

fn stage(encoding: &str, input: Input) -> Result<Stage, RxError> {
    Ok(match encoding {
        "gzip" | "x-gzip" => Box::new(flate2::bufread::MultiGzDecoder::new(input)),
        "deflate" => Box::new(Deflate::Undecided(Some(input))),
        "br" => Box::new(brotli_decompressor::Decompressor::new(input, 64 * 1024)),
        _ => Box::new(
            zstd::stream::read::Decoder::with_buffer(input).map_err(RxError::corrupt_body_io)?,
        ),
    })
}

/// The stages for a Content-Encoding header value, undone in order, fed from one `Feed`.
pub(crate) struct Chain {
    top: Stage,
    feed: Arc<parking_lot::Mutex<Feed>>,
    fed: u64,
    made: u64,
    done: bool,
    bounds: Bounds,
}

impl Chain {
    /// None when there is nothing to undo.
    pub(crate) fn for_header(
        content_encoding: &str,
        bounds: Bounds,
    ) -> Result<Option<Self>, RxError> {
        let encodings = known(content_encoding);
        if encodings.is_empty() {
            return Ok(None);
        }
        let feed = Arc::new(parking_lot::Mutex::new(Feed::default()));
        let mut input: Input = Box::new(Source {
            feed: feed.clone(),
            buf: Vec::new(),
            pos: 0,
        });
        let last = encodings.len() - 1;
        let mut top = None;
        for (i, encoding) in encodings.iter().enumerate() {
            let decoder = stage(encoding, input)?;
            if i == last {
                top = Some(decoder);
                break;
            }
            input = Box::new(BufReader::with_capacity(READ_PIECE, decoder));
        }
        Ok(Some(Self {
            top: top.expect("at least one stage"),
            feed,
            fed: 0,
            made: 0,
            done: false,
            bounds,
        }))
    }

    /// Queues `input`, then decodes the next step: at most `STEP_OUTPUT` bytes, less when the
    /// input queued runs out. An empty result: the input so far is decoded.
    pub(crate) fn step(&mut self, input: &[u8]) -> Result<Vec<u8>, RxError> {
        if !input.is_empty() {
            self.fed += input.len() as u64;
            self.feed.lock().data.extend_from_slice(input);
        }
        self.pull(STEP_OUTPUT)
    }

    /// Once the body has ended: the next step of what is left (empty when nothing is); a body
    /// cut short is a DecodingError.
    pub(crate) fn end_step(&mut self) -> Result<Vec<u8>, RxError> {
        if self.fed == 0 {
            return Ok(Vec::new()); // an empty body (HEAD, 204) has nothing to decode
        }
        self.feed.lock().ended = true;
        self.pull(STEP_OUTPUT)
    }

    fn pull(&mut self, limit: usize) -> Result<Vec<u8>, RxError> {
        let mut out = Vec::new();
        while !self.done && out.len() < limit {
            let start = out.len();
            out.resize(start + READ_PIECE.min(limit - start), 0);
            match self.top.read(&mut out[start..]) {
                Ok(0) => {
                    out.truncate(start);
                    self.done = true;
                }
                Ok(n) => out.truncate(start + n),
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {
                    out.truncate(start);
                    break;
                }
                Err(err) => return Err(RxError::corrupt_body_io(err)),
            }
        }
        self.counted(out)
    }

    /// `out`, once the bounds allow the body to have grown by it.
    fn counted(&mut self, out: Vec<u8>) -> Result<Vec<u8>, RxError> {
        self.made += out.len() as u64;
        if let Some(max) = self.bounds.max_size {
            if self.made > max {
                return Err(RxError::decoded_too_large(format!(
                    "the decompressed body is over Limits(max_decompressed_size={max})"
                )));
            }
        }
        if let Some(ratio) = self.bounds.max_ratio {
            if self.made > STEP_OUTPUT as u64 && self.made as f64 > ratio * self.fed.max(1) as f64 {
                return Err(RxError::decoded_too_large(format!(
                    "the body decompresses more than Limits(max_decompression_ratio={ratio}) allows"
                )));
            }
        }
        Ok(out)
    }

    /// Decodes a whole body at once (a buffered response), within the bounds.
    pub(crate) fn decode_all(mut self, chunks: &[bytes::Bytes]) -> Result<Vec<u8>, RxError> {
        let mut out = Vec::new();
        for chunk in chunks {
            let mut piece = self.step(chunk)?;
            while !piece.is_empty() {
                out.extend_from_slice(&piece);
                piece = self.step(&[])?;
            }
        }
        loop {
            let piece = self.end_step()?;
            if piece.is_empty() {
                return Ok(out);
            }
            out.extend_from_slice(&piece);
        }
    }
}

/// The Python face: `Decoder("gzip, br")`. `decode(chunk)`, then `decode(b"")` until it returns
/// `b""`, give a chunk's output in steps of at most `STEP_OUTPUT`; at the end of the body
/// `flush()` until it returns `b""` gives the rest.
#[pyclass(module = "requestx._requestx")]
pub(crate) struct Decoder {
    /// In a mutex only so the class is `Sync` (the decoders are `Send` only); `&mut self`
    /// reaches it without locking.
    chain: parking_lot::Mutex<Option<Chain>>,
}

#[pymethods]
impl Decoder {
    #[new]
    #[pyo3(signature = (content_encoding, max_size=None, max_ratio=None))]
    fn new(
        py: Python<'_>,
        content_encoding: &str,
        max_size: Option<u64>,
        max_ratio: Option<f64>,
    ) -> PyResult<Self> {
        let bounds = Bounds {
            max_size,
            max_ratio,
        };
        let chain = Chain::for_header(content_encoding, bounds).map_err(|e| e.into_pyerr(py))?;
        Ok(Self {
            chain: parking_lot::Mutex::new(chain),
        })
    }

    /// The next step of decoded bytes, `chunk` queued first; `b""` once the input so far is decoded.
    fn decode<'py>(&mut self, py: Python<'py>, chunk: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
        match self.chain.get_mut().as_mut() {
            None => Ok(PyBytes::new(py, chunk)),
            Some(chain) => {
                let out = py
                    .detach(|| chain.step(chunk))
                    .map_err(|e| e.into_pyerr(py))?;
                Ok(PyBytes::new(py, &out))
            }
        }
    }

    /// Once the body has ended: the next step of the rest, `b""` when there is none; a
    /// DecodingError if the body was cut short.
    fn flush<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        match self.chain.get_mut().as_mut() {
            None => Ok(PyBytes::new(py, b"")),
            Some(chain) => {
                let out = py
                    .detach(|| chain.end_step())
                    .map_err(|e| e.into_pyerr(py))?;
                Ok(PyBytes::new(py, &out))
            }
        }
    }
}
