//! The chat service at its own boundary: its gRPC API (`talkapp.chat.v1.ChatService`, and
//! `AccountHost` between replicas) on a real store and bus, reaching the local Telegram
//! sandbox through the real grammers client. The end-to-end suite (`talkapp/tests/it`)
//! checks the seams with the gateway; a failure here names the chat service.

mod accounts;
mod announcements;
mod host;
mod memory;
mod sends;
mod support;
mod telegram_search;
