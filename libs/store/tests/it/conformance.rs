//! The behaviour every [`Store`] implementation must have. Each test is written once and
//! run against every backend by `conformance_tests!` in `main.rs`; each run gets a fresh,
//! empty database.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use talkapp_store::{
    AuthSession, NewUser, RefreshOutcome, SessionStatus, Store, StoreError, TelegramAccount,
    TelegramSession, User, now,
};
use uuid::Uuid;

use crate::helpers::StoreOpener;

// ----------------------------------------------------------------------------------------
// Fixtures

fn new_user(email: &str) -> NewUser {
    NewUser {
        id: Uuid::new_v4(),
        email: email.to_owned(),
        email_normalized: email.trim().to_lowercase(),
        password_hash: format!("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$hash-of-{email}"),
        created_at: now(),
    }
}

async fn create_user(store: &dyn Store, email: &str) -> User {
    store
        .create_user(&new_user(email))
        .await
        .expect("create user")
}

fn new_auth_session(user_id: Uuid, at: DateTime<Utc>) -> AuthSession {
    AuthSession {
        id: Uuid::new_v4(),
        user_id,
        created_at: at,
        last_seen_at: at,
        expires_at: at + TimeDelta::days(30),
        revoked_at: None,
    }
}

/// A signed-in user's session whose first refresh token hash is `refresh_token_hash`.
async fn signed_in_session(store: &dyn Store, refresh_token_hash: &[u8]) -> AuthSession {
    let user = create_user(store, &format!("{}@example.com", Uuid::new_v4().simple())).await;
    let session = new_auth_session(user.id, now());
    store
        .create_auth_session(&session, refresh_token_hash)
        .await
        .expect("create auth session");
    session
}

async fn stored_session(store: &dyn Store, session_id: Uuid) -> AuthSession {
    store
        .auth_session(session_id)
        .await
        .expect("read auth session")
        .expect("the auth session exists")
}

/// A 32-byte value standing in for the SHA-256 of a refresh token.
fn token_hash(seed: u8) -> Vec<u8> {
    (0..32u8).map(|byte| byte.wrapping_mul(31) ^ seed).collect()
}

fn telegram_account(telegram_user_id: i64, first_name: &str) -> TelegramAccount {
    TelegramAccount {
        telegram_user_id,
        first_name: first_name.to_owned(),
        last_name: format!("{first_name}son"),
        username: first_name.to_lowercase(),
        phone: format!("4915{telegram_user_id}"),
    }
}

// ----------------------------------------------------------------------------------------
// Connectivity and schema

pub(crate) async fn the_store_answers_a_ping(store: Arc<dyn Store>) {
    store.ping().await.expect("ping");
    assert!(
        ["postgres", "sqlite"].contains(&store.backend()),
        "unexpected backend name {}",
        store.backend()
    );
}

pub(crate) async fn opening_the_same_database_again_keeps_the_schema_and_the_data(
    store: Arc<dyn Store>,
    opener: StoreOpener,
) {
    let user = create_user(&*store, "kept@example.com").await;
    let first_link = store
        .link_telegram_session(
            user.id,
            &telegram_account(42, "Ada"),
            SessionStatus::Connected,
            now(),
        )
        .await
        .expect("link telegram session");

    // Migrating again while the first store is still open, and once more after it closed.
    let second = opener.open().await;
    second.ping().await.expect("ping the second store");
    assert_eq!(
        second.user_by_id(user.id).await.expect("read user"),
        Some(user.clone())
    );
    drop(store);
    drop(second);
    let third = opener.open().await;
    assert_eq!(
        third.user_by_id(user.id).await.expect("read user"),
        Some(user.clone())
    );
    let second_link = third
        .link_telegram_session(
            user.id,
            &telegram_account(43, "Grace"),
            SessionStatus::Connecting,
            now(),
        )
        .await
        .expect("link telegram session after reopening");
    assert_eq!(second_link.session_index, 2, "the index counter survives");
    assert_eq!(
        third.telegram_sessions(user.id).await.expect("list"),
        vec![first_link, second_link]
    );
    assert!(matches!(
        third.create_user(&new_user("KEPT@example.com")).await,
        Err(StoreError::Conflict("users.email"))
    ));
}

// ----------------------------------------------------------------------------------------
// Users

