//! A response whose head has arrived — from reqwest, or from the direct client — and the
//! reads of its body. One type so buffering, streaming and retries need not know which client ran.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use reqwest::header::HeaderMap;
use reqwest::Version;

use crate::error::RxError;

pub(crate) enum Incoming {
    Reqwest(reqwest::Response),
    /// NOTE: kept as hyper's own response: wrapping it in a `reqwest::Response` parsed a
    /// placeholder URL and boxed the body on every response.
    Direct(http::Response<hyper::body::Incoming>),
}

impl Incoming {
    pub(crate) fn status(&self) -> u16 {
        match self {
            Self::Reqwest(r) => r.status().as_u16(),
            Self::Direct(r) => r.status().as_u16(),
        }
    }

    pub(crate) fn version(&self) -> Version {
        match self {
            Self::Reqwest(r) => r.version(),
            Self::Direct(r) => r.version(),
        }
    }

    /// The server's reason phrase, when it is not the standard one for the status (hyper keeps
    /// only those; HTTP/2 has none).
    pub(crate) fn reason(&self) -> Option<Bytes> {
        let extensions = match self {
            Self::Reqwest(r) => r.extensions(),
            Self::Direct(r) => r.extensions(),
        };
        let reason = extensions.get::<hyper::ext::ReasonPhrase>()?;
        Some(Bytes::copy_from_slice(reason.as_bytes()))
    }

    pub(crate) fn take_headers(&mut self) -> HeaderMap {
        match self {
            Self::Reqwest(r) => std::mem::take(r.headers_mut()),
            Self::Direct(r) => std::mem::take(r.headers_mut()),
        }
    }

    /// The next piece of the body as hyper read it; None at the end (trailers are skipped).
    pub(crate) async fn chunk(&mut self) -> Result<Option<Bytes>, RxError> {
        match self {
            Self::Reqwest(r) => r.chunk().await.map_err(RxError::from_reqwest),
            Self::Direct(r) => loop {
                match r.body_mut().frame().await {
                    None => return Ok(None),
                    Some(Ok(frame)) => {
                        if let Ok(data) = frame.into_data() {
                            return Ok(Some(data));
                        }
                    }
                    Some(Err(e)) => return Err(RxError::from_hyper_body(e)),
                }
            },
        }
    }

    /// One body read, bounded by the read timeout (httpx's read timeout is per read, not a
    /// total).
    /// NOTE: a chunk that is already buffered is taken without arming a timer; most small bodies
    /// arrive with their head, so the common path registers no timer at all.
    pub(crate) async fn read(
        &mut self,
        read_timeout: Option<Duration>,
    ) -> Result<Option<Bytes>, RxError> {
        let mut chunk = std::pin::pin!(self.chunk());
        match (poll_once(chunk.as_mut()).await, read_timeout) {
            (Poll::Ready(result), _) => result,
            (Poll::Pending, None) => chunk.await,
            (Poll::Pending, Some(limit)) => tokio::time::timeout(limit, chunk)
                .await
                .map_err(|_| RxError::body_read_timeout())?,
        }
    }
}

/// Polls `future` once: its output if it is ready now, else `Pending` (and it can be polled on).
pub(crate) async fn poll_once<F: Future>(mut future: Pin<&mut F>) -> Poll<F::Output> {
    std::future::poll_fn(|cx| Poll::Ready(future.as_mut().poll(cx))).await
}
