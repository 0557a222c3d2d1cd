//! Error kinds of the engine and their single mapping onto the httpx exception classes.
//!
//! Every failure is classified here by type (reqwest/hyper/io predicates), never by message text.
//! The Python classes live in `requestx._exceptions`; this is the only place that names them.

use std::error::Error as StdError;
use std::fmt;

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyModule;

/// The most specific httpx exception a failure maps to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ErrorKind {
    ConnectTimeout,
    ReadTimeout,
    WriteTimeout,
    PoolTimeout,
    ConnectError,
    ReadError,
    WriteError,
    RemoteProtocolError,
    LocalProtocolError,
    ProxyError,
    UnsupportedProtocol,
    DecodingError,
    InvalidUrl,
}

impl ErrorKind {
    fn class_name(self) -> &'static str {
        match self {
            Self::ConnectTimeout => "ConnectTimeout",
            Self::ReadTimeout => "ReadTimeout",
            Self::WriteTimeout => "WriteTimeout",
            Self::PoolTimeout => "PoolTimeout",
            Self::ConnectError => "ConnectError",
            Self::ReadError => "ReadError",
            Self::WriteError => "WriteError",
            Self::RemoteProtocolError => "RemoteProtocolError",
            Self::LocalProtocolError => "LocalProtocolError",
            Self::ProxyError => "ProxyError",
            Self::UnsupportedProtocol => "UnsupportedProtocol",
            Self::DecodingError => "DecodingError",
            Self::InvalidUrl => "InvalidURL",
        }
    }
}

/// An engine failure: a kind and a human-readable message (the cause chain, flattened).
#[derive(Debug)]
pub(crate) struct RxError {
    pub(crate) kind: ErrorKind,
    pub(crate) message: String,
}

impl RxError {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// Classifies a reqwest error by walking its source chain for hyper and io errors.
    pub(crate) fn from_reqwest(err: &reqwest::Error) -> Self {
        let message = chain_message(err);
        let kind = classify(err);
        Self { kind, message }
    }

    /// Classifies a failure of the plain-HTTP client (hyper-util's, see `client.rs`) by the rules
    /// `from_reqwest` applies, with the message reqwest would have given.
    pub(crate) fn from_hyper_util(err: &hyper_util::client::legacy::Error, url: &str) -> Self {
        let message = format!(
            "error sending request for url ({url}): {}",
            chain_message(err)
        );
        let Walk {
            verdict, io_kind, ..
        } = walk(err.source());
        let kind = match verdict {
            Some(kind) => kind,
            None if err.is_connect() => match io_kind {
                Some(std::io::ErrorKind::TimedOut) => ErrorKind::ConnectTimeout,
                _ => ErrorKind::ConnectError,
            },
            None => by_io(io_kind, true),
        };
        Self { kind, message }
    }

    /// Classifies a failure while reading a body from the plain-HTTP client, as `from_reqwest`
    /// classifies reqwest's body errors: hyper's verdict, a reset, else the server's fault.
    pub(crate) fn from_hyper_body(err: &hyper::Error) -> Self {
        let message = format!("error decoding response body: {}", chain_message(err));
        let Walk {
            verdict, io_kind, ..
        } = walk(Some(err as &(dyn StdError + 'static)));
        let kind = verdict.unwrap_or(match io_kind {
            Some(std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe) => {
                ErrorKind::ReadError
            }
            _ => ErrorKind::RemoteProtocolError,
        });
        Self { kind, message }
    }

    /// Converts to the matching `requestx` exception instance.
    pub(crate) fn into_pyerr(self, py: Python<'_>) -> PyErr {
        match exception_class(py, self.kind) {
            Ok(cls) => PyErr::from_type(cls.cast_into().expect("exception class"), self.message),
            Err(e) => e,
        }
    }
}

impl fmt::Display for RxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.message)
    }
}

