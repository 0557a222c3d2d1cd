//! httpx's four timeouts on the phases of one request, each with its own meaning.
//!
//! - **pool**: waiting for a place in the client's connection limit (`request.rs`).
//! - **connect**: opening a connection (TCP, TLS, proxy), per request: the connector of both
//!   clients is wrapped in `ConnectDeadline`, which reads the timeout of the request that opens
//!   the connection from a task-local set around the send.
//! - **write**: a request body that stops moving (no frame handed to hyper for that long).
//! - **read**: waiting for the response head once the request is sent, and then each body read.
//!
//! So a read timeout of 0.3 s fires ~0.3 s after the request went out, whatever the write timeout
//! is, and time spent connecting does not count against it.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use tokio::time::Instant;

use crate::error::RxError;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Where one request is: opening a connection, sending its body, or waiting for its answer, and
/// when it last moved. Written by the connector and the body as they go (plain atomics, no
/// wake-ups); read only when a timer expires.
pub(crate) struct Progress {
    started: Instant,
    connecting: AtomicBool,
    writing: AtomicBool,
    /// When the request last moved (a connection opened, a body frame handed over, the body
    /// ended), in microseconds since `started`.
    moved_at: AtomicU64,
}

impl Progress {
    fn new() -> Self {
        Self {
            started: Instant::now(),
            connecting: AtomicBool::new(false),
            writing: AtomicBool::new(false),
            moved_at: AtomicU64::new(0),
        }
    }

    fn touch(&self) {
        let micros = u64::try_from(self.started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.moved_at.store(micros, Ordering::Release);
    }

    fn moved(&self) -> Instant {
        self.started + Duration::from_micros(self.moved_at.load(Ordering::Acquire))
    }
}

/// What a request's connector reads: its connect timeout and its progress.
#[derive(Clone)]
struct Scope {
    connect: Option<Duration>,
    progress: Arc<Progress>,
}

tokio::task_local! {
    static SCOPE: Scope;
}

/// Connects under the connect timeout of the request being sent (the client's when none is set).
#[derive(Clone)]
pub(crate) struct ConnectDeadline<S> {
    inner: S,
    fallback: Option<Duration>,
}

impl<S> ConnectDeadline<S> {
    pub(crate) fn new(inner: S, fallback: Option<Duration>) -> Self {
        Self { inner, fallback }
    }
}

/// `ConnectDeadline` as a tower layer, for reqwest's connector stack.
#[derive(Clone)]
pub(crate) struct ConnectDeadlineLayer {
    pub(crate) fallback: Option<Duration>,
}

impl<S> tower_layer::Layer<S> for ConnectDeadlineLayer {
    type Service = ConnectDeadline<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ConnectDeadline::new(inner, self.fallback)
    }
}

impl<S, R> tower_service::Service<R> for ConnectDeadline<S>
where
    S: tower_service::Service<R>,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    S::Response: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, target: R) -> Self::Future {
        // hyper-util calls the connector while the request's own task polls it, so the scope is
        // the request's. A connect it finishes in the background keeps the limit it started with.
        let scope = SCOPE.try_with(Scope::clone).ok();
        let limit = scope.as_ref().map_or(self.fallback, |s| s.connect);
        if let Some(scope) = &scope {
            scope.progress.connecting.store(true, Ordering::Release);
            scope.progress.touch();
        }
        let connecting = self.inner.call(target);
        Box::pin(async move {
            let outcome = match limit {
                None => connecting.await.map_err(Into::into),
                // Zero: "fail unless ready now", and a new connection never is (a poll could
                // win the race on loopback now and then; httpx always times out).
                Some(limit) if limit.is_zero() => Err(Box::new(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "timed out opening a connection",
                )) as BoxError),
                Some(limit) => match tokio::time::timeout(limit, connecting).await {
                    Ok(r) => r.map_err(Into::into),
                    Err(_) => Err(Box::new(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "timed out opening a connection",
                    )) as BoxError),
                },
            };
            if let Some(scope) = scope {
                scope.progress.connecting.store(false, Ordering::Release);
                scope.progress.touch();
            }
            outcome
        })
    }
}

/// A request body that reports each frame it hands to hyper, and its end.
struct Tracked {
    inner: reqwest::Body,
    progress: Arc<Progress>,
}