pub(crate) async fn a_created_user_is_found_by_id_and_by_normalised_email(store: Arc<dyn Store>) {
    let new_user = new_user("  Alice.Smith@Example.COM ");
    let created = store.create_user(&new_user).await.expect("create user");
    let expected = User {
        id: new_user.id,
        email: new_user.email.clone(),
        created_at: new_user.created_at,
        last_sign_in_at: None,
    };
    assert_eq!(created, expected);

    assert_eq!(
        store.user_by_id(new_user.id).await.expect("user by id"),
        Some(expected.clone())
    );

    let credentials = store
        .user_credentials_by_email("alice.smith@example.com")
        .await
        .expect("credentials by email")
        .expect("found by normalised email");
    assert_eq!(credentials.user, expected);
    assert_eq!(credentials.password_hash, new_user.password_hash);
}

pub(crate) async fn an_unknown_user_is_not_found(store: Arc<dyn Store>) {
    create_user(&*store, "someone@example.com").await;
    assert_eq!(
        store.user_by_id(Uuid::new_v4()).await.expect("user by id"),
        None
    );
    assert!(
        store
            .user_credentials_by_email("nobody@example.com")
            .await
            .expect("credentials by email")
            .is_none()
    );
    // Lookups are by the normalised form only.
    assert!(
        store
            .user_credentials_by_email("SOMEONE@example.com")
            .await
            .expect("credentials by email")
            .is_none()
    );
}

pub(crate) async fn a_duplicate_email_is_a_conflict(store: Arc<dyn Store>) {
    let first = create_user(&*store, "bob@example.com").await;
    let duplicate = new_user(" BOB@Example.com");
    assert_eq!(duplicate.email_normalized, "bob@example.com");

    let outcome = store.create_user(&duplicate).await;
    assert!(
        matches!(outcome, Err(StoreError::Conflict("users.email"))),
        "expected Conflict(\"users.email\"), got {outcome:?}"
    );

    // Nothing of the rejected account was kept, and the first one is untouched.
    assert_eq!(
        store.user_by_id(duplicate.id).await.expect("user by id"),
        None
    );
    let credentials = store
        .user_credentials_by_email("bob@example.com")
        .await
        .expect("credentials by email")
        .expect("first account still there");
    assert_eq!(credentials.user, first);

    // The store is still usable after the failed insert.
    create_user(&*store, "bob2@example.com").await;
}

pub(crate) async fn recording_a_sign_in_sets_last_sign_in_at(store: Arc<dyn Store>) {
    let user = create_user(&*store, "carol@example.com").await;
    let signed_in_at = now() + TimeDelta::seconds(1);
    store
        .record_sign_in(user.id, signed_in_at)
        .await
        .expect("record sign-in");

    let expected = User {
        last_sign_in_at: Some(signed_in_at),
        ..user.clone()
    };
    assert_eq!(
        store.user_by_id(user.id).await.expect("user by id"),
        Some(expected.clone())
    );
    let credentials = store
        .user_credentials_by_email("carol@example.com")
        .await
        .expect("credentials by email")
        .expect("found");
    assert_eq!(credentials.user, expected);

    // The latest sign-in replaces the previous one.
    let again_at = signed_in_at + TimeDelta::minutes(5);
    store
        .record_sign_in(user.id, again_at)
        .await
        .expect("record second sign-in");
    assert_eq!(
        store
            .user_by_id(user.id)
            .await
            .expect("user by id")
            .and_then(|user| user.last_sign_in_at),
        Some(again_at)
    );
}

// ----------------------------------------------------------------------------------------
// Sign-in sessions

pub(crate) async fn an_auth_session_round_trips(store: Arc<dyn Store>) {
    let user = create_user(&*store, "dave@example.com").await;
    let created_at = now();
    let session = AuthSession {
        last_seen_at: created_at + TimeDelta::seconds(3),
        ..new_auth_session(user.id, created_at)
    };
    store
        .create_auth_session(&session, &token_hash(1))
        .await
        .expect("create auth session");
    assert_eq!(stored_session(&*store, session.id).await, session);
}

pub(crate) async fn an_unknown_auth_session_is_not_found(store: Arc<dyn Store>) {
    signed_in_session(&*store, &token_hash(1)).await;
    assert_eq!(
        store
            .auth_session(Uuid::new_v4())
            .await
            .expect("read auth session"),
        None
    );
}

