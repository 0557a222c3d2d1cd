//! A request as the engine runs it: validated under the GIL, executed on a tokio task.

use std::time::Duration;

use bytes::Bytes;
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedBytes;
use pyo3::types::PyList;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Url};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use super::config::Live;
use super::h2_pool::Sent;
use super::phases::Phases;
use crate::body::decode::{Bounds, Chain};
use crate::body::incoming::Incoming;
use crate::body::presized::{read_presized, PRESIZED_MAX, PRESIZED_MIN};
use crate::body::response::{Body, RawResponse};
use crate::body::stream::{ready_body, spawn_pump, Already};
use crate::body::upload::BodySender;
use crate::error::{local, seconds, ErrorKind, RxError};

/// The per-request timeouts, each optional, with httpx's meanings (see `phases.rs`): `read`
/// bounds the wait for the response head and every body read, not the whole response.
#[derive(Clone, Copy, Default, Debug)]
pub(crate) struct Timeouts {
    pub(crate) connect: Option<Duration>,
    pub(crate) read: Option<Duration>,
    pub(crate) write: Option<Duration>,
    pub(crate) pool: Option<Duration>,
    /// `Timeout(total=)`: when the whole request (the wait for the pool, retries, the head and the
    /// body, streamed or not) must be over, counted from its submission.
    pub(crate) deadline: Option<tokio::time::Instant>,
}

/// (connect, read, write, pool, total), in seconds.
pub(crate) type TimeoutArgs = (
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
    Option<f64>,
);

impl Timeouts {
    pub(crate) fn from_args(args: TimeoutArgs) -> PyResult<Self> {
        Ok(Self {
            connect: seconds(args.0, "timeout")?,
            read: seconds(args.1, "timeout")?,
            write: seconds(args.2, "timeout")?,
            pool: seconds(args.3, "timeout")?,
            deadline: seconds(args.4, "timeout")?.map(|total| tokio::time::Instant::now() + total),
        })
    }
}

/// Sleeps until `deadline`, or forever without one: a `select!` branch beside a request's work,
/// which is dropped (its socket work cancelled) when the deadline wins.
/// NOTE: a branch, not a wrapper future: wrapping the request's (large) future moved it once
/// more per request; memmove went from 4.2% to 6.2% of a 64-in-flight client's CPU, 44.5 -> 48.8
/// us per request (45.0 as a branch).
pub(crate) async fn until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// How a response body is handed to Python, as the caller asks (0, 1 or 2 from Python; a bool
/// is 0 or 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Delivery {
    /// Read whole, Content-Encoding undone, before the response is handed over.
    Whole,
    /// A stream of the body as sent.
    Stream,
    /// The body as sent: whole if it is already in when the head arrives, else a stream (for
    /// transports whose host decodes, and reads small bodies without a stream's costs).
    StreamOrRaw,
}

impl<'py> FromPyObject<'_, 'py> for Delivery {
    type Error = PyErr;

    fn extract(ob: Borrowed<'_, 'py, PyAny>) -> PyResult<Self> {
        match ob.extract::<u8>()? {
            0 => Ok(Self::Whole),
            1 => Ok(Self::Stream),
            2 => Ok(Self::StreamOrRaw),
            n => Err(pyo3::exceptions::PyValueError::new_err(format!(
                "invalid body delivery {n}"
            ))),
        }
    }
}

/// A request as it crosses from Python, the one shape every send takes (`ClientCore.send`,
/// `ClientCore.submit`, `Batch.submit`), built in `requestx/_engine.py` (`outgoing`, and
/// `request_outgoing` for a `Request`):
/// `(method, url, headers, body, (connect, read, write, pool), delivery, retry)`, where `body` is
/// bytes, a `BodySender` (a streamed body) or None, and `retry` a `Retry` or None.
/// NOTE: a tuple, not an object with attributes: extracting it costs one type check and seven
/// borrowed items; seven getattr calls would cost more than the rest of the crossing.
#[derive(FromPyObject)]
pub(crate) struct Outgoing<'py>(
    pub(crate) pyo3::pybacked::PyBackedStr,
    pub(crate) Bound<'py, pyo3::types::PyString>,
    pub(crate) Bound<'py, PyList>,
    pub(crate) Option<Bound<'py, PyAny>>,
    pub(crate) TimeoutArgs,
    pub(crate) Delivery,
    pub(crate) Option<Bound<'py, super::retry::Retry>>,
);

