//! Integration tests: the sender against a stand-in push service on loopback, and the
//! VAPID tokens against an independent ES256 implementation.

mod helpers;
mod send;
mod vapid;
