//! The direct client's HTTP/2 connections, one per origin, sent to without hyper-util's pool.
//!
//! An HTTP/2 connection carries every request to its origin at once, so it needs no checkout:
//! a request clones the origin's `SendRequest` and sends. hyper-util's pool does far more per
//! request (it clones its connector and both protocol builders into a connect future it never
//! starts, hashes a pool key, and moves a large state machine several times), so requests to
//! an origin known to speak HTTP/2 go here instead.
//! NOTE: interleaved, 6 pairs each, client on one core, 64 streams: h2c median 41,708 -> 43,793
//! req/s (median pair ratio 1.067), HTTPS 40,734 -> 45,246 (1.088).
//!
//! Which requests come here: with HTTP/1.1 off, every one (HTTP/2 with prior knowledge, as
//! hyper-util's `http2_only`); otherwise those to an `https://` origin whose connection in
//! hyper-util's pool answered in HTTP/2 (ALPN), as learnt by `learn`. Anything else, and a
//! request this pool cannot place (its origin's server now picks HTTP/1.1, or a connection
//! attempt by another request just failed), is declined and goes through hyper-util.
//!
//! Lifecycle: a connection found closed (GOAWAY, a reset socket, the server's idle close) is
//! replaced on the next request; one idle past the client's keep-alive expiry is dropped then
//! too, as httpcore expires idle connections when the pool is next used. Its task runs under the
//! client's `ConnTasks`, so closing the client closes it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use hyper::client::conn::http2::{Builder, SendRequest};
use hyper::rt::Executor;
use hyper_util::client::legacy::connect::Connection;
use parking_lot::Mutex;
use tokio::time::Instant;

use super::config::DirectConnector;
use super::conn_tasks::ConnTasks;
use crate::error::RxError;

type Sender = SendRequest<reqwest::Body>;
type Response = http::Response<hyper::body::Incoming>;

/// What `H2Pool::send` made of a request.
pub(crate) enum Sent {
    Response(Result<Response, RxError>),
    /// Not for this pool (or not now): the request, to send through hyper-util.
    Declined(http::Request<reqwest::Body>),
}

pub(crate) struct H2Pool {
    connector: DirectConnector,
    builder: Builder<ConnTasks>,
    tasks: ConnTasks,
    /// HTTP/1.1 is off: every origin speaks HTTP/2, over TLS whatever ALPN says.
    prior_knowledge: bool,
    /// Idle longer than this, a connection is not used again (`Limits(keepalive_expiry=)`).
    expiry: Option<Duration>,
    /// By origin (`scheme://authority`, as the request's URL spells it).
    origins: Mutex<HashMap<String, Origin>>,
}

#[derive(Default)]
struct Origin {
    /// Its server answered in HTTP/2 (or HTTP/1.1 is off).
    h2: bool,
    conn: Option<Conn>,
    /// Held while a request connects, so that the requests behind it share its connection.
    connecting: Arc<tokio::sync::Mutex<()>>,
    /// Connection attempts begun: a request that waited through a failed one declines.
    attempts: u64,
}

struct Conn {
    sender: Sender,
    /// The attempt that opened it: what `forget` matches.
    id: u64,
    last_used: Instant,
}

/// A checkout: the sender, or what to wait on before connecting.
enum Ready {
    Sender(Sender, u64),
    Connect(Arc<tokio::sync::Mutex<()>>, u64),
    Declined,
}

impl H2Pool {
    pub(crate) fn new(
        connector: DirectConnector,
        tasks: ConnTasks,
        prior_knowledge: bool,
        expiry: Option<Duration>,
    ) -> Self {
        let mut builder = Builder::new(tasks.clone());
        builder.timer(hyper_util::rt::TokioTimer::new());
        Self {
            connector,
            builder,
            tasks,
            prior_knowledge,
            expiry,
            origins: Mutex::new(HashMap::new()),
        }
    }

    /// Requests to `origin` come here from now on: its server answered in HTTP/2.
    pub(crate) fn learn(&self, origin: &str) {
        let mut origins = self.origins.lock();
        match origins.get_mut(origin) {
            Some(entry) => entry.h2 = true,
            None => {
                origins.insert(
                    origin.to_owned(),
                    Origin {
                        h2: true,
                        ..Origin::default()
                    },
                );
            }
        }
    }