/// Parses and checks `[(name, value), ...]`; CR, LF, NUL or a bad name raise LocalProtocolError.
pub(crate) fn parse_headers(py: Python<'_>, headers: &Bound<'_, PyList>) -> PyResult<HeaderMap> {
    let mut map = HeaderMap::with_capacity(headers.len());
    for item in headers.iter() {
        let (name, value): (PyBackedBytes, PyBackedBytes) = item.extract()?;
        let name = HeaderName::from_bytes(&name).map_err(|_| {
            local(
                py,
                ErrorKind::LocalProtocolError,
                format!("Illegal header name {:?}", String::from_utf8_lossy(&name)),
            )
        })?;
        let value = HeaderValue::from_bytes(&value).map_err(|_| {
            local(
                py,
                ErrorKind::LocalProtocolError,
                format!("Illegal header value {:?}", String::from_utf8_lossy(&value)),
            )
        })?;
        map.append(name, value);
    }
    Ok(map)
}

/// Parses and checks method and URL; raises the httpx exception a bad value deserves.
pub(crate) fn build(
    py: Python<'_>,
    method: &str,
    url: Url,
    headers: HeaderMap,
    body: Option<&Bound<'_, PyAny>>,
) -> PyResult<reqwest::Request> {
    let method = Method::from_bytes(method.as_bytes()).map_err(|_| {
        local(
            py,
            ErrorKind::LocalProtocolError,
            format!("Invalid method {method:?}"),
        )
    })?;
    let mut request = reqwest::Request::new(method, url);
    *request.headers_mut() = headers;
    if let Some(body) = body {
        *request.body_mut() = Some(match body.cast::<BodySender>() {
            Ok(sender) => sender.get().take_body().ok_or_else(|| {
                pyo3::exceptions::PyRuntimeError::new_err("this streamed body was already sent")
            })?,
            // Zero-copy: the Python bytes object backs the body until hyper has written it.
            Err(_) => Bytes::from_owner(body.extract::<PyBackedBytes>()?).into(),
        });
    }
    Ok(request)
}

pub(crate) fn parse_url(py: Python<'_>, url: &str) -> PyResult<Url> {
    // The url crate silently drops tabs and newlines (WHATWG); httpx refuses them, and so do we.
    if url.bytes().any(|b| b < 0x20 || b == 0x7f) {
        return Err(local(
            py,
            ErrorKind::InvalidUrl,
            "Invalid non-printable ASCII character in URL",
        ));
    }
    let parsed = Url::parse(url).map_err(|e| match e {
        url::ParseError::RelativeUrlWithoutBase => local(
            py,
            ErrorKind::UnsupportedProtocol,
            "Request URL is missing an 'http://' or 'https://' protocol.",
        ),
        // As httpx: no host is an unsupported request, a port beyond 65535 a failed connect.
        url::ParseError::EmptyHost => no_host(py, url),
        url::ParseError::InvalidPort => local(
            py,
            ErrorKind::ConnectError,
            format!("Cannot connect to {url:?}: invalid port number"),
        ),
        other => local(
            py,
            ErrorKind::InvalidUrl,
            format!("Invalid URL {url:?}: {other}"),
        ),
    })?;
    match parsed.scheme() {
        "http" | "https" => {}
        scheme => {
            return Err(local(
                py,
                ErrorKind::UnsupportedProtocol,
                format!("Request URL has an unsupported protocol '{scheme}://'."),
            ))
        }
    }
    if parsed.host_str().is_none_or(str::is_empty) || !has_authority(url) {
        return Err(no_host(py, url));
    }
    let mut parsed = parsed;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        // Credentials in the URL are the auth flow's (Basic, in the Authorization header it
        // sets), never sent as they are: reqwest would add a second Authorization header.
        let _ = parsed.set_username("");
        let _ = parsed.set_password(None);
    }
    Ok(parsed)
}

