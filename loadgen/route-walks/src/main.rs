//! The routing work of the gateway's route table for one request, main's order (with the
//! audit layer's walk before routing for a POST) against branch gw's (ADR 0063, 0064).
use actix_router::{Path, ResourceDef};
use std::hint::black_box;
use std::time::Instant;

const COMPAT: &[&str] = &[
    "/start_login",
    "/verify_code",
    "/verify_password",
    "/me/telegrams",
    "/me/telegrams/{index}",
    "/me/private_chats/{session_index}",
    "/me/groups/{session_index}",
    "/me/chats/{chat_id}/messages",
    "/me/download_media",
];
const MIDDLE: &[&str] = &[
    "/healthz",
    "/readyz",
    "/metrics",
    "/openapi.json",
    "/docs",
    "/swagger-ui/openapi.json",
    "/swagger-ui/{_:.*}",
];
const SESSIONS: &str = "/me/sessions/{user_id}";
const CHATS: &str = "/me/chats/{user_id}/{session_index}";
const HISTORY: &str = "/me/chat/messages/{user_id}/{session_index}/{chat_id}";
const SEND: &str = "/me/send_message/{user_id}/{session_index}";
const AUTH_ME: &str = "/auth/me";
const AFTER_AUTH_ME: &[&str] = &[
    "/auth/logout",
    "/me/audit/{user_id}",
    "/admin/audit",
    "/admin/users",
    "/admin/subjects",
    "/admin/users/{user_id}",
    "/admin/users/{user_id}/activity",
    "/admin/users/{user_id}/disable",
    "/admin/users/{user_id}/enable",
];
const AFTER_SESSIONS: &[&str] = &[
    "/me/sessions/{user_id}/login/{login_id}/code",
    "/me/sessions/{user_id}/login/{login_id}/password",
    "/me/sessions/{user_id}/{session_index}",
];
const CHAT_DETAILS: &str = "/me/chat/{user_id}/{session_index}/{chat_id}";
const REST: &[&str] = &[
    "/me/send_media/{user_id}/{session_index}",
    "/me/edit_message/{user_id}/{session_index}",
];

fn main_order() -> Vec<&'static str> {
    let mut v: Vec<&str> = COMPAT.to_vec();
    v.extend(MIDDLE);
    v.push(AUTH_ME);
    v.extend(AFTER_AUTH_ME);
    v.push(SESSIONS);
    v.extend(AFTER_SESSIONS);
    v.extend([CHATS, HISTORY, CHAT_DETAILS, SEND]);
    v.extend(REST);
    v
}

fn branch_order() -> Vec<&'static str> {
    let mut v: Vec<&str> = vec![AUTH_ME, SESSIONS, HISTORY, SEND];
    v.extend(COMPAT);
    v.push(CHATS);
    v.extend(MIDDLE);
    v.extend(AFTER_AUTH_ME);
    v.extend(AFTER_SESSIONS);
    v.push(CHAT_DETAILS);
    v.extend(REST);
    v
}

/// The router's walk: each route's capture_match_info until one matches.
fn route(defs: &[ResourceDef], path: &str) -> usize {
    let mut path = Path::new(path);
    for (index, def) in defs.iter().enumerate() {
        if def.capture_match_info(&mut path) {
            return index;
        }
    }
    usize::MAX
}

/// The walk of match_pattern before routing: find_match on each until one matches.
fn walk_before(defs: &[ResourceDef], path: &str) -> usize {
    defs.iter()
        .position(|def| def.find_match(path).is_some())
        .unwrap_or(usize::MAX)
}

fn time(name: &str, rounds: u32, mut work: impl FnMut() -> usize) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..7 {
        let started = Instant::now();
        for _ in 0..rounds {
            black_box(work());
        }
        best = best.min(started.elapsed().as_secs_f64() * 1e9 / f64::from(rounds));
    }
    println!("{name}: {best:.0} ns");
    best
}

fn main() {
    let old: Vec<ResourceDef> = main_order().into_iter().map(ResourceDef::new).collect();
    let new: Vec<ResourceDef> = branch_order().into_iter().map(ResourceDef::new).collect();
    let user = "0b7e2c1a-6a86-4a0b-9f3e-5b1c9d2e7f10";
    let cases = [
        ("POST send 202", format!("/me/send_message/{user}/1"), true),
        ("GET /me/sessions", format!("/me/sessions/{user}"), false),
        ("GET chats", format!("/me/chats/{user}/1"), false),
        (
            "GET history",
            format!("/me/chat/messages/{user}/1/1000001"),
            false,
        ),
        ("GET /auth/me", "/auth/me".to_owned(), false),
    ];
    let rounds = 50_000;
    for (name, path, audited_walk) in cases {
        let path = path.as_str();
        let before = time(&format!("{name} main"), rounds, || {
            let walked = if audited_walk {
                walk_before(&old, black_box(path))
            } else {
                0
            };
            walked.wrapping_add(route(&old, black_box(path)))
        });
        let after = time(&format!("{name} gw"), rounds, || {
            route(&new, black_box(path))
        });
        println!(
            "{name}: {before:.0} -> {after:.0} ns per request ({:.1} us saved)",
            (before - after) / 1000.0
        );
    }
}
