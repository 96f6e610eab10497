//! End to end: the real, unmodified grammers client against the sandbox over TCP.

mod activity;
mod admin;
mod chats;
mod connect;
mod forwards;
mod groups;
mod hooks;
mod login;
mod media;
mod persistence;
mod profile_edits;
mod robustness;
mod search;
mod support;
