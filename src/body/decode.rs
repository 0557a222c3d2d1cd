//! Content-Encoding, undone in Rust: gzip, deflate, br, zstd and stacks of them.
//!
//! reqwest's own decompression is off, so the engine sees the body as sent: `iter_raw()` yields it
//! untouched, buffered bodies are decoded here on a tokio thread (off the GIL), and streamed bodies
//! through a `Decoder` that Python feeds chunk by chunk.

use std::io::Write;

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::error::RxError;

/// One decoding step, writing what it decodes into its own buffer.
enum Stage {
    Gzip(flate2::write::MultiGzDecoder<Vec<u8>>),
    /// HTTP's "deflate" is zlib-wrapped as the RFC says, or raw deflate as some servers send it;
    /// the first bytes decide, as browsers and httpx do.
    Deflate(
        Option<flate2::write::ZlibDecoder<Vec<u8>>>,
        Vec<u8>,
        Option<flate2::write::DeflateDecoder<Vec<u8>>>,
    ),
    Brotli(Box<brotli_decompressor::DecompressorWriter<Vec<u8>>>),
    Zstd(zstd::stream::write::Decoder<'static, Vec<u8>>),
}

impl Stage {
    fn new(encoding: &str) -> Result<Option<Self>, RxError> {
        Ok(Some(match encoding {
            "gzip" | "x-gzip" => Self::Gzip(flate2::write::MultiGzDecoder::new(Vec::new())),
            "deflate" => Self::Deflate(
                Some(flate2::write::ZlibDecoder::new(Vec::new())),
                Vec::new(),
                None,
            ),
            "br" => Self::Brotli(Box::new(brotli_decompressor::DecompressorWriter::new(
                Vec::new(),
                64 * 1024,
            ))),
            "zstd" => Self::Zstd(
                zstd::stream::write::Decoder::new(Vec::new()).map_err(RxError::corrupt_body_io)?,
            ),
            _ => return Ok(None), // identity, or an encoding we do not know: passed through as httpx does
        }))
    }

    fn push(&mut self, input: &[u8]) -> Result<Vec<u8>, RxError> {
        match self {
            Self::Gzip(d) => {
                d.write_all(input).map_err(RxError::corrupt_body_io)?;
                Ok(std::mem::take(d.get_mut()))
            }
            Self::Brotli(d) => {
                d.write_all(input).map_err(RxError::corrupt_body_io)?;
                Ok(std::mem::take(d.get_mut()))
            }
            Self::Zstd(d) => {
                d.write_all(input).map_err(RxError::corrupt_body_io)?;
                Ok(std::mem::take(d.get_mut()))
            }
            Self::Deflate(zlib, seen, raw) => {
                if let Some(d) = raw {
                    d.write_all(input).map_err(RxError::corrupt_body_io)?;
                    return Ok(std::mem::take(d.get_mut()));
                }
                let d = zlib
                    .as_mut()
                    .expect("one of the two deflate decoders is set");
                seen.extend_from_slice(input);
                match d.write_all(input) {
                    Ok(()) => {
                        if seen.len() > 2 {
                            seen.clear(); // past the zlib header: no fallback needed any more
                        }
                        Ok(std::mem::take(d.get_mut()))
                    }
                    Err(_) if !seen.is_empty() => {
                        let mut fallback = flate2::write::DeflateDecoder::new(Vec::new());
                        fallback.write_all(seen).map_err(RxError::corrupt_body_io)?;
                        let out = std::mem::take(fallback.get_mut());
                        *zlib = None;
                        seen.clear();
                        *raw = Some(fallback);
                        Ok(out)
                    }
                    Err(err) => Err(RxError::corrupt_body_io(err)),
                }
            }
        }
    }

    fn finish(self) -> Result<Vec<u8>, RxError> {
        match self {
            Self::Gzip(d) => d.finish().map_err(RxError::corrupt_body_io),
            Self::Brotli(d) => d
                .into_inner()
                .map_err(|_| RxError::corrupt_body("truncated brotli stream")),
            Self::Zstd(mut d) => {
                d.flush().map_err(RxError::corrupt_body_io)?;
                Ok(d.into_inner())
            }
            Self::Deflate(_, _, Some(d)) => d.finish().map_err(RxError::corrupt_body_io),
            Self::Deflate(Some(d), _, None) => d.finish().map_err(RxError::corrupt_body_io),
            Self::Deflate(None, _, None) => Ok(Vec::new()),
        }
    }
}

/// The stages for a Content-Encoding header value, in the order they must be undone.
pub(crate) struct Chain {
    stages: Vec<Stage>,
}

impl Chain {
    /// None when there is nothing to undo.
    pub(crate) fn for_header(content_encoding: &str) -> Result<Option<Self>, RxError> {
        let mut stages = Vec::new();
        for encoding in content_encoding.rsplit(',') {
            if let Some(stage) = Stage::new(&encoding.trim().to_ascii_lowercase())? {
                stages.push(stage);
            }
        }
        Ok((!stages.is_empty()).then_some(Self { stages }))
    }

    pub(crate) fn push(&mut self, input: &[u8]) -> Result<Vec<u8>, RxError> {
        let mut data = input.to_vec();
        for stage in &mut self.stages {
            data = stage.push(&data)?;
        }
        Ok(data)
    }

    pub(crate) fn finish(self) -> Result<Vec<u8>, RxError> {
        let mut tail: Vec<u8> = Vec::new();
        for mut stage in self.stages {
            let mut out = if tail.is_empty() {
                Vec::new()
            } else {
                stage.push(&tail)?
            };
            out.extend(stage.finish()?);
            tail = out;
        }
        Ok(tail)
    }

    /// Decodes a whole body at once.
    pub(crate) fn decode_all(mut self, chunks: &[bytes::Bytes]) -> Result<Vec<u8>, RxError> {
        let mut out = Vec::new();
        for chunk in chunks {
            out.extend(self.push(chunk)?);
        }
        out.extend(self.finish()?);
        Ok(out)
    }
}

/// The Python face: `Decoder("gzip, br").decode(chunk)` then `.flush()` at the end of the body.
#[pyclass(module = "requestx._requestx")]
pub(crate) struct Decoder {
    chain: Option<Chain>,
}

#[pymethods]
impl Decoder {
    #[new]
    fn new(py: Python<'_>, content_encoding: &str) -> PyResult<Self> {
        let chain = Chain::for_header(content_encoding).map_err(|e| e.into_pyerr(py))?;
        Ok(Self { chain })
    }

    /// The decoded bytes this chunk completes (possibly empty).
    fn decode<'py>(&mut self, py: Python<'py>, chunk: &[u8]) -> PyResult<Bound<'py, PyBytes>> {
        match self.chain.as_mut() {
            None => Ok(PyBytes::new(py, chunk)),
            Some(chain) => {
                let out = chain.push(chunk).map_err(|e| e.into_pyerr(py))?;
                Ok(PyBytes::new(py, &out))
            }
        }
    }

    /// The rest, once the body has ended; DecodingError if it was cut short.
    fn flush<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        match self.chain.take() {
            None => Ok(PyBytes::new(py, b"")),
            Some(chain) => {
                let out = chain.finish().map_err(|e| e.into_pyerr(py))?;
                Ok(PyBytes::new(py, &out))
            }
        }
    }
}
