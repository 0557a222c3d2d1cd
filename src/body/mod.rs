//! Bodies: the response as it is read off the connection ([`incoming`]) and handed to Python
//! whole ([`response`], [`presized`], [`pybytes`]) or streamed ([`stream`]); the request body
//! Python streams in ([`upload`]); Content-Encoding undone ([`decode`]).

pub(crate) mod decode;
pub(crate) mod incoming;
pub(crate) mod presized;
pub(crate) mod pybytes;
pub(crate) mod response;
pub(crate) mod stream;
pub(crate) mod upload;