pub(crate) async fn touching_a_session_moves_last_seen_forward_but_never_backward(
    store: Arc<dyn Store>,
) {
    let session = signed_in_session(&*store, &token_hash(1)).await;

    let later = session.last_seen_at + TimeDelta::seconds(10);
    store
        .touch_auth_session(session.id, later)
        .await
        .expect("touch");
    let touched = stored_session(&*store, session.id).await;
    assert_eq!(
        touched,
        AuthSession {
            last_seen_at: later,
            ..session.clone()
        }
    );

    let earlier = later - TimeDelta::seconds(5);
    store
        .touch_auth_session(session.id, earlier)
        .await
        .expect("touch with an earlier time");
    assert_eq!(
        stored_session(&*store, session.id).await.last_seen_at,
        later
    );

    // Touching an unknown session is not an error and creates nothing.
    let unknown = Uuid::new_v4();
    store
        .touch_auth_session(unknown, later)
        .await
        .expect("touch unknown session");
    assert_eq!(store.auth_session(unknown).await.expect("read"), None);
}

pub(crate) async fn revoking_a_session_sets_revoked_at_and_a_second_revoke_keeps_the_first_time(
    store: Arc<dyn Store>,
) {
    let session = signed_in_session(&*store, &token_hash(1)).await;
    let revoked_at = session.created_at + TimeDelta::seconds(30);
    store
        .revoke_auth_session(session.id, revoked_at, "logout")
        .await
        .expect("revoke");
    assert_eq!(
        stored_session(&*store, session.id).await,
        AuthSession {
            revoked_at: Some(revoked_at),
            ..session.clone()
        }
    );

    store
        .revoke_auth_session(session.id, revoked_at + TimeDelta::minutes(1), "logout_all")
        .await
        .expect("revoke again");
    assert_eq!(
        stored_session(&*store, session.id).await.revoked_at,
        Some(revoked_at)
    );
}

// ----------------------------------------------------------------------------------------
// Refresh-token rotation

pub(crate) async fn an_unknown_refresh_token_is_unknown(store: Arc<dyn Store>) {
    let session = signed_in_session(&*store, &token_hash(1)).await;
    let outcome = store
        .rotate_refresh_token(&token_hash(99), &token_hash(2), now())
        .await
        .expect("rotate");
    assert_eq!(outcome, RefreshOutcome::Unknown);

    // Nothing changed: the session is live and its real token still works.
    assert_eq!(stored_session(&*store, session.id).await, session);
    let outcome = store
        .rotate_refresh_token(&token_hash(1), &token_hash(2), now())
        .await
        .expect("rotate");
    assert!(matches!(outcome, RefreshOutcome::Rotated(_)), "{outcome:?}");
}

pub(crate) async fn rotating_a_refresh_token_returns_the_session_before_this_use_and_moves_last_seen_at(
    store: Arc<dyn Store>,
) {
    let session = signed_in_session(&*store, &token_hash(1)).await;

    // The session as it was before this use: the caller judges idleness from it.
    let first_use = session.last_seen_at + TimeDelta::minutes(1);
    let outcome = store
        .rotate_refresh_token(&token_hash(1), &token_hash(2), first_use)
        .await
        .expect("first rotation");
    assert_eq!(outcome, RefreshOutcome::Rotated(session.clone()));
    let after_first = AuthSession {
        last_seen_at: first_use,
        ..session.clone()
    };
    assert_eq!(stored_session(&*store, session.id).await, after_first);

    // The next token of the family works, once.
    let second_use = first_use + TimeDelta::minutes(1);
    let outcome = store
        .rotate_refresh_token(&token_hash(2), &token_hash(3), second_use)
        .await
        .expect("second rotation");
    assert_eq!(outcome, RefreshOutcome::Rotated(after_first));
    assert_eq!(
        stored_session(&*store, session.id).await.last_seen_at,
        second_use
    );

    // A rotation stamped earlier than the last use never moves last_seen_at backward.
    let outcome = store
        .rotate_refresh_token(&token_hash(3), &token_hash(4), first_use)
        .await
        .expect("third rotation");
    assert!(matches!(outcome, RefreshOutcome::Rotated(_)), "{outcome:?}");
    assert_eq!(
        stored_session(&*store, session.id).await.last_seen_at,
        second_use
    );
}

