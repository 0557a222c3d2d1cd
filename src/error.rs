//! Every failure the engine reports, and its one mapping onto the exception classes of
//! `requestx._exceptions`.
//!
//! A failure is classified here by type (reqwest/hyper/h2 predicates and io error kinds along the
//! source chain), never by message text. The Python classes are defined once, in Python; they are
//! resolved and checked when the native module loads ([`load_classes`]), so a class missing there
//! fails the import, not the first error. The source chain travels with the error as plain data
//! ([`Cause`]) and becomes the exception's `__cause__` chain: an `std::io::Error` as an `OSError`
//! with its errno (Python picks the subclass: `ConnectionRefusedError`, ...), anything else as an
//! `Exception` with that error's own text.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::time::Duration;

use pyo3::exceptions::{self as exc, PyImportError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

/// The exception an engine failure raises: one variant per class of `requestx._exceptions`.
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
    /// An operation was cancelled (by its waiter, or from another thread) before it completed.
    Cancelled,
}

impl ErrorKind {
    /// Every kind, in declaration order (`kind as usize` indexes this and the resolved classes).
    const ALL: [ErrorKind; 14] = [
        Self::ConnectTimeout,
        Self::ReadTimeout,
        Self::WriteTimeout,
        Self::PoolTimeout,
        Self::ConnectError,
        Self::ReadError,
        Self::WriteError,
        Self::RemoteProtocolError,
        Self::LocalProtocolError,
        Self::ProxyError,
        Self::UnsupportedProtocol,
        Self::DecodingError,
        Self::InvalidUrl,
        Self::Cancelled,
    ];

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
            Self::Cancelled => "OperationCancelled",
        }
    }
}

/// An engine failure: what it is, what it says, and what caused it.
#[derive(Debug)]
pub(crate) struct RxError {
    pub(crate) kind: ErrorKind,
    /// The whole story on one line (`outer: inner: innermost`), as the exception's message.
    message: String,
    /// The source chain below this error, outermost first: the exception's `__cause__` chain.
    causes: Vec<Cause>,
}

/// One link of an error's source chain, kept as plain data until Python raises it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cause {
    /// An `std::io::Error`: an `OSError`, with the OS's errno when it gave one.
    Os {
        kind: io::ErrorKind,
        errno: Option<i32>,
        message: String,
    },
    /// Any other error (hyper's, h2's, rustls', reqwest's own): an `Exception` with its text.
    Other(String),
}

impl Cause {
    fn of(err: &(dyn StdError + 'static)) -> Self {
        let Some(io) = err.downcast_ref::<io::Error>() else {
            return Self::Other(err.to_string());
        };
        let errno = io.raw_os_error();
        let mut message = io.to_string();
        if let Some(code) = errno {
            // Python prints "[Errno 111] Connection refused": keep the OS's text without Rust's
            // " (os error 111)" suffix.
            if let Some(text) = message.strip_suffix(&format!(" (os error {code})")) {
                message = text.to_owned();
            }
        }
        Self::Os {
            kind: io.kind(),
            errno,
            message,
        }
    }

    fn into_pyerr(self) -> PyErr {
        match self {
            // OSError(errno, strerror) is constructed as the errno's own subclass.
            Self::Os {
                errno: Some(errno),
                message,
                ..
            } => exc::PyOSError::new_err((errno, message)),
            Self::Os {
                kind,
                errno: None,
                message,
            } => match kind {
                io::ErrorKind::TimedOut => exc::PyTimeoutError::new_err(message),
                io::ErrorKind::ConnectionRefused => exc::PyConnectionRefusedError::new_err(message),
                io::ErrorKind::ConnectionReset => exc::PyConnectionResetError::new_err(message),
                io::ErrorKind::ConnectionAborted => exc::PyConnectionAbortedError::new_err(message),
                io::ErrorKind::BrokenPipe => exc::PyBrokenPipeError::new_err(message),
                io::ErrorKind::NotFound => exc::PyFileNotFoundError::new_err(message),
                io::ErrorKind::PermissionDenied => exc::PyPermissionError::new_err(message),
                _ => exc::PyOSError::new_err(message),
            },
            Self::Other(message) => exc::PyException::new_err(message),
        }
    }
}

/// The chain from `source` down, outermost first.
fn causes(mut source: Option<&(dyn StdError + 'static)>) -> Vec<Cause> {
    let mut causes = Vec::new();
    while let Some(e) = source {
        causes.push(Cause::of(e));
        source = e.source();
    }
    causes
}

impl RxError {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            causes: Vec::new(),
        }
    }