fn classify(err: &reqwest::Error) -> ErrorKind {
    if err.is_timeout() {
        return if err.is_connect() {
            ErrorKind::ConnectTimeout
        } else {
            ErrorKind::ReadTimeout
        };
    }
    if err.is_builder() {
        return if err.url().is_none() {
            ErrorKind::InvalidUrl
        } else {
            ErrorKind::LocalProtocolError
        };
    }
    let Walk {
        verdict,
        io_kind,
        from_connection,
    } = walk(err.source());
    if let Some(kind) = verdict {
        return kind;
    }
    if err.is_decode() {
        // reqwest reports every body failure behind its decompression layer as "decode". Only a
        // failure of the decoder itself is a DecodingError; one that hyper raised while reading
        // the connection (bad chunking, a body cut short) is the server's protocol error.
        return match (from_connection, io_kind) {
            (false, _) => ErrorKind::DecodingError,
            (true, Some(std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe)) => {
                ErrorKind::ReadError
            }
            (true, _) => ErrorKind::RemoteProtocolError,
        };
    }
    if err.is_connect() {
        return ErrorKind::ConnectError;
    }
    by_io(io_kind, err.is_body() || err.is_request())
}

/// What the source chain of an error says: hyper's or h2's own verdict, and the first io error.
struct Walk {
    verdict: Option<ErrorKind>,
    io_kind: Option<std::io::ErrorKind>,
    from_connection: bool,
}

fn walk(mut source: Option<&(dyn StdError + 'static)>) -> Walk {
    // hyper's own verdict on the wire comes before io errors: a parse failure or a message cut short is
    // the server's fault (RemoteProtocolError), as h11 reports it under httpx.
    let mut io_kind = None;
    let mut from_connection = false;
    let verdict = |kind| Walk {
        verdict: Some(kind),
        io_kind: None,
        from_connection: true,
    };
    while let Some(e) = source {
        if let Some(h) = e.downcast_ref::<hyper::Error>() {
            from_connection = true;
            if h.is_parse() || h.is_parse_status() || h.is_incomplete_message() {
                return verdict(ErrorKind::RemoteProtocolError);
            }
            if h.is_user() {
                return verdict(ErrorKind::LocalProtocolError);
            }
        }
        if let Some(h2e) = e.downcast_ref::<h2::Error>() {
            if h2e.is_go_away() || h2e.is_reset() || h2e.reason().is_some() {
                return verdict(ErrorKind::RemoteProtocolError);
            }
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            io_kind.get_or_insert(io.kind());
        }
        source = e.source();
    }
    Walk {
        verdict: None,
        io_kind,
        from_connection,
    }
}

fn by_io(io_kind: Option<std::io::ErrorKind>, while_sending: bool) -> ErrorKind {
    match io_kind {
        Some(std::io::ErrorKind::BrokenPipe) => ErrorKind::WriteError,
        Some(std::io::ErrorKind::UnexpectedEof) => ErrorKind::RemoteProtocolError,
        Some(_) => ErrorKind::ReadError,
        None if while_sending => ErrorKind::ReadError,
        None => ErrorKind::RemoteProtocolError,
    }
}

/// `outer: inner: innermost`, skipping repeats, so the message says what actually failed.
fn chain_message(err: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = vec![err.to_string()];
    let mut source = err.source();
    while let Some(e) = source {
        let s = e.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        source = e.source();
    }
    parts.join(": ")
}

static EXCEPTIONS: PyOnceLock<Py<PyModule>> = PyOnceLock::new();

fn exception_class(py: Python<'_>, kind: ErrorKind) -> PyResult<Bound<'_, PyAny>> {
    let module = EXCEPTIONS.get_or_try_init(py, || {
        PyModule::import(py, "requestx._exceptions").map(Bound::unbind)
    })?;
    module.bind(py).getattr(kind.class_name())
}

/// Shorthand for the errors raised while validating a request before it is submitted.
pub(crate) fn local(py: Python<'_>, kind: ErrorKind, message: impl Into<String>) -> PyErr {
    RxError::new(kind, message).into_pyerr(py)
}