impl http_body::Body for Tracked {
    type Data = Bytes;
    type Error = reqwest::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, reqwest::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(_))) if !self.inner.is_end_stream() => self.progress.touch(),
            Poll::Ready(_) => {
                self.progress.writing.store(false, Ordering::Release);
                self.progress.touch();
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// NOTE: a body this small goes out with the head in one write into the socket's buffer, which
/// cannot stall; only larger ones are tracked (tracking boxes the body).
const TRACKED_BODY: u64 = 64 << 10;

/// How one request's phases are timed.
pub(crate) struct Phases {
    progress: Arc<Progress>,
    connect: Option<Duration>,
    /// The write timeout applies while the body is being written (bytes bodies; a streamed
    /// body's writes are bounded where Python queues them, `body/upload.rs`, not here, so a slow
    /// producer is not a stalled socket).
    write: Option<Duration>,
    read: Option<Duration>,
}

impl Phases {
    /// Prepares `request` (its body tracked if it has one worth tracking).
    pub(crate) fn new(
        request: &mut reqwest::Request,
        connect: Option<Duration>,
        write: Option<Duration>,
        read: Option<Duration>,
    ) -> Self {
        let progress = Arc::new(Progress::new());
        let mut write_limit = None;
        if let Some(body) = request.body_mut().take() {
            let size = http_body::Body::size_hint(&body).exact();
            let streamed = body.as_bytes().is_none();
            if streamed || size.is_some_and(|n| n > TRACKED_BODY) {
                progress.writing.store(true, Ordering::Release);
                write_limit = if streamed { None } else { write };
                *request.body_mut() = Some(reqwest::Body::wrap(Tracked {
                    inner: body,
                    progress: progress.clone(),
                }));
            } else {
                *request.body_mut() = Some(body);
            }
        }
        Self {
            progress,
            connect,
            write: write_limit,
            read,
        }
    }

    /// Runs `send` (to the response head) under the connect, write and read timeouts.
    /// NOTE: the deadline is checked when a timer expires, from the progress recorded meanwhile,
    /// rather than re-armed at each step: a request costs one timer, a body frame one atomic store.
    pub(crate) async fn run<T>(
        self,
        send: impl Future<Output = Result<T, RxError>>,
    ) -> Result<T, RxError> {
        let scope = Scope {
            connect: self.connect,
            progress: self.progress.clone(),
        };
        // Pinned once, here: each path below polls this one future (awaiting it by value in one
        // path and pinned in the others kept a copy of it per path in this future's state).
        let send = SCOPE.scope(scope, send);
        tokio::pin!(send);
        let progress = &self.progress;
        let writing = progress.writing.load(Ordering::Acquire);
        let first = if writing {
            self.write.or(self.read)
        } else {
            self.read.or(self.write)
        };
        let Some(first) = first else {
            return send.await; // no read or write timeout: nothing to watch
        };
        if first.is_zero() {
            // A zero timeout means "fail unless ready now", deterministically: one poll, no race
            // between the answer and a timer of zero (httpx always times out there).
            return match crate::body::incoming::poll_once(send.as_mut()).await {
                std::task::Poll::Ready(sent) => sent,
                std::task::Poll::Pending if writing => Err(RxError::write_timeout()),
                std::task::Poll::Pending => Err(RxError::head_timeout()),
            };
        }
        // A phase without a limit of its own (connecting, a streamed body) is looked at again
        // this often, to start the next phase's limit from when it began.
        let recheck = self.read.or(self.write).unwrap_or(first);
        let timer = tokio::time::sleep_until(progress.started + first);
        tokio::pin!(timer);
        loop {
            tokio::select! {
                biased;
                sent = &mut send => return sent,
                () = timer.as_mut() => {}
            }
            let now = Instant::now();
            let writing = progress.writing.load(Ordering::Acquire);
            let limit = if writing { self.write } else { self.read };
            let next = match limit {
                _ if progress.connecting.load(Ordering::Acquire) => now + recheck,
                None => now + recheck,
                Some(limit) => {
                    let deadline = progress.moved() + limit;
                    if now >= deadline {
                        return Err(if writing {
                            RxError::write_timeout()
                        } else {
                            RxError::head_timeout()
                        });
                    }
                    deadline
                }
            };
            timer.as_mut().reset(next);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    fn phases(read: Option<Duration>, write: Option<Duration>) -> Phases {
        Phases {
            progress: Arc::new(Progress::new()),
            connect: None,
            write,
            read,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn read_timeout_counts_from_the_start_without_a_body() {
        let started = tokio::time::Instant::now();
        let outcome = phases(
            Some(Duration::from_millis(300)),
            Some(Duration::from_secs(5)),
        )
        .run(std::future::pending::<Result<(), RxError>>())
        .await;
        assert!(matches!(outcome, Err(e) if e.kind == ErrorKind::ReadTimeout));
        assert_eq!(started.elapsed(), Duration::from_millis(300));
    }

    #[tokio::test(start_paused = true)]
    async fn connecting_pauses_the_read_timeout() {
        let started = tokio::time::Instant::now();
        let send = async {
            let progress = SCOPE.with(|s| s.progress.clone());
            progress.connecting.store(true, Ordering::Release);
            progress.touch();
            tokio::time::sleep(Duration::from_millis(500)).await;
            progress.connecting.store(false, Ordering::Release);
            progress.touch();
            std::future::pending::<Result<(), RxError>>().await
        };
        let outcome = phases(Some(Duration::from_millis(300)), None)
            .run(send)
            .await;
        assert!(matches!(outcome, Err(e) if e.kind == ErrorKind::ReadTimeout));
        assert_eq!(started.elapsed(), Duration::from_millis(800));
    }

    #[tokio::test(start_paused = true)]
    async fn a_stalled_body_is_a_write_timeout_and_a_moving_one_is_not() {
        let p = phases(
            Some(Duration::from_millis(300)),
            Some(Duration::from_millis(200)),
        );
        p.progress.writing.store(true, Ordering::Release);
        let send = async {
            let progress = SCOPE.with(|s| s.progress.clone());
            for _ in 0..5 {
                tokio::time::sleep(Duration::from_millis(150)).await;
                progress.touch(); // a frame handed over: the write timer starts again
            }
            std::future::pending::<Result<(), RxError>>().await
        };
        let started = tokio::time::Instant::now();
        let outcome = p.run(send).await;
        assert!(matches!(outcome, Err(e) if e.kind == ErrorKind::WriteTimeout));
        assert_eq!(started.elapsed(), Duration::from_millis(950));
    }

    #[tokio::test]
    async fn a_tracked_body_reports_its_end() {
        use http_body_util::BodyExt;
        let progress = Arc::new(Progress::new());
        progress.writing.store(true, Ordering::Release);
        let mut body = Tracked {
            inner: reqwest::Body::from(vec![1u8; 100_000]),
            progress: progress.clone(),
        };
        let mut seen = 0;
        while let Some(frame) = body.frame().await {
            seen += frame.unwrap().into_data().unwrap().len();
        }
        assert_eq!(seen, 100_000);
        assert!(!progress.writing.load(Ordering::Acquire));
    }
}
