//! End-to-end tests of the TalkApp backend: the real gateway and services over HTTP and
//! gRPC, on SQLite (embedded) and PostgreSQL, in one process and split into processes.

mod audit;
mod auth;
mod chat_members;
mod chats;
mod contact_changes;
mod errors;
mod external_tokens;
mod faults;
mod groups;
mod hardening;
mod helpers;
mod joins;
// Appended: managing invite links and join requests.
mod invites;
mod linking;
mod media;
mod message_actions;
mod observability;
mod operator;
mod own_profile;
mod people_search;
mod photos;
mod pins;
mod profiles;
mod realtime;
mod replicas;
mod search;
mod send_media;
mod split_mode;
mod supabase;
mod support;
mod telegram_search;
mod torextalkweb;
mod uploads;
