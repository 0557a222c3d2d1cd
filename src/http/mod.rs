//! HTTP: a client core ([`client`], built from its [`config`] and [`tls`] settings, its direct
//! connections' tasks in [`conn_tasks`]), a request checked and run
//! ([`request`]) under its four timeouts ([`phases`]) and its retry policy ([`retry`]), and the
//! worker pool ([`batch`]) whose requests pass a [`gate`] first.

pub(crate) mod batch;
pub(crate) mod client;
pub(crate) mod config;
pub(crate) mod conn_tasks;
pub(crate) mod gate;
pub(crate) mod h2_pool;
pub(crate) mod phases;
pub(crate) mod request;
pub(crate) mod retry;
pub(crate) mod tls;