pub(crate) async fn presenting_a_spent_refresh_token_again_revokes_the_session(
    store: Arc<dyn Store>,
) {
    let session = signed_in_session(&*store, &token_hash(1)).await;
    let first_use = session.last_seen_at + TimeDelta::minutes(1);
    let outcome = store
        .rotate_refresh_token(&token_hash(1), &token_hash(2), first_use)
        .await
        .expect("rotation");
    assert!(matches!(outcome, RefreshOutcome::Rotated(_)), "{outcome:?}");

    let reuse_at = first_use + TimeDelta::minutes(1);
    let outcome = store
        .rotate_refresh_token(&token_hash(1), &token_hash(3), reuse_at)
        .await
        .expect("reuse");
    assert_eq!(
        outcome,
        RefreshOutcome::Reused {
            session_id: session.id
        }
    );
    let revoked = stored_session(&*store, session.id).await;
    assert_eq!(revoked.revoked_at, Some(reuse_at));

    // The token offered as a successor during the reuse was not stored.
    let outcome = store
        .rotate_refresh_token(&token_hash(3), &token_hash(4), reuse_at)
        .await
        .expect("rotate the rejected successor");
    assert_eq!(outcome, RefreshOutcome::Unknown);

    // Presenting it yet again is still reuse, and the first revocation time stays.
    let outcome = store
        .rotate_refresh_token(
            &token_hash(1),
            &token_hash(5),
            reuse_at + TimeDelta::minutes(1),
        )
        .await
        .expect("second reuse");
    assert_eq!(
        outcome,
        RefreshOutcome::Reused {
            session_id: session.id
        }
    );
    assert_eq!(
        stored_session(&*store, session.id).await.revoked_at,
        Some(reuse_at)
    );
}

pub(crate) async fn reusing_a_token_of_a_signed_out_session_keeps_the_sign_out_time(
    store: Arc<dyn Store>,
) {
    let session = signed_in_session(&*store, &token_hash(1)).await;
    let first_use = session.last_seen_at + TimeDelta::minutes(1);
    store
        .rotate_refresh_token(&token_hash(1), &token_hash(2), first_use)
        .await
        .expect("rotation");
    let signed_out_at = first_use + TimeDelta::minutes(1);
    store
        .revoke_auth_session(session.id, signed_out_at, "logout")
        .await
        .expect("revoke");

    let outcome = store
        .rotate_refresh_token(
            &token_hash(1),
            &token_hash(3),
            signed_out_at + TimeDelta::minutes(1),
        )
        .await
        .expect("reuse");
    assert_eq!(
        outcome,
        RefreshOutcome::Reused {
            session_id: session.id
        }
    );
    assert_eq!(
        stored_session(&*store, session.id).await.revoked_at,
        Some(signed_out_at)
    );
}

pub(crate) async fn concurrent_rotations_of_one_token_let_exactly_one_through(
    store: Arc<dyn Store>,
) {
    let session = signed_in_session(&*store, &token_hash(1)).await;
    let at = session.last_seen_at + TimeDelta::minutes(1);
    let attempts: Vec<_> = (0..4u8)
        .map(|attempt| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .rotate_refresh_token(&token_hash(1), &token_hash(10 + attempt), at)
                    .await
                    .expect("rotate")
            })
        })
        .collect();
    let mut outcomes = Vec::new();
    for attempt in attempts {
        outcomes.push(attempt.await.expect("rotation task"));
    }

    let rotated = outcomes
        .iter()
        .filter(|outcome| matches!(outcome, RefreshOutcome::Rotated(_)))
        .count();
    let reused = outcomes
        .iter()
        .filter(|outcome| {
            **outcome
                == RefreshOutcome::Reused {
                    session_id: session.id,
                }
        })
        .count();
    assert_eq!((rotated, reused), (1, 3), "{outcomes:?}");
    assert_eq!(
        stored_session(&*store, session.id).await.revoked_at,
        Some(at)
    );
}

// ----------------------------------------------------------------------------------------
// Telegram sessions

