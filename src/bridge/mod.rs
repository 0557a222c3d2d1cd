//! The bridge: how work crosses from Python into tokio and how its completion comes back to a
//! waiting Python caller. It knows nothing of HTTP: what an operation hands over is anything that
//! can become a Python object ([`slot::IntoPython`]).
//!
//! The [`runtime`] runs the work (one tokio runtime per process, one dispatcher). A [`slot::Slot`]
//! holds one operation's result; completion and cancellation race through one compare-and-swap.
//! An [`op::Op`] is the Python handle of a slot, made in one place ([`op::Op::for_hub`]). A
//! [`hub::Hub`] wakes one event loop (asyncio, uvloop, trio) once per batch of completions through
//! an eventfd; a blocked thread waits on the slot's condvar instead. A [`driver::Driver`] is a
//! current-thread runtime that a blocked thread drives itself (a lone thread's blocking request,
//! and the reads of the stream it returns).

pub(crate) mod driver;
pub(crate) mod hub;
pub(crate) mod op;
pub(crate) mod runtime;
pub(crate) mod slot;
