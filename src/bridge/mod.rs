//! The loop-agnostic bridge: how a completion in tokio reaches a waiting Python caller.
//!
//! A [`slot::Slot`] holds one operation's result; completion and cancellation race through one
//! compare-and-swap. A [`hub::Hub`] wakes one event loop (asyncio, uvloop, trio) once per batch of
//! completions through an eventfd; a blocked thread waits on the slot's condvar instead.

pub(crate) mod hub;
pub(crate) mod op;
pub(crate) mod slot;