pub(crate) async fn linked_telegram_sessions_are_numbered_per_user_and_listed_in_order(
    store: Arc<dyn Store>,
) {
    // The owner needs no `users` row (external identity providers).
    let alice = Uuid::new_v4();
    let bob = Uuid::new_v4();
    let start = now();
    let links = [
        (
            alice,
            telegram_account(1001, "Ada"),
            SessionStatus::Connected,
        ),
        (
            bob,
            telegram_account(2001, "Bea"),
            SessionStatus::Connecting,
        ),
        (
            alice,
            telegram_account(1002, "Ann"),
            SessionStatus::LoggedOut,
        ),
        (
            alice,
            telegram_account(1003, "Amy"),
            SessionStatus::FloodWait,
        ),
        (bob, telegram_account(2002, "Bob"), SessionStatus::Connected),
    ];
    let mut linked = Vec::new();
    for (offset, (user_id, account, status)) in (0i64..).zip(links) {
        let at = start + TimeDelta::seconds(offset);
        let session = store
            .link_telegram_session(user_id, &account, status, at)
            .await
            .expect("link telegram session");
        assert_eq!(session.user_id, user_id);
        assert_eq!(session.account, account);
        assert_eq!(session.status, status);
        assert_eq!(session.linked_at, at);
        linked.push(session);
    }
    let indexes: Vec<(Uuid, u32)> = linked
        .iter()
        .map(|session| (session.user_id, session.session_index))
        .collect();
    assert_eq!(
        indexes,
        vec![(alice, 1), (bob, 1), (alice, 2), (alice, 3), (bob, 2)]
    );

    let of = |user_id: Uuid| -> Vec<TelegramSession> {
        linked
            .iter()
            .filter(|session| session.user_id == user_id)
            .cloned()
            .collect()
    };
    assert_eq!(
        store.telegram_sessions(alice).await.expect("alice's"),
        of(alice)
    );
    assert_eq!(store.telegram_sessions(bob).await.expect("bob's"), of(bob));
}

pub(crate) async fn a_user_without_telegram_sessions_has_an_empty_list(store: Arc<dyn Store>) {
    store
        .link_telegram_session(
            Uuid::new_v4(),
            &telegram_account(5, "Eve"),
            SessionStatus::Connected,
            now(),
        )
        .await
        .expect("link someone else's");
    assert_eq!(
        store.telegram_sessions(Uuid::new_v4()).await.expect("list"),
        Vec::new()
    );
}

pub(crate) async fn large_telegram_user_ids_and_unicode_names_round_trip(store: Arc<dyn Store>) {
    let user_id = Uuid::new_v4();
    let accounts = [
        telegram_account(7_000_000_000_123, "Zoë"),
        TelegramAccount {
            telegram_user_id: i64::MAX,
            first_name: "Łukasz 🚀".to_owned(),
            last_name: String::new(),
            username: String::new(),
            phone: "380501234567".to_owned(),
        },
    ];
    let at = now();
    let mut linked = Vec::new();
    for account in &accounts {
        linked.push(
            store
                .link_telegram_session(user_id, account, SessionStatus::Connected, at)
                .await
                .expect("link"),
        );
    }
    let listed = store.telegram_sessions(user_id).await.expect("list");
    assert_eq!(listed, linked);
    let listed_accounts: Vec<TelegramAccount> =
        listed.into_iter().map(|session| session.account).collect();
    assert_eq!(listed_accounts, accounts);
}

pub(crate) async fn concurrent_links_of_one_user_get_distinct_indexes(store: Arc<dyn Store>) {
    let user_id = Uuid::new_v4();
    let tasks: Vec<_> = (1..=6i64)
        .map(|n| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .link_telegram_session(
                        user_id,
                        &telegram_account(n, "Con"),
                        SessionStatus::Connecting,
                        now(),
                    )
                    .await
                    .expect("link")
                    .session_index
            })
        })
        .collect();
    let mut indexes = Vec::new();
    for task in tasks {
        indexes.push(task.await.expect("link task"));
    }
    indexes.sort_unstable();
    assert_eq!(indexes, vec![1, 2, 3, 4, 5, 6]);
    let listed: Vec<u32> = store
        .telegram_sessions(user_id)
        .await
        .expect("list")
        .iter()
        .map(|session| session.session_index)
        .collect();
    assert_eq!(listed, indexes);
}