    /// As `new`, caused by `source` (and its own sources).
    fn caused_by(
        kind: ErrorKind,
        message: impl Into<String>,
        source: &(dyn StdError + 'static),
    ) -> Self {
        Self {
            kind,
            message: message.into(),
            causes: causes(Some(source)),
        }
    }

    /// A request or stream of a client that was closed meanwhile.
    pub(crate) fn closed_in_flight() -> Self {
        Self::new(
            ErrorKind::ReadError,
            "the client was closed while the request was in flight",
        )
    }

    /// A request for a client that is closed already.
    pub(crate) fn client_closed() -> Self {
        Self::new(ErrorKind::ReadError, "the client is closed")
    }

    /// An operation cancelled before its result was taken.
    pub(crate) fn cancelled() -> Self {
        Self::new(ErrorKind::Cancelled, "operation cancelled")
    }

    pub(crate) fn pool_timeout() -> Self {
        Self::new(
            ErrorKind::PoolTimeout,
            "timed out waiting for a connection from the pool",
        )
    }

    /// No response head within the read timeout of the request going out.
    pub(crate) fn head_timeout() -> Self {
        Self::new(ErrorKind::ReadTimeout, "timed out waiting for the response")
    }

    /// A request (with its body and retries) still going when its `Timeout(total=)` ran out.
    pub(crate) fn total_timeout() -> Self {
        Self::new(
            ErrorKind::ReadTimeout,
            "timed out: the request's total deadline (Timeout(total=...)) passed",
        )
    }

    /// A body read that took longer than the read timeout.
    pub(crate) fn body_read_timeout() -> Self {
        Self::new(
            ErrorKind::ReadTimeout,
            "timed out reading the response body",
        )
    }

    /// A request body that did not move for the write timeout.
    pub(crate) fn write_timeout() -> Self {
        Self::new(
            ErrorKind::WriteTimeout,
            "timed out sending the request body",
        )
    }

    /// A decoded body beyond the client's `Limits` (a decompression bomb).
    pub(crate) fn decoded_too_large(message: String) -> Self {
        Self::new(ErrorKind::DecodingError, message)
    }

    /// As `corrupt_body`, for a decoder that reports an `io::Error` (kept as the cause).
    pub(crate) fn corrupt_body_io(err: io::Error) -> Self {
        Self::caused_by(
            ErrorKind::DecodingError,
            format!("failed to decode the response body: {err}"),
            &err,
        )
    }

    pub(crate) fn invalid_proxy(err: reqwest::Error) -> Self {
        Self::caused_by(
            ErrorKind::ProxyError,
            format!("invalid proxy URL: {err}"),
            &err,
        )
    }

    /// Classifies a reqwest error by walking its source chain for hyper and io errors.
    pub(crate) fn from_reqwest(err: reqwest::Error) -> Self {
        Self {
            kind: classify(&err),
            message: head_limit_message(err.source()).unwrap_or_else(|| chain_message(&err)),
            causes: causes(err.source()),
        }
    }

    /// Classifies a failure of the plain-HTTP client (hyper-util's, see `http/config.rs`) by the
    /// rules `from_reqwest` applies, with the message reqwest would have given.
    pub(crate) fn from_hyper_util(err: hyper_util::client::legacy::Error, url: &str) -> Self {
        Self::sent(url, err.source(), err.is_connect(), || chain_message(&err))
    }

    /// As `from_hyper_util`, for a failure of the direct client's own HTTP/2 connections
    /// (`http/h2_pool.rs`), worded as hyper-util words it: `stage` is "Connect" or "SendRequest".
    pub(crate) fn sending(
        url: &str,
        stage: &str,
        source: &(dyn StdError + 'static),
        connect: bool,
    ) -> Self {
        Self::sent(url, Some(source), connect, || {
            format!("client error ({stage}): {}", chain_message(source))
        })
    }

    fn sent(
        url: &str,
        source: Option<&(dyn StdError + 'static)>,
        connect: bool,
        chain: impl FnOnce() -> String,
    ) -> Self {
        let Walk {
            verdict, io_kind, ..
        } = walk(source);
        let kind = match verdict {
            Some(kind) => kind,
            None if connect => match io_kind {
                Some(io::ErrorKind::TimedOut) => ErrorKind::ConnectTimeout,
                _ => ErrorKind::ConnectError,
            },
            None => by_io(io_kind, true),
        };
        let message = head_limit_message(source)
            .unwrap_or_else(|| format!("error sending request for url ({url}): {}", chain()));
        Self {
            kind,
            message,
            causes: causes(source),
        }
    }

    /// Classifies a failure while reading a body from the plain-HTTP client, as `from_reqwest`
    /// classifies reqwest's body errors: hyper's verdict, a reset, else the server's fault.
    pub(crate) fn from_hyper_body(err: hyper::Error) -> Self {
        let Walk {
            verdict, io_kind, ..
        } = walk(Some(&err));
        let kind = verdict.unwrap_or(match io_kind {
            Some(io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe) => {
                ErrorKind::ReadError
            }
            _ => ErrorKind::RemoteProtocolError,
        });
        Self {
            kind,
            message: format!("error decoding response body: {}", chain_message(&err)),
            causes: causes(err.source()),
        }
    }

    /// The matching `requestx` exception, its causes chained below it as `__cause__`.
    pub(crate) fn into_pyerr(self, py: Python<'_>) -> PyErr {
        let class = match classes(py) {
            Ok(classes) => classes[self.kind as usize].bind(py).clone(),
            Err(err) => return err,
        };
        let err = PyErr::from_type(class, self.message);
        let cause = self.causes.into_iter().rev().fold(None, |below, link| {
            let link = link.into_pyerr();
            link.set_cause(py, below);
            Some(link)
        });
        err.set_cause(py, cause);
        err
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
            (true, Some(io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe)) => {
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
    io_kind: Option<io::ErrorKind>,
    from_connection: bool,
}

/// The message for a response head over the client's limits (hyper reports both the header count
/// and the head size as "message head is too large"), naming the limits to raise.
fn head_limit_message(mut source: Option<&(dyn StdError + 'static)>) -> Option<String> {
    while let Some(e) = source {
        // (hyper's `is_parse_too_large` is for servers only: its message tells the client.)
        if e.downcast_ref::<hyper::Error>()
            .is_some_and(|h| h.is_parse() && h.to_string().contains("too large"))
        {
            return Some(
                "the response head is over the client's limits: more header lines than \
                 Limits(max_headers=...) allows (1000 by default), or over 400 KiB"
                    .to_string(),
            );
        }
        source = e.source();
    }
    None
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
        if let Some(io) = e.downcast_ref::<io::Error>() {
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

fn by_io(io_kind: Option<io::ErrorKind>, while_sending: bool) -> ErrorKind {
    match io_kind {
        Some(io::ErrorKind::BrokenPipe) => ErrorKind::WriteError,
        Some(io::ErrorKind::UnexpectedEof) => ErrorKind::RemoteProtocolError,
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

/// The exception class of every kind, indexed by `kind as usize`.
static CLASSES: PyOnceLock<Vec<Py<PyType>>> = PyOnceLock::new();

fn classes(py: Python<'_>) -> PyResult<&Vec<Py<PyType>>> {
    CLASSES.get_or_try_init(py, || {
        // `requestx._exceptions` imports nothing of the engine, so this import works whether the
        // package imports the engine first or the engine is imported on its own.
        let module = py.import("requestx._exceptions")?;
        let base = py.get_type::<exc::PyException>();
        ErrorKind::ALL
            .iter()
            .map(|kind| {
                let name = kind.class_name();
                let Ok(found) = module.getattr(name) else {
                    return Err(PyImportError::new_err(format!(
                        "requestx._exceptions has no exception class {name}"
                    )));
                };
                match found.cast_into::<PyType>() {
                    Ok(class) if class.is_subclass(&base)? => Ok(class.unbind()),
                    _ => Err(PyImportError::new_err(format!(
                        "requestx._exceptions.{name} is not an exception class"
                    ))),
                }
            })
            .collect()
    })
}

/// Resolves and checks every exception class now: called once, when the native module loads.
pub(crate) fn load_classes(py: Python<'_>) -> PyResult<()> {
    classes(py).map(|_| ())
}

/// Shorthand for the errors raised while validating a request before it is submitted.
pub(crate) fn local(py: Python<'_>, kind: ErrorKind, message: impl Into<String>) -> PyErr {
    RxError::new(kind, message).into_pyerr(py)
}

/// A number of seconds from Python as a `Duration`; ValueError ("invalid {what}: {s}") for a
/// negative, NaN or unrepresentable one.
pub(crate) fn seconds(value: Option<f64>, what: &str) -> PyResult<Option<Duration>> {
    value
        .map(|s| {
            Duration::try_from_secs_f64(s)
                .map_err(|_| PyValueError::new_err(format!("invalid {what}: {s}")))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::*;

    /// An error with a text and a source, to build chains of any shape.
    #[derive(Debug)]
    struct Link(&'static str, Option<Box<dyn StdError + Send + Sync>>);

    impl fmt::Display for Link {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl StdError for Link {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            self.1.as_deref().map(|e| e as &(dyn StdError + 'static))
        }
    }

    fn refused() -> io::Error {
        io::Error::from_raw_os_error(libc::ECONNREFUSED)
    }

    #[test]
    fn every_kind_has_its_own_class() {
        for (i, kind) in ErrorKind::ALL.iter().enumerate() {
            assert_eq!(*kind as usize, i, "{kind:?} is out of place in ALL");
        }
        let mut names: Vec<_> = ErrorKind::ALL.iter().map(|k| k.class_name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ErrorKind::ALL.len());
    }

    #[test]
    fn io_kinds_map_to_network_errors() {
        let cases = [
            (
                Some(io::ErrorKind::BrokenPipe),
                false,
                ErrorKind::WriteError,
            ),
            (
                Some(io::ErrorKind::UnexpectedEof),
                true,
                ErrorKind::RemoteProtocolError,
            ),
            (
                Some(io::ErrorKind::ConnectionReset),
                false,
                ErrorKind::ReadError,
            ),
            (Some(io::ErrorKind::TimedOut), true, ErrorKind::ReadError),
            (None, true, ErrorKind::ReadError),
            (None, false, ErrorKind::RemoteProtocolError),
        ];
        for (io_kind, while_sending, kind) in cases {
            assert_eq!(by_io(io_kind, while_sending), kind, "{io_kind:?}");
        }
    }

    #[test]
    fn the_source_chain_is_walked_to_its_first_io_error() {
        let chain = Link(
            "outer",
            Some(Box::new(Link("middle", Some(Box::new(refused()))))),
        );
        let walked = walk(Some(&chain));
        assert_eq!(walked.verdict, None);
        assert_eq!(walked.io_kind, Some(io::ErrorKind::ConnectionRefused));
        assert!(!walked.from_connection);
    }

    #[test]
    fn an_h2_error_below_is_the_servers_protocol_error() {
        let chain = Link(
            "outer",
            Some(Box::new(h2::Error::from(h2::Reason::PROTOCOL_ERROR))),
        );
        assert_eq!(
            walk(Some(&chain)).verdict,
            Some(ErrorKind::RemoteProtocolError)
        );
    }

    #[test]
    fn the_cause_chain_keeps_each_link_and_the_errno() {
        let chain = Link(
            "outer",
            Some(Box::new(Link(
                "middle",
                Some(Box::new(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "timed out opening a connection",
                ))),
            ))),
        );
        assert_eq!(
            causes(chain.source()),
            [
                Cause::Other("middle".into()),
                Cause::Os {
                    kind: io::ErrorKind::TimedOut,
                    errno: None,
                    message: "timed out opening a connection".into(),
                },
            ]
        );
        let os = Cause::of(&refused());
        let Cause::Os {
            kind,
            errno,
            message,
        } = os
        else {
            panic!("an io::Error is an OSError: {os:?}");
        };
        assert_eq!(kind, io::ErrorKind::ConnectionRefused);
        assert_eq!(errno, Some(libc::ECONNREFUSED));
        assert!(!message.contains("os error"), "{message}");
        assert_eq!(
            chain_message(&chain),
            "outer: middle: timed out opening a connection"
        );
    }

    fn reqwest_client() -> reqwest::Client {
        let _ = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("a plain client")
    }

    fn plain_client() -> hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        String,
    > {
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build_http()
    }

    /// A port nothing listens on.
    async fn closed_port() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap().port()
    }

    /// A server that answers one connection with `reply`, then closes it (reset, if `reset`,
    /// once the client has read the head: `read_head` fires).
    async fn serve_once(
        reply: &'static [u8],
        reset: Option<tokio::sync::oneshot::Receiver<()>>,
    ) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 1024];
            let _ = socket.read(&mut request).await;
            socket.write_all(reply).await.unwrap();
            if let Some(read_head) = reset {
                let _ = read_head.await;
                socket.set_zero_linger().unwrap();
            }
        });
        url
    }

    fn last_cause(err: &RxError) -> &Cause {
        err.causes.last().expect("a cause chain")
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_connect_error_caused_by_the_os_error() {
        let url = format!("http://127.0.0.1:{}/", closed_port().await);
        let err = RxError::from_reqwest(reqwest_client().get(&url).send().await.unwrap_err());
        assert_eq!(err.kind, ErrorKind::ConnectError);
        assert!(
            err.message.starts_with("error sending request for url"),
            "{}",
            err.message
        );
        assert!(
            matches!(
                last_cause(&err),
                Cause::Os {
                    errno: Some(libc::ECONNREFUSED),
                    ..
                }
            ),
            "{:?}",
            err.causes
        );

        let err = plain_client()
            .get(url.parse().unwrap())
            .await
            .map(drop)
            .unwrap_err();
        let err = RxError::from_hyper_util(err, &url);
        assert_eq!(err.kind, ErrorKind::ConnectError);
        assert!(matches!(
            last_cause(&err),
            Cause::Os {
                errno: Some(libc::ECONNREFUSED),
                ..
            }
        ));
    }

    #[tokio::test]
    async fn an_unparsable_url_is_invalid() {
        let err = reqwest_client().get("http://[::1").build().unwrap_err();
        assert_eq!(RxError::from_reqwest(err).kind, ErrorKind::InvalidUrl);
    }

    #[tokio::test]
    async fn a_garbled_head_is_the_servers_protocol_error() {
        let url = serve_once(b"HELLO THERE\r\n\r\n", None).await;
        let err = RxError::from_reqwest(reqwest_client().get(&url).send().await.unwrap_err());
        assert_eq!(err.kind, ErrorKind::RemoteProtocolError);

        let url = serve_once(b"HELLO THERE\r\n\r\n", None).await;
        let err = plain_client()
            .get(url.parse().unwrap())
            .await
            .map(drop)
            .unwrap_err();
        assert_eq!(
            RxError::from_hyper_util(err, &url).kind,
            ErrorKind::RemoteProtocolError
        );
    }

    #[tokio::test]
    async fn a_body_cut_short_is_the_servers_protocol_error() {
        const SHORT: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc";
        let url = serve_once(SHORT, None).await;
        let mut response = reqwest_client().get(&url).send().await.unwrap();
        let err = loop {
            match response.chunk().await {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("the body ended cleanly"),
                Err(err) => break RxError::from_reqwest(err),
            }
        };
        assert_eq!(err.kind, ErrorKind::RemoteProtocolError, "{}", err.message);

        let url = serve_once(SHORT, None).await;
        let mut response = plain_client().get(url.parse().unwrap()).await.unwrap();
        let err = loop {
            use http_body_util::BodyExt;
            match response.body_mut().frame().await {
                Some(Ok(_)) => continue,
                None => panic!("the body ended cleanly"),
                Some(Err(err)) => break RxError::from_hyper_body(err),
            }
        };
        assert_eq!(err.kind, ErrorKind::RemoteProtocolError, "{}", err.message);
    }

    #[tokio::test]
    async fn a_reset_while_reading_the_body_is_a_read_error() {
        const PARTIAL: &[u8] = b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\nabc";
        let (read_head, reset) = tokio::sync::oneshot::channel();
        let url = serve_once(PARTIAL, Some(reset)).await;
        let mut response = reqwest_client().get(&url).send().await.unwrap();
        read_head.send(()).unwrap();
        let err = loop {
            match response.chunk().await {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("the body ended cleanly"),
                Err(err) => break RxError::from_reqwest(err),
            }
        };
        assert_eq!(err.kind, ErrorKind::ReadError, "{}", err.message);
        assert!(
            matches!(
                last_cause(&err),
                Cause::Os {
                    kind: io::ErrorKind::ConnectionReset,
                    ..
                }
            ),
            "{:?}",
            err.causes
        );
    }

    #[tokio::test]
    async fn reqwests_own_timeout_is_a_read_timeout() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let silent = tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop::<TcpStream>(socket);
        });
        let err = reqwest_client()
            .get(&url)
            .timeout(Duration::from_millis(50))
            .send()
            .await
            .unwrap_err();
        assert_eq!(RxError::from_reqwest(err).kind, ErrorKind::ReadTimeout);
        silent.abort();
    }
}