/// Whether `url` (of a special scheme, which WHATWG parses leniently) names a host after
/// `scheme://`: WHATWG reads `http:///path` and `http:/path` as the host `path`, httpx as no host,
/// and a request must never go to a host taken from a path.
fn has_authority(url: &str) -> bool {
    let Some((_, rest)) = url.split_once(':') else {
        return false;
    };
    let Some(rest) = rest.strip_prefix("//") else {
        return false;
    };
    let authority = rest.split(['/', '?', '#', '\\']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or("");
    !host.is_empty() && !host.starts_with(':')
}

fn no_host(py: Python<'_>, url: &str) -> PyErr {
    local(
        py,
        ErrorKind::UnsupportedProtocol,
        format!("Request URL {url:?} has no host."),
    )
}

/// A response head h11 (httpx) refuses: a protocol switch the request did not ask for, or a
/// transfer coding other than chunked last (hyper would read such a body to the connection's end).
fn refuse_unasked(status: u16, headers: &HeaderMap, asked_upgrade: bool) -> Result<(), RxError> {
    if status == 101 && !asked_upgrade {
        return Err(RxError::new(
            ErrorKind::RemoteProtocolError,
            "the server switched protocols (101) though the request asked for no upgrade",
        ));
    }
    // hyper undoes the chunked framing and nothing else: a body under any other transfer coding
    // (`gzip, chunked` included) would reach the caller still encoded. httpx (h11) refuses them.
    for value in headers.get_all(reqwest::header::TRANSFER_ENCODING) {
        let only_chunked = value.to_str().is_ok_and(|codings| {
            codings
                .split(',')
                .all(|coding| coding.trim().eq_ignore_ascii_case("chunked"))
        });
        if !only_chunked {
            return Err(RxError::new(
                ErrorKind::RemoteProtocolError,
                format!("unsupported Transfer-Encoding in the response: {value:?}"),
            ));
        }
    }
    Ok(())
}

/// The key of `url`'s origin (scheme, host and port) in `Live::h2_origins`.
fn origin_of(url: &Url) -> String {
    use std::fmt::Write;
    // Sized once: this runs for every request of an HTTP/2 client with a connection limit.
    let (scheme, host) = (url.scheme(), url.host_str().unwrap_or(""));
    let mut origin = String::with_capacity(scheme.len() + host.len() + 9);
    origin.push_str(scheme);
    origin.push_str("://");
    origin.push_str(host);
    origin.push(':');
    let _ = write!(origin, "{}", url.port_or_known_default().unwrap_or(0));
    origin
}

async fn acquire(
    permits: Option<std::sync::Arc<Semaphore>>,
    limit: Option<Duration>,
) -> Result<Option<OwnedSemaphorePermit>, RxError> {
    let Some(permits) = permits else {
        return Ok(None);
    };
    let acquire = permits.acquire_owned();
    let permit = match limit {
        Some(limit) => tokio::time::timeout(limit, acquire)
            .await
            .map_err(|_| RxError::pool_timeout())?,
        None => acquire.await,
    };
    Ok(Some(permit.expect("the pool semaphore is never closed")))
}

/// Sends `request` through the direct client when there is one (no proxy applies), else reqwest's.
async fn send(live: Live, request: reqwest::Request) -> Result<Incoming, RxError> {
    let direct = match &live.direct {
        Some(direct) => direct,
        None => {
            return live
                .client
                .execute(request)
                .await
                .map(Incoming::Reqwest)
                .map_err(RxError::from_reqwest)
        }
    };
    let url = request.url().as_str().to_owned(); // (named in a failure's message)
    let origin = request.url()[..url::Position::BeforePath].len();
    let origin = &url[..origin]; // scheme://authority
    let mut request: http::Request<reqwest::Body> =
        request.try_into().map_err(RxError::from_reqwest)?;
    if let Some(h2) = &live.h2 {
        match h2.send(origin, request, &url).await {
            Sent::Response(response) => return response.map(Incoming::Direct),
            Sent::Declined(unsent) => request = unsent,
        }
    }
    let response = direct
        .request(request)
        .await
        .map_err(|e| RxError::from_hyper_util(e, &url))?;
    if let Some(h2) = &live.h2 {
        if response.version() == http::Version::HTTP_2 {
            h2.learn(origin); // its next requests skip hyper-util's pool
        }
    }
    Ok(Incoming::Direct(response))
}

/// Runs one request to its response head, then buffers the body or hands it to a stream pump.
pub(crate) async fn execute(
    live: Live,
    request: reqwest::Request,
    timeouts: Timeouts,
    delivery: Delivery,
    closed: CancellationToken,
) -> Result<RawResponse, RxError> {
    let h2_origins = live.h2_origins.clone();
    let bounds = live.decode_bounds;
    let driver = live.driver.clone();
    let h2_origin = h2_origins.as_ref().map(|_| origin_of(request.url()));
    let mut permit = acquire(live.permits.clone(), timeouts.pool).await?;
    let known_h2 = match (&h2_origins, &h2_origin) {
        (Some(origins), Some(origin)) => origins.lock().contains(origin),
        _ => false,
    };
    if known_h2 {
        permit = None; // a stream on the origin's HTTP/2 connection: not a connection of its own
    }
    let head_only = request.method() == Method::HEAD;
    let asked_upgrade = request.headers().contains_key(reqwest::header::UPGRADE);
    let mut request = request;
    let phases = Phases::new(
        &mut request,
        timeouts.connect,
        timeouts.write,
        timeouts.read,
    );
    let mut response = phases.run(Box::pin(send(live, request))).await?;
    let status = response.status();
    let version = response.version();
    if let (Some(origins), Some(origin)) = (&h2_origins, h2_origin) {
        if version == http::Version::HTTP_2 {
            if !known_h2 {
                origins.lock().insert(origin);
            }
            permit = None;
        } else {
            origins.lock().remove(&origin);
        }
    }
    let headers = response.take_headers();
    let reason = response.reason();
    refuse_unasked(status, &headers, asked_upgrade)?;
    let body = match delivery {
        Delivery::Stream => Body::Streamed(spawn_pump(
            response,
            timeouts.read,
            permit,
            closed,
            Already::default(),
            timeouts.deadline,
            driver,
        )),
        Delivery::StreamOrRaw => match ready_body(&mut response).await {
            Ok(chunks) => {
                drop(permit);
                Body::Buffered(chunks)
            }
            Err(already) => Body::Streamed(spawn_pump(
                response,
                timeouts.read,
                permit,
                closed,
                already,
                timeouts.deadline,
                driver,
            )),
        },
        Delivery::Whole => match presized_length(&headers, status, head_only) {
            Some(length) => read_presized(&mut response, length, timeouts.read, permit).await?,
            None => {
                let chunks = read_all(&mut response, timeouts.read).await?;
                drop(permit);
                Body::Buffered(decode_buffered(&headers, chunks, bounds)?)
            }
        },
    };
    Ok(RawResponse {
        status,
        reason,
        version,
        headers,
        body,
        retries: 0,
    })
}

/// The announced length of a large body that arrives as it will be returned (no
/// Content-Encoding to undo; no Transfer-Encoding, which overrides Content-Length): such a body
/// is read straight into its Python bytes.
fn presized_length(headers: &HeaderMap, status: u16, head_only: bool) -> Option<usize> {
    if head_only
        || matches!(status, 100..=199 | 204 | 304)
        || headers.contains_key(reqwest::header::CONTENT_ENCODING)
        || headers.contains_key(reqwest::header::TRANSFER_ENCODING)
    {
        return None;
    }
    let length: u64 = headers
        .get(reqwest::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()?;
    if !(PRESIZED_MIN..=PRESIZED_MAX).contains(&length) {
        return None;
    }
    usize::try_from(length).ok()
}

async fn read_all(response: &mut Incoming, read: Option<Duration>) -> Result<Vec<Bytes>, RxError> {
    let mut chunks = Vec::new();
    while let Some(chunk) = response.read(read).await? {
        if !chunk.is_empty() {
            chunks.push(chunk);
        }
    }
    Ok(chunks)
}

/// Undoes Content-Encoding on a whole body here, on a tokio thread, off the GIL.
fn decode_buffered(
    headers: &HeaderMap,
    chunks: Vec<Bytes>,
    bounds: Bounds,
) -> Result<Vec<Bytes>, RxError> {
    let Some(encoding) = headers.get(reqwest::header::CONTENT_ENCODING) else {
        return Ok(chunks);
    };
    if chunks.is_empty() {
        return Ok(chunks); // HEAD, 204, 304: nothing to decode
    }
    let Some(chain) = Chain::for_header(&String::from_utf8_lossy(encoding.as_bytes()), bounds)?
    else {
        return Ok(chunks);
    };
    Ok(vec![Bytes::from(chain.decode_all(&chunks)?)])
}

#[cfg(test)]
mod tests {
    use super::has_authority;

    #[test]
    fn a_host_must_follow_the_scheme() {
        for url in ["http://a/", "https://u:p@a:1/x", "http://[::1]:8080"] {
            assert!(has_authority(url), "{url}");
        }
        for url in [
            "http:///path",
            "http:/path",
            "http:path",
            "http://:80/",
            "http://u@/",
            "http:\\\\a/",
        ] {
            assert!(!has_authority(url), "{url}");
        }
    }

    #[test]
    fn origin_of_names_scheme_host_and_port_with_the_default_port_filled_in() {
        let of = |u: &str| super::origin_of(&reqwest::Url::parse(u).unwrap());
        assert_eq!(of("https://example.com/a?b"), "https://example.com:443");
        assert_eq!(of("http://127.0.0.1:8080/"), "http://127.0.0.1:8080");
        assert_eq!(of("http://[::1]:65535/x"), "http://[::1]:65535");
        assert_eq!(of("http://h:0/"), "http://h:0");
    }
}