    /// Sends `request` on its origin's HTTP/2 connection (opened first if there is none), or
    /// declines it. `origin` is the request's `scheme://authority`; `url` is named in errors.
    pub(crate) async fn send(
        &self,
        origin: &str,
        request: http::Request<reqwest::Body>,
        url: &str,
    ) -> Sent {
        let mut request = request;
        let mut reused = true;
        loop {
            let (mut sender, id) = match self.checkout(origin) {
                Ready::Sender(sender, id) => (sender, id),
                Ready::Declined => return Sent::Declined(request),
                Ready::Connect(connecting, seen) => {
                    let _turn = connecting.lock().await;
                    match self.checkout(origin) {
                        Ready::Sender(sender, id) => (sender, id),
                        Ready::Declined => return Sent::Declined(request),
                        // Another request tried meanwhile and failed: go the usual way, with
                        // an attempt (and a failure) of its own.
                        Ready::Connect(_, now) if now != seen => return Sent::Declined(request),
                        Ready::Connect(..) => {
                            reused = false;
                            match Box::pin(self.connect(origin, request.uri(), url)).await {
                                Ok(Some(opened)) => opened,
                                Ok(None) => return Sent::Declined(request),
                                Err(err) => return Sent::Response(Err(err)),
                            }
                        }
                    }
                }
            };
            match sender.try_send_request(request).await {
                Ok(response) => return Sent::Response(Ok(response)),
                Err(mut err) => match err.take_message() {
                    // Never sent: the connection closed under it. Once more on a new one, as
                    // hyper-util retries a request a reused connection did not take.
                    Some(unsent) if reused => {
                        self.forget(origin, id);
                        request = unsent;
                        reused = false;
                    }
                    _ => {
                        return Sent::Response(Err(RxError::sending(
                            url,
                            "SendRequest",
                            &err.into_error(),
                            false,
                        )))
                    }
                },
            }
        }
    }

    fn checkout(&self, origin: &str) -> Ready {
        let mut origins = self.origins.lock();
        let entry = match origins.get_mut(origin) {
            Some(entry) => entry,
            None if self.prior_knowledge => origins.entry(origin.to_owned()).or_default(),
            None => return Ready::Declined,
        };
        if !(entry.h2 || self.prior_knowledge) {
            return Ready::Declined;
        }
        let now = Instant::now();
        if let Some(conn) = &mut entry.conn {
            let expired = self
                .expiry
                .is_some_and(|expiry| now.duration_since(conn.last_used) > expiry);
            if !expired && !conn.sender.is_closed() {
                conn.last_used = now;
                return Ready::Sender(conn.sender.clone(), conn.id);
            }
            entry.conn = None; // dropping the last sender lets hyper close the connection
        }
        Ready::Connect(entry.connecting.clone(), entry.attempts)
    }

    /// Drops connection `id` from the pool, unless another has replaced it already.
    fn forget(&self, origin: &str, id: u64) {
        if let Some(entry) = self.origins.lock().get_mut(origin) {
            if entry.conn.as_ref().is_some_and(|conn| conn.id == id) {
                entry.conn = None;
            }
        }
    }

    /// Opens a connection to `uri`'s origin and makes it the origin's. None: the server chose
    /// HTTP/1.1 (ALPN), and the origin goes back to hyper-util.
    async fn connect(
        &self,
        origin: &str,
        uri: &http::Uri,
        url: &str,
    ) -> Result<Option<(Sender, u64)>, RxError> {
        let id = match self.origins.lock().get_mut(origin) {
            Some(entry) => {
                entry.attempts += 1;
                entry.attempts
            }
            None => return Ok(None),
        };
        let mut connector = self.connector.clone();
        let io = tower_service::Service::call(&mut connector, uri.clone())
            .await
            .map_err(|err| RxError::sending(url, "Connect", &*err, true))?;
        if !self.prior_knowledge && !io.connected().is_negotiated_h2() {
            if let Some(entry) = self.origins.lock().get_mut(origin) {
                entry.h2 = false;
            }
            return Ok(None);
        }
        let (mut sender, connection) = self
            .builder
            .handshake(io)
            .await
            .map_err(|err| RxError::sending(url, "SendRequest", &err, false))?;
        self.tasks.execute(connection.map(drop));
        sender
            .ready()
            .await
            .map_err(|err| RxError::sending(url, "SendRequest", &err, false))?;
        if let Some(entry) = self.origins.lock().get_mut(origin) {
            entry.conn = Some(Conn {
                sender: sender.clone(),
                id,
                last_used: Instant::now(),
            });
        }
        Ok(Some((sender, id)))
    }
}
