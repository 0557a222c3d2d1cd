//! A client's settings and the clients they build: hyper-util's directly (http:// and https://,
//! HTTP/1.1 and HTTP/2) when no proxy can apply, and reqwest's for proxies. Built again in each
//! fork generation.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use super::conn_tasks::ConnTasks;
use super::h2_pool::H2Pool;
use super::phases::{ConnectDeadline, ConnectDeadlineLayer};
use super::tls::Tls;
use crate::body::decode::Bounds;
use crate::bridge::driver::Driver;
use crate::error::{ErrorKind, RxError};

/// Settings fixed at construction, kept to rebuild the reqwest client in a forked child.
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) http1: bool,
    pub(crate) http2: bool,
    pub(crate) tls: Tls,
    pub(crate) max_connections: Option<usize>,
    pub(crate) max_keepalive: Option<usize>,
    pub(crate) keepalive_expiry: Option<Duration>,
    pub(crate) connect_timeout: Option<Duration>,
    pub(crate) proxy: Option<String>,
    pub(crate) trust_env: bool,
    /// The most header lines a response head may have (hyper's default is 100; httpx takes any
    /// number that fits its head size limit, and servers send a few hundred cookies and CSP
    /// lines): beyond it the response is a RemoteProtocolError naming the limit. The default,
    /// 1000, is `Limits(max_headers=)`'s.
    pub(crate) max_headers: usize,
    /// How far a buffered body may decompress (`Limits(max_decompressed_size=, ...)`).
    pub(crate) decode_bounds: Bounds,
}

/// TCP and rustls, under each request's connect timeout.
pub(crate) type DirectConnector = ConnectDeadline<
    hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
>;

/// hyper-util's client over that connector: what reqwest runs underneath, without its layers.
pub(crate) type DirectClient = hyper_util::client::legacy::Client<DirectConnector, reqwest::Body>;

/// What one fork generation uses (see `LiveParts`), shared: every request holds it.
/// NOTE: cloned per request (and per attempt), the parts took a dozen atomic increments and as
/// many decrements (reqwest's and hyper-util's clients are each several `Arc`s); one `Arc` takes
/// one. Interleaved A/B, client on one core: 64 in flight 33,139 -> 33,274 req/s (means of 4,
/// noise), 512 in flight 26,669 -> 27,354 and 8 threads 26,936 -> 27,783 (means of 3).
#[derive(Clone)]
pub(crate) struct Live(Arc<LiveParts>);

impl Live {
    pub(crate) fn new(parts: LiveParts) -> Self {
        Self(Arc::new(parts))
    }
}

impl std::ops::Deref for Live {
    type Target = LiveParts;

    fn deref(&self) -> &LiveParts {
        &self.0
    }
}

/// The clients and the connection-limit semaphore of one fork generation.
pub(crate) struct LiveParts {
    pub(crate) generation: u64,
    pub(crate) client: reqwest::Client,
    /// For every request when no proxy can apply.
    /// NOTE: reqwest parses every request's URL twice more (its redirect layer, then the
    /// response URL) and clones its service stack per request; skipping it for plain HTTP took
    /// the 64-in-flight map benchmark from ~62k to ~75k req/s (client pinned to one core).
    pub(crate) direct: Option<DirectClient>,
    /// Beside `direct`, with HTTP/2 allowed: the HTTP/2 connections it sends to itself.
    pub(crate) h2: Option<H2Pool>,
    /// The tasks of the direct client's connections, aborted when the client closes.
    pub(crate) conn_tasks: ConnTasks,
    pub(crate) permits: Option<Arc<Semaphore>>,
    /// With HTTP/2 allowed and a connection limit: the origins whose connection speaks HTTP/2.
    /// Their requests are streams on one connection, so the limit (of connections, as in httpx)
    /// does not hold them: they give their permit back as soon as they know (`request.rs`).
    pub(crate) h2_origins: Option<Arc<parking_lot::Mutex<std::collections::HashSet<String>>>>,
    pub(crate) decode_bounds: Bounds,
    /// The driver this pool's connections run on, for a blocking client's driven pool (see
    /// `ClientCore::driven`); None on the engine. A body streamed from it is read by driving it.
    pub(crate) driver: Option<Arc<Driver>>,
}

impl Config {
    pub(crate) fn build(&self, generation: u64) -> Result<Live, RxError> {
        self.build_parts(generation).map(Live::new)
    }

    /// As `build`, to change before it is shared.
    pub(crate) fn build_parts(&self, generation: u64) -> Result<LiveParts, RxError> {
        let tls = self.tls.config().map_err(|e| {
            RxError::new(
                ErrorKind::ConnectError,
                format!("invalid TLS settings: {e}"),
            )
        })?;
        let mut b = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .pool_max_idle_per_host(self.max_keepalive.unwrap_or(usize::MAX))
            .pool_idle_timeout(self.keepalive_expiry)
            .http1_max_headers(self.max_headers)
            // RFC 9112 §5.2: a user agent unfolds obs-fold lines (httpx does) rather than failing.
            .http1_allow_obsolete_multiline_headers_in_responses(true)
            .tcp_nodelay(true);
        // Per request (see `phases.rs`); the client's own connect timeout when a request has none.
        b = b.connector_layer(ConnectDeadlineLayer {
            fallback: self.connect_timeout,
        });
        b = match (self.http1, self.http2) {
            (false, true) => b.http2_prior_knowledge(),
            (true, false) => b.http1_only(),
            _ => b,
        };
        b = b.tls_backend_preconfigured(tls.clone());
        if let Some(proxy) = &self.proxy {
            let proxy = reqwest::Proxy::all(proxy.as_str()).map_err(RxError::invalid_proxy)?;
            b = b.proxy(proxy);
        } else if !self.trust_env {
            b = b.no_proxy();
        }
        let client = b.build().map_err(RxError::from_reqwest)?;
        let conn_tasks = ConnTasks::default();
        let (direct, h2) = match self.direct_client(tls, &conn_tasks) {
            Some((direct, h2)) => (Some(direct), h2),
            None => (None, None),
        };
        Ok(LiveParts {
            generation,
            client,
            direct,
            h2,
            conn_tasks,
            permits: self.max_connections.map(|n| Arc::new(Semaphore::new(n))),
            h2_origins: (self.http2 && self.max_connections.is_some()).then(Arc::default),
            decode_bounds: self.decode_bounds,
            driver: None,
        })
    }

    /// The direct client, unless a proxy may apply. Over TLS it speaks what ALPN settles; over
    /// plain TCP HTTP/1.1, or HTTP/2 with prior knowledge when HTTP/1.1 is off (h2c); with both
    /// on, http:// is HTTP/1.1 (as in httpx: no h2c upgrade).
    /// NOTE: measured against reqwest's layers, client on one core: h2c ~29,200 -> ~36,000-38,900
    /// req/s (64 streams on one connection); HTTPS: docs/design.md, "Requests without reqwest's layers".
    fn direct_client(
        &self,
        tls: rustls::ClientConfig,
        tasks: &ConnTasks,
    ) -> Option<(DirectClient, Option<H2Pool>)> {
        let env_proxy = || {
            [
                "http_proxy",
                "HTTP_PROXY",
                "https_proxy",
                "HTTPS_PROXY",
                "all_proxy",
                "ALL_PROXY",
            ]
            .iter()
            .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()))
        };
        if self.proxy.is_some() || (self.trust_env && env_proxy()) {
            return None;
        }
        let mut http = hyper_util::client::legacy::connect::HttpConnector::new();
        http.enforce_http(false); // https:// too: the TLS connector wraps it
        http.set_nodelay(true);
        // reqwest's TCP keepalive and user-timeout defaults, so both clients notice a dead peer alike.
        http.set_keepalive(Some(Duration::from_secs(15)));
        http.set_keepalive_interval(Some(Duration::from_secs(15)));
        http.set_keepalive_retries(Some(3));
        http.set_tcp_user_timeout(Some(Duration::from_secs(30)));
        let mut builder = hyper_util::client::legacy::Client::builder(tasks.clone());
        builder
            .timer(hyper_util::rt::TokioTimer::new())
            .pool_timer(hyper_util::rt::TokioTimer::new())
            .pool_idle_timeout(self.keepalive_expiry)
            .pool_max_idle_per_host(self.max_keepalive.unwrap_or(usize::MAX))
            .http1_max_headers(self.max_headers)
            .http1_allow_obsolete_multiline_headers_in_responses(true)
            .http2_only(!self.http1);
        // http:// passes through; https:// offers the ALPN protocols `Tls::new` chose.
        let https = hyper_rustls::HttpsConnector::from((http, tls));
        let connector = ConnectDeadline::new(https, self.connect_timeout);
        // Without keep-alive (no idle connection kept, or none for any time) hyper-util opens a
        // connection per request, HTTP/2 too: left to it.
        let keeps_alive =
            self.max_keepalive != Some(0) && self.keepalive_expiry != Some(Duration::ZERO);
        let h2 = (self.http2 && keeps_alive).then(|| {
            H2Pool::new(
                connector.clone(),
                tasks.clone(),
                !self.http1,
                self.keepalive_expiry,
            )
        });
        Some((builder.build(connector), h2))
    }
}
