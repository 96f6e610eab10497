//! The behaviour every [`Store`] implementation must have. Each test is written once and
//! run against every backend by `conformance_tests!` in `main.rs`; each run gets a fresh,
//! empty database.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use talkapp_common::probe::Probe;
use talkapp_store::{
    AccountKey, AuditActor, AuditOutcome, AuditQuery, AuthSession, CachedMessage, CachedUser,
    ChatListQuery, ChatProfile, ChatStore, DialogState, GatewayStore, HistoryQuery, JobCreated,
    JobStatus, LinkStatus, LinkedAccount, LoginState, NewAuditEntry, NewSendJob, NewUser,
    PushSubscription, RealtimeStore, RefreshOutcome, SearchStore, Store, StoreError, StoreProbe,
    SubjectOverview, TelegramAccount, TelegramLogin, User, UserCursor, now, shard_of,
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

/// Stands in for a sealed grammers session (the store keeps the bytes as given).
const SEALED: &[u8] = b"\x01sealed-session-bytes";

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

pub(crate) async fn each_process_view_is_the_one_store_and_answers_the_readiness_probe(
    store: Arc<dyn Store>,
) {
    // Arrange: each process's narrow view, as the all-in-one binary hands them out (an
    // upcast of the one store).
    let gateway: Arc<dyn GatewayStore> = Arc::clone(&store) as _;
    let chat: Arc<dyn ChatStore> = Arc::clone(&store) as _;
    let search: Arc<dyn SearchStore> = Arc::clone(&store) as _;
    let realtime: Arc<dyn RealtimeStore> = Arc::clone(&store) as _;
    let probes: Vec<Arc<dyn Probe>> = vec![
        Arc::new(StoreProbe(Arc::clone(&gateway))),
        Arc::new(StoreProbe(Arc::clone(&chat))),
        Arc::new(StoreProbe(Arc::clone(&search))),
        Arc::new(StoreProbe(Arc::clone(&realtime))),
    ];

    // Act: each view writes its own area.
    let user = gateway
        .create_user(&new_user("views@example.com"))
        .await
        .expect("create user");
    let linked = chat
        .link_telegram_account(
            user.id,
            &telegram_account(7, "Vi"),
            LinkStatus::Connected,
            SEALED,
            now(),
        )
        .await
        .expect("link through the chat view");
    realtime
        .add_push_subscription(&PushSubscription {
            user_id: user.id,
            endpoint: "https://push.example/views".into(),
            p256dh: "key".into(),
            auth: "secret".into(),
            created_at: now(),
        })
        .await
        .expect("subscribe through the realtime view");

    // Assert: every view is ready and reads what the others wrote.
    for probe in &probes {
        assert_eq!(probe.name(), "database");
        probe.check().await.expect("the probe of each view answers");
    }
    assert_eq!(
        search
            .linked_accounts_of(user.id)
            .await
            .expect("linked accounts through the search view"),
        vec![linked]
    );
    assert_eq!(
        gateway
            .linked_accounts(user.id)
            .await
            .expect("count through the gateway view"),
        1
    );
    assert_eq!(
        realtime
            .push_subscriptions(user.id)
            .await
            .expect("subscriptions through the realtime view")
            .len(),
        1
    );
}

pub(crate) async fn opening_the_same_database_again_keeps_the_schema_and_the_data(
    store: Arc<dyn Store>,
    opener: StoreOpener,
) {
    let user = create_user(&*store, "kept@example.com").await;
    let first_link = store
        .link_telegram_account(
            user.id,
            &telegram_account(42, "Ada"),
            LinkStatus::Connected,
            SEALED,
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
        .link_telegram_account(
            user.id,
            &telegram_account(43, "Grace"),
            LinkStatus::Connecting,
            SEALED,
            now(),
        )
        .await
        .expect("link telegram session after reopening");
    assert_eq!(second_link.session_index, 2, "the index counter survives");
    assert_eq!(
        third.linked_accounts_of(user.id).await.expect("list"),
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
        (alice, telegram_account(1001, "Ada"), LinkStatus::Connected),
        (bob, telegram_account(2001, "Bea"), LinkStatus::Connecting),
        (alice, telegram_account(1002, "Ann"), LinkStatus::LoggedOut),
        (alice, telegram_account(1003, "Amy"), LinkStatus::FloodWait),
        (bob, telegram_account(2002, "Bob"), LinkStatus::Connected),
    ];
    let mut linked = Vec::new();
    for (offset, (user_id, account, status)) in (0i64..).zip(links) {
        let at = start + TimeDelta::seconds(offset);
        let created = store
            .link_telegram_account(user_id, &account, status, SEALED, at)
            .await
            .expect("link telegram session");
        assert_eq!(created.user_id, user_id);
        assert_eq!(created.account, account);
        assert_eq!(created.status, status);
        assert_eq!(created.linked_at, at);
        linked.push(created);
    }
    let indexes: Vec<(Uuid, u32)> = linked
        .iter()
        .map(|each| (each.user_id, each.session_index))
        .collect();
    assert_eq!(
        indexes,
        vec![(alice, 1), (bob, 1), (alice, 2), (alice, 3), (bob, 2)]
    );

    let of = |user_id: Uuid| -> Vec<LinkedAccount> {
        linked
            .iter()
            .filter(|each| each.user_id == user_id)
            .cloned()
            .collect()
    };
    assert_eq!(
        store.linked_accounts_of(alice).await.expect("alice's"),
        of(alice)
    );
    assert_eq!(store.linked_accounts_of(bob).await.expect("bob's"), of(bob));
}

pub(crate) async fn linked_accounts_are_listed_with_their_own_cached_users(store: Arc<dyn Store>) {
    // Arrange: alice links three accounts; the first has its own user cached, the second
    // has it cached only in the third's cache (another account's view of the same
    // person), the third has other users cached but not its own. Bob links one.
    let alice = Uuid::new_v4();
    let bob = Uuid::new_v4();
    let mut linked = Vec::new();
    for (telegram_user_id, name) in [(701, "Ann"), (702, "Ben"), (703, "Cat")] {
        linked.push(
            store
                .link_telegram_account(
                    alice,
                    &telegram_account(telegram_user_id, name),
                    LinkStatus::Connected,
                    SEALED,
                    now(),
                )
                .await
                .expect("link"),
        );
    }
    store
        .link_telegram_account(
            bob,
            &telegram_account(704, "Dan"),
            LinkStatus::Connected,
            SEALED,
            now(),
        )
        .await
        .expect("link bob's");
    let own = |id: i64, name: &str| CachedUser {
        tg_user_id: id,
        first_name: name.to_owned(),
        last_name: String::new(),
        username: String::new(),
        phone: String::new(),
        details: format!("{{\"photo\":{id}}}"),
    };
    let key = |user_id: Uuid, session_index: u32| AccountKey {
        user_id,
        session_index,
    };
    store
        .upsert_users(key(alice, 1), &[own(701, "Ann"), own(702, "Ben")])
        .await
        .expect("first account's cache");
    store
        .upsert_users(key(alice, 3), &[own(702, "Ben"), own(704, "Dan")])
        .await
        .expect("third account's cache");
    store
        .upsert_users(key(bob, 1), &[own(704, "Dan")])
        .await
        .expect("bob's cache");

    // Act
    let listed = store
        .linked_accounts_with_own_users(alice)
        .await
        .expect("list");

    // Assert: the accounts are linked_accounts_of's, in its order, each with its own
    // user from its own cache only.
    assert_eq!(
        listed
            .iter()
            .map(|listed| listed.linked.clone())
            .collect::<Vec<_>>(),
        store.linked_accounts_of(alice).await.expect("linked"),
    );
    assert_eq!(
        listed
            .iter()
            .map(|listed| listed.linked.clone())
            .collect::<Vec<_>>(),
        linked
    );
    assert_eq!(
        listed
            .iter()
            .map(|listed| listed.own_user.clone())
            .collect::<Vec<_>>(),
        vec![Some(own(701, "Ann")), None, None]
    );
    let bobs = store
        .linked_accounts_with_own_users(bob)
        .await
        .expect("bob's list");
    assert_eq!(bobs.len(), 1);
    assert_eq!(bobs[0].own_user, Some(own(704, "Dan")));
    assert!(
        store
            .linked_accounts_with_own_users(Uuid::new_v4())
            .await
            .expect("nobody's")
            .is_empty()
    );
}

pub(crate) async fn a_user_without_telegram_sessions_has_an_empty_list(store: Arc<dyn Store>) {
    store
        .link_telegram_account(
            Uuid::new_v4(),
            &telegram_account(5, "Eve"),
            LinkStatus::Connected,
            SEALED,
            now(),
        )
        .await
        .expect("link someone else's");
    assert_eq!(
        store
            .linked_accounts_of(Uuid::new_v4())
            .await
            .expect("list"),
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
                .link_telegram_account(user_id, account, LinkStatus::Connected, SEALED, at)
                .await
                .expect("link"),
        );
    }
    let listed = store.linked_accounts_of(user_id).await.expect("list");
    assert_eq!(listed, linked);
    let listed_accounts: Vec<TelegramAccount> =
        listed.into_iter().map(|linked| linked.account).collect();
    assert_eq!(listed_accounts, accounts);
}

pub(crate) async fn concurrent_links_of_one_user_get_distinct_indexes(store: Arc<dyn Store>) {
    let user_id = Uuid::new_v4();
    let tasks: Vec<_> = (1..=6i64)
        .map(|n| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .link_telegram_account(
                        user_id,
                        &telegram_account(n, "Con"),
                        LinkStatus::Connecting,
                        SEALED,
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
        .linked_accounts_of(user_id)
        .await
        .expect("list")
        .iter()
        .map(|linked| linked.session_index)
        .collect();
    assert_eq!(listed, indexes);
}

pub(crate) async fn a_phone_is_linked_once_per_user_but_other_users_may_link_it(
    store: Arc<dyn Store>,
) {
    let alice = Uuid::new_v4();
    let bob = Uuid::new_v4();
    let account = telegram_account(77, "Dup");
    store
        .link_telegram_account(alice, &account, LinkStatus::Connected, SEALED, now())
        .await
        .expect("first link");
    let again = store
        .link_telegram_account(alice, &account, LinkStatus::Connected, SEALED, now())
        .await;
    assert!(
        matches!(again, Err(StoreError::Conflict("telegram_sessions.phone"))),
        "{again:?}"
    );
    let bobs = store
        .link_telegram_account(bob, &account, LinkStatus::Connected, SEALED, now())
        .await
        .expect("another user links the same account");
    assert_eq!(bobs.session_index, 1);
    assert_eq!(
        store.linked_accounts_of(alice).await.expect("list").len(),
        1
    );
}

pub(crate) async fn a_hosted_session_carries_its_sealed_blob_shard_and_status(
    store: Arc<dyn Store>,
) {
    let user_id = Uuid::new_v4();
    let linked = store
        .link_telegram_account(
            user_id,
            &telegram_account(501, "Host"),
            LinkStatus::Connected,
            SEALED,
            now(),
        )
        .await
        .expect("link");
    let hosted = store
        .hosted_account(user_id, linked.session_index)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(hosted.linked, linked);
    assert_eq!(hosted.sealed_session.as_deref(), Some(SEALED));
    assert_eq!(hosted.shard, shard_of(user_id, linked.session_index));

    let newer: &[u8] = b"\x01newer-state";
    assert!(
        store
            .save_sealed_session(user_id, 1, Some(newer))
            .await
            .expect("save")
    );
    assert!(
        store
            .set_link_status(user_id, 1, LinkStatus::FloodWait, now())
            .await
            .expect("status")
    );
    let hosted = store
        .hosted_account(user_id, 1)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(hosted.sealed_session.as_deref(), Some(newer));
    assert_eq!(hosted.linked.status, LinkStatus::FloodWait);

    assert!(
        store
            .save_sealed_session(user_id, 1, None)
            .await
            .expect("erase")
    );
    let hosted = store
        .hosted_account(user_id, 1)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(hosted.sealed_session, None, "the keys are erased");

    assert!(
        !store
            .save_sealed_session(user_id, 9, Some(newer))
            .await
            .expect("save unknown")
    );
    assert!(
        !store
            .set_link_status(user_id, 9, LinkStatus::Connected, now())
            .await
            .expect("status unknown")
    );
    assert_eq!(store.hosted_account(user_id, 9).await.expect("read"), None);
}

pub(crate) async fn hosted_sessions_are_selected_by_shard(store: Arc<dyn Store>) {
    let mut by_shard: std::collections::HashMap<u16, Vec<(Uuid, u32)>> =
        std::collections::HashMap::new();
    for n in 0..12_i64 {
        let user_id = Uuid::new_v4();
        let created = store
            .link_telegram_account(
                user_id,
                &telegram_account(900 + n, "Shard"),
                LinkStatus::Connecting,
                SEALED,
                now(),
            )
            .await
            .expect("link");
        by_shard
            .entry(shard_of(user_id, created.session_index))
            .or_default()
            .push((user_id, created.session_index));
    }
    let some_shards: Vec<u16> = by_shard.keys().copied().take(3).collect();
    let mut expected: Vec<(Uuid, u32)> = some_shards
        .iter()
        .flat_map(|shard| by_shard[shard].clone())
        .collect();
    expected.sort();
    let mut hosted: Vec<(Uuid, u32)> = store
        .hosted_accounts_of(&some_shards)
        .await
        .expect("hosted")
        .into_iter()
        .map(|hosted| {
            assert!(some_shards.contains(&hosted.shard));
            (hosted.linked.user_id, hosted.linked.session_index)
        })
        .collect();
    hosted.sort();
    assert_eq!(hosted, expected);
    assert!(
        store
            .hosted_accounts_of(&[])
            .await
            .expect("none")
            .is_empty()
    );
}

pub(crate) async fn an_unlinked_index_is_never_given_out_again(store: Arc<dyn Store>) {
    let user_id = Uuid::new_v4();
    for n in 1..=2_i64 {
        store
            .link_telegram_account(
                user_id,
                &telegram_account(600 + n, "Idx"),
                LinkStatus::Connected,
                SEALED,
                now(),
            )
            .await
            .expect("link");
    }
    assert!(
        store
            .unlink_telegram_account(user_id, 2)
            .await
            .expect("unlink")
    );
    assert!(
        !store
            .unlink_telegram_account(user_id, 2)
            .await
            .expect("unlink again")
    );
    let relinked = store
        .link_telegram_account(
            user_id,
            &telegram_account(602, "Idx"),
            LinkStatus::Connected,
            SEALED,
            now(),
        )
        .await
        .expect("link the same phone again");
    assert_eq!(relinked.session_index, 3);
    let indexes: Vec<u32> = store
        .linked_accounts_of(user_id)
        .await
        .expect("list")
        .iter()
        .map(|linked| linked.session_index)
        .collect();
    assert_eq!(indexes, vec![1, 3]);
}

fn pending_login(user_id: Uuid, expires_in: TimeDelta) -> TelegramLogin {
    let created_at = now();
    TelegramLogin {
        login_id: Uuid::new_v4(),
        user_id,
        phone: "9996620001".to_owned(),
        phone_code_hash: "hash-1".to_owned(),
        sealed_session: b"\x01login-session".to_vec(),
        state: LoginState::CodeSent,
        attempts: 0,
        created_at,
        expires_at: created_at + expires_in,
    }
}

pub(crate) async fn a_pending_login_round_trips_counts_attempts_and_advances(
    store: Arc<dyn Store>,
) {
    let login = pending_login(Uuid::new_v4(), TimeDelta::minutes(10));
    store.create_telegram_login(&login).await.expect("create");
    assert_eq!(
        store.telegram_login(login.login_id).await.expect("read"),
        Some(login.clone())
    );
    // Named by its phone: the user's newest login of that phone, nobody else's.
    let mut newer = pending_login(login.user_id, TimeDelta::minutes(10));
    newer.created_at = login.created_at + TimeDelta::seconds(1);
    store.create_telegram_login(&newer).await.expect("create");
    let by_phone = |user_id: Uuid, phone: &'static str| {
        let store = Arc::clone(&store);
        async move {
            store
                .latest_telegram_login_by_phone(user_id, phone)
                .await
                .expect("read")
                .map(|found| found.login_id)
        }
    };
    assert_eq!(
        by_phone(login.user_id, "9996620001").await,
        Some(newer.login_id)
    );
    assert_eq!(by_phone(login.user_id, "9996620002").await, None);
    assert_eq!(by_phone(Uuid::new_v4(), "9996620001").await, None);
    store
        .delete_telegram_login(newer.login_id)
        .await
        .expect("delete");
    assert_eq!(
        by_phone(login.user_id, "9996620001").await,
        Some(login.login_id)
    );
    assert_eq!(
        store
            .record_login_attempt(login.login_id)
            .await
            .expect("attempt"),
        Some(1)
    );
    assert_eq!(
        store
            .record_login_attempt(login.login_id)
            .await
            .expect("attempt"),
        Some(2)
    );
    store
        .advance_telegram_login(login.login_id, LoginState::PasswordNeeded, b"\x01next")
        .await
        .expect("advance");
    let advanced = store
        .telegram_login(login.login_id)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(advanced.state, LoginState::PasswordNeeded);
    assert_eq!(advanced.sealed_session, b"\x01next".to_vec());
    assert_eq!(advanced.attempts, 2);

    store
        .delete_telegram_login(login.login_id)
        .await
        .expect("delete");
    assert_eq!(
        store.telegram_login(login.login_id).await.expect("read"),
        None
    );
    assert_eq!(
        store
            .record_login_attempt(login.login_id)
            .await
            .expect("attempt on a deleted login"),
        None
    );
}

pub(crate) async fn concurrent_login_attempts_are_each_counted(store: Arc<dyn Store>) {
    let login = pending_login(Uuid::new_v4(), TimeDelta::minutes(10));
    store.create_telegram_login(&login).await.expect("create");
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .record_login_attempt(login.login_id)
                    .await
                    .expect("attempt")
                    .expect("exists")
            })
        })
        .collect();
    let mut counts = Vec::new();
    for task in tasks {
        counts.push(task.await.expect("task"));
    }
    counts.sort_unstable();
    assert_eq!(counts, (1..=8).collect::<Vec<u32>>());
}

pub(crate) async fn expired_logins_are_purged_and_live_ones_kept(store: Arc<dyn Store>) {
    let user_id = Uuid::new_v4();
    let expired = pending_login(user_id, TimeDelta::seconds(-1));
    let live = pending_login(user_id, TimeDelta::minutes(5));
    store.create_telegram_login(&expired).await.expect("create");
    store.create_telegram_login(&live).await.expect("create");
    assert_eq!(
        store
            .delete_expired_telegram_logins(now())
            .await
            .expect("purge"),
        1
    );
    assert_eq!(
        store.telegram_login(expired.login_id).await.expect("read"),
        None
    );
    assert!(
        store
            .telegram_login(live.login_id)
            .await
            .expect("read")
            .is_some()
    );
}

// ----------------------------------------------------------------------------------------
// Chat cache

fn account_key() -> AccountKey {
    AccountKey {
        user_id: Uuid::new_v4(),
        session_index: 1,
    }
}

fn profile(chat_id: i64, kind: &str, title: &str) -> ChatProfile {
    ChatProfile {
        chat_id,
        kind: kind.to_owned(),
        title: title.to_owned(),
        username: String::new(),
        photo: None,
        members_count: None,
        is_creator: false,
        is_admin: false,
        has_left: false,
    }
}

fn dialog(top_message_id: i32, top_date: i64, archived: bool) -> DialogState {
    DialogState {
        unread_count: 0,
        read_inbox_max_id: 0,
        read_outbox_max_id: 0,
        top_message_id,
        top_date,
        pinned: false,
        archived,
        muted_until: 0,
    }
}

fn cached_message(chat_id: i64, message_id: i32, date: i64, outgoing: bool) -> CachedMessage {
    CachedMessage {
        chat_id,
        message_id,
        date,
        edit_date: None,
        sender_id: Some(if outgoing { 1 } else { 2 }),
        outgoing,
        text: format!("message {message_id}"),
        reply_to: None,
        views: None,
        service: None,
        details: "{}".to_owned(),
    }
}

pub(crate) async fn the_chat_list_pages_by_activity_with_filters_and_no_repeats(
    store: Arc<dyn Store>,
) {
    let key = account_key();
    let mut dialogs = Vec::new();
    for n in 0..25_i64 {
        let (kind, chat_id) = match n % 4 {
            0 => ("private", 100 + n),
            1 => ("group", -(100 + n)),
            2 => ("supergroup", -1_000_000_000_100 - n),
            _ => ("channel", -1_000_000_000_200 - n),
        };
        // Two chats share each date: the chat id breaks the tie.
        dialogs.push((
            profile(chat_id, kind, &format!("chat {n}")),
            dialog(
                i32::try_from(n).expect("small"),
                1_700_000_000 + n / 2,
                n % 5 == 0,
            ),
        ));
    }
    store.upsert_dialogs(key, &dialogs).await.expect("upsert");
    // A chat only mentioned somewhere is not in the list.
    store
        .upsert_chat_profiles(key, &[profile(999, "private", "stranger")])
        .await
        .expect("profile");

    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_chats(
                key,
                &ChatListQuery {
                    after,
                    limit: 4,
                    ..ChatListQuery::default()
                },
            )
            .await
            .expect("page");
        if page.is_empty() {
            break;
        }
        let last = page.last().expect("non-empty");
        let last_dialog = last.dialog.as_ref().expect("listed chats have a dialog");
        after = Some((last_dialog.top_date, last.profile.chat_id));
        seen.extend(page.iter().map(|chat| chat.profile.chat_id));
    }
    let mut expected: Vec<(i64, i64)> = dialogs
        .iter()
        .map(|(profile, dialog)| (dialog.top_date, profile.chat_id))
        .collect();
    expected.sort_by(|a, b| b.cmp(a));
    assert_eq!(
        seen,
        expected.iter().map(|(_, id)| *id).collect::<Vec<_>>(),
        "every chat once, newest activity first"
    );

    let channels = store
        .list_chats(
            key,
            &ChatListQuery {
                kind: Some("channel".into()),
                limit: 100,
                ..ChatListQuery::default()
            },
        )
        .await
        .expect("channels");
    assert_eq!(channels.len(), 6);
    assert!(channels.iter().all(|chat| chat.profile.kind == "channel"));
    let archived = store
        .list_chats(
            key,
            &ChatListQuery {
                archived: Some(true),
                limit: 100,
                ..ChatListQuery::default()
            },
        )
        .await
        .expect("archived");
    assert_eq!(archived.len(), 5);
    let stranger = store
        .cached_chat(key, 999)
        .await
        .expect("read")
        .expect("known");
    assert_eq!(stranger.dialog, None);
    assert_eq!(stranger.profile.title, "stranger");
    // Another account sees nothing of this one's cache.
    assert!(
        store
            .list_chats(
                account_key(),
                &ChatListQuery {
                    limit: 10,
                    ..ChatListQuery::default()
                }
            )
            .await
            .expect("other")
            .is_empty()
    );
}

/// A cached user `name` (its username the name in lower case) with `id` in its details.
fn named_user(id: i64, name: &str) -> CachedUser {
    CachedUser {
        tg_user_id: id,
        first_name: name.to_owned(),
        last_name: String::new(),
        username: name.to_lowercase(),
        phone: String::new(),
        details: format!("{{\"n\":{id}}}"),
    }
}

pub(crate) async fn a_chat_list_page_carries_each_chats_newest_message_and_the_users_it_shows(
    store: Arc<dyn Store>,
) {
    let key = account_key();
    let channel = -1_000_000_000_200;
    let user = named_user;
    // Dave (9) is cached but named by no chat of the page; 6 and 1 (the account) are not
    // cached at all.
    store
        .upsert_users(key, &[user(5, "Bob"), user(7, "Carol"), user(9, "Dave")])
        .await
        .expect("users");
    store
        .upsert_dialogs(
            key,
            &[
                (profile(5, "private", "Bob"), dialog(12, 1_600, false)),
                (profile(-100, "group", "Friends"), dialog(3, 1_500, false)),
                (
                    profile(-101, "group", "Bob's group"),
                    dialog(8, 1_400, false),
                ),
                (profile(channel, "channel", "News"), dialog(4, 1_300, true)),
                // Its newest message is not cached, nor its user.
                (profile(6, "private", "Eve"), dialog(20, 1_200, false)),
                // No message at all.
                (profile(-102, "group", "Empty"), dialog(0, 1_100, false)),
            ],
        )
        .await
        .expect("dialogs");
    let message = |chat_id: i64, message_id: i32, date: i64, sender: i64| CachedMessage {
        sender_id: Some(sender),
        details: format!("{{\"m\":{message_id}}}"),
        ..cached_message(chat_id, message_id, date, sender == 1)
    };
    let newest = [
        message(5, 12, 1_600, 1),
        message(-100, 3, 1_500, 7),
        message(-101, 8, 1_400, 5),
        message(channel, 4, 1_300, channel),
    ];
    store
        .upsert_messages(
            key,
            &[newest.to_vec(), vec![message(5, 11, 1_000, 5)]].concat(),
            false,
        )
        .await
        .expect("messages");

    let all = ChatListQuery {
        limit: 10,
        ..ChatListQuery::default()
    };
    let page = store.chat_list_page(key, &all).await.expect("page");
    let listed = store.list_chats(key, &all).await.expect("list");
    assert_eq!(
        page.chats
            .iter()
            .map(|listed| listed.chat.clone())
            .collect::<Vec<_>>(),
        listed,
        "the same chats, in the same order, as the list"
    );
    let tops: Vec<(i64, Option<CachedMessage>)> = page
        .chats
        .iter()
        .map(|listed| (listed.chat.profile.chat_id, listed.top_message.clone()))
        .collect();
    assert_eq!(
        tops,
        vec![
            (5, Some(newest[0].clone())),
            (-100, Some(newest[1].clone())),
            (-101, Some(newest[2].clone())),
            (channel, Some(newest[3].clone())),
            (6, None),
            (-102, None),
        ]
    );
    let mut users = page.users.clone();
    users.sort_by_key(|user| user.tg_user_id);
    assert_eq!(
        users,
        vec![user(5, "Bob"), user(7, "Carol")],
        "Bob as a chat's other user and as a sender, once; Carol as a sender"
    );

    // Filters and the cursor are the list's.
    let groups = store
        .chat_list_page(
            key,
            &ChatListQuery {
                kind: Some("group".into()),
                limit: 1,
                after: Some((1_500, -100)),
                ..ChatListQuery::default()
            },
        )
        .await
        .expect("groups");
    assert_eq!(groups.chats.len(), 1);
    assert_eq!(groups.chats[0].chat.profile.chat_id, -101);
    assert_eq!(groups.users, vec![user(5, "Bob")]);
    let archived = store
        .chat_list_page(
            key,
            &ChatListQuery {
                archived: Some(true),
                ..all.clone()
            },
        )
        .await
        .expect("archived");
    assert_eq!(archived.chats.len(), 1);
    assert_eq!(archived.users, Vec::new(), "a channel posting is no user");
    // Another account sees nothing of this one's cache.
    let other = store
        .chat_list_page(account_key(), &all)
        .await
        .expect("other");
    assert!(other.chats.is_empty() && other.users.is_empty());
}

pub(crate) async fn a_chat_the_account_left_is_not_listed_but_still_known(store: Arc<dyn Store>) {
    let key = account_key();
    store
        .upsert_dialogs(
            key,
            &[
                (
                    profile(-1_000_000_000_001, "supergroup", "Stays"),
                    dialog(1, 1_000, false),
                ),
                (
                    profile(-1_000_000_000_002, "channel", "Left"),
                    dialog(2, 2_000, false),
                ),
            ],
        )
        .await
        .expect("upsert");
    let left = ChatProfile {
        has_left: true,
        ..profile(-1_000_000_000_002, "channel", "Left")
    };
    store
        .upsert_chat_profiles(key, &[left])
        .await
        .expect("left");

    let listed = store
        .list_chats(
            key,
            &ChatListQuery {
                limit: 10,
                ..ChatListQuery::default()
            },
        )
        .await
        .expect("list");
    assert_eq!(
        listed
            .iter()
            .map(|chat| chat.profile.chat_id)
            .collect::<Vec<_>>(),
        vec![-1_000_000_000_001]
    );
    let known = store
        .cached_chat(key, -1_000_000_000_002)
        .await
        .expect("read")
        .expect("still known");
    assert!(known.profile.has_left);

    // Added again: listed again.
    store
        .upsert_chat_profiles(key, &[profile(-1_000_000_000_002, "channel", "Left")])
        .await
        .expect("back");
    let listed = store
        .list_chats(
            key,
            &ChatListQuery {
                limit: 10,
                ..ChatListQuery::default()
            },
        )
        .await
        .expect("list");
    assert_eq!(listed.len(), 2);
}

pub(crate) async fn new_messages_move_the_chat_up_and_count_unread_once(store: Arc<dyn Store>) {
    let key = account_key();
    store
        .upsert_dialogs(
            key,
            &[(profile(5, "private", "Bob"), dialog(10, 1_000, false))],
        )
        .await
        .expect("dialog");
    store.set_read_inbox(key, 5, 10, 0).await.expect("read");

    let incoming = cached_message(5, 11, 1_100, false);
    let outgoing = cached_message(5, 12, 1_200, true);
    let inserted = store
        .upsert_messages(key, &[incoming.clone(), outgoing.clone()], true)
        .await
        .expect("upsert");
    assert_eq!(inserted, 2);
    // The same messages again (a replayed update) count nothing twice.
    let inserted = store
        .upsert_messages(key, std::slice::from_ref(&incoming), true)
        .await
        .expect("again");
    assert_eq!(inserted, 0);
    // An older message (a history page) does not move the top.
    store
        .upsert_messages(key, &[cached_message(5, 3, 300, false)], false)
        .await
        .expect("old");
    let chat = store
        .cached_chat(key, 5)
        .await
        .expect("read")
        .expect("chat");
    let dialog = chat.dialog.expect("listed");
    assert_eq!(dialog.top_message_id, 12);
    assert_eq!(dialog.top_date, 1_200);
    assert_eq!(dialog.unread_count, 1, "only the new incoming message");

    // An edit replaces the text and keeps the rest.
    let mut edited = incoming.clone();
    edited.text = "edited".into();
    edited.edit_date = Some(1_150);
    store
        .upsert_messages(key, &[edited.clone()], false)
        .await
        .expect("edit");
    let stored = store
        .cached_messages_by_id(key, 5, &[11])
        .await
        .expect("by id");
    assert_eq!(stored, vec![edited]);

    // Messages are found across chats by (chat, id).
    let mut at = store
        .cached_messages_at(key, &[(5, 12), (5, 11), (6, 1)])
        .await
        .expect("at");
    at.sort_by_key(|message| message.message_id);
    assert_eq!(
        at.iter()
            .map(|message| message.message_id)
            .collect::<Vec<_>>(),
        vec![11, 12]
    );

    // A message in a chat not known before puts that chat in the list.
    store
        .upsert_messages(key, &[cached_message(77, 1, 2_000, false)], true)
        .await
        .expect("new chat");
    let new_chat = store
        .cached_chat(key, 77)
        .await
        .expect("read")
        .expect("chat");
    assert_eq!(new_chat.profile.kind, "private");
    assert_eq!(new_chat.dialog.expect("listed").unread_count, 1);

    store.set_read_inbox(key, 5, 12, 0).await.expect("read all");
    store
        .set_read_inbox(key, 5, 4, 0)
        .await
        .expect("an older mark");
    let dialog = store
        .cached_chat(key, 5)
        .await
        .expect("read")
        .expect("chat")
        .dialog
        .expect("listed");
    assert_eq!(
        dialog.read_inbox_max_id, 12,
        "the read mark never moves back"
    );
    assert_eq!(dialog.unread_count, 0);
    store.set_read_outbox(key, 5, 12).await.expect("peer read");
    store.set_read_outbox(key, 5, 2).await.expect("older");
    let dialog = store
        .cached_chat(key, 5)
        .await
        .expect("read")
        .expect("chat")
        .dialog
        .expect("listed");
    assert_eq!(dialog.read_outbox_max_id, 12);
}

pub(crate) async fn history_pages_by_id_and_the_date_filter_is_exact_at_its_edges(
    store: Arc<dyn Store>,
) {
    let key = account_key();
    let chat = -1_000_000_000_042;
    store
        .upsert_chat_profiles(key, &[profile(chat, "supergroup", "Lounge")])
        .await
        .expect("profile");
    let messages: Vec<CachedMessage> = (1..=30)
        .map(|id| cached_message(chat, id, 10_000 + i64::from(id) * 10, id % 2 == 0))
        .collect();
    store
        .upsert_messages(key, &messages, false)
        .await
        .expect("upsert");

    let ids = |page: &[CachedMessage]| page.iter().map(|m| m.message_id).collect::<Vec<_>>();
    let newest = store
        .cached_messages(
            key,
            chat,
            &HistoryQuery {
                limit: 5,
                ..HistoryQuery::default()
            },
        )
        .await
        .expect("newest");
    assert_eq!(ids(&newest), vec![30, 29, 28, 27, 26]);
    let older = store
        .cached_messages(
            key,
            chat,
            &HistoryQuery {
                before_id: Some(26),
                limit: 5,
                ..HistoryQuery::default()
            },
        )
        .await
        .expect("older");
    assert_eq!(ids(&older), vec![25, 24, 23, 22, 21]);
    let newer = store
        .cached_messages(
            key,
            chat,
            &HistoryQuery {
                after_id: Some(10),
                limit: 3,
                oldest_first: true,
                ..HistoryQuery::default()
            },
        )
        .await
        .expect("newer");
    assert_eq!(
        ids(&newer),
        vec![13, 12, 11],
        "the next newer page, newest first"
    );

    // Message 5 is at 10_050, message 8 at 10_080: from is inclusive, to exclusive.
    let day = store
        .cached_messages(
            key,
            chat,
            &HistoryQuery {
                from_date: Some(10_050),
                to_date: Some(10_080),
                limit: 100,
                ..HistoryQuery::default()
            },
        )
        .await
        .expect("range");
    assert_eq!(ids(&day), vec![7, 6, 5]);
}

pub(crate) async fn a_history_page_reads_as_the_chat_its_messages_and_their_senders_do(
    store: Arc<dyn Store>,
) {
    // Arrange: a group with messages from Bob (5, cached), Carol (7, cached), the account
    // (1, not cached) and a channel posting in it; a channel with its own posts; a chat
    // with no message; and Bob cached under another account too.
    let key = account_key();
    let group = -1_000_000_000_300;
    let channel = -1_000_000_000_301;
    let empty = -1_000_000_000_302;
    let user = named_user;
    store
        .upsert_users(key, &[user(5, "Bob"), user(7, "Carol"), user(9, "Dave")])
        .await
        .expect("users");
    let other = AccountKey {
        session_index: 2,
        ..key
    };
    store
        .upsert_users(other, &[user(2, "Elsewhere")])
        .await
        .expect("another account's user");
    store
        .upsert_chat_profiles(
            key,
            &[
                profile(group, "supergroup", "Lounge"),
                profile(channel, "channel", "News"),
                profile(empty, "supergroup", "Quiet"),
            ],
        )
        .await
        .expect("profiles");
    let sender_of = |id: i32| match id % 4 {
        0 => 5,
        1 => 7,
        2 => 1,
        _ => channel,
    };
    let message = |chat_id: i64, id: i32, sender: i64| CachedMessage {
        sender_id: Some(sender),
        details: format!("{{\"m\":{id}}}"),
        ..cached_message(chat_id, id, 10_000 + i64::from(id) * 10, sender == 1)
    };
    let mut messages: Vec<CachedMessage> = (1..=30)
        .map(|id| message(group, id, sender_of(id)))
        .collect();
    messages.extend((1..=3).map(|id| message(channel, id, channel)));
    // No sender at all (a service message of an anonymous origin).
    messages.push(CachedMessage {
        sender_id: None,
        ..cached_message(channel, 4, 20_000, false)
    });
    store
        .upsert_messages(key, &messages, false)
        .await
        .expect("messages");
    store
        .set_history_floor(key, group, 3, false)
        .await
        .expect("floor");
    store
        .upsert_messages(other, &[message(group, 40, 2)], false)
        .await
        .expect("another account's message");

    // Act and assert: for each query, the page is what the separate reads give.
    let queries = [
        HistoryQuery {
            limit: 10,
            ..HistoryQuery::default()
        },
        HistoryQuery {
            before_id: Some(12),
            limit: 4,
            ..HistoryQuery::default()
        },
        HistoryQuery {
            after_id: Some(10),
            limit: 3,
            oldest_first: true,
            ..HistoryQuery::default()
        },
        HistoryQuery {
            from_date: Some(10_050),
            to_date: Some(10_080),
            limit: 100,
            ..HistoryQuery::default()
        },
        // Nothing in range.
        HistoryQuery {
            before_id: Some(1),
            limit: 10,
            ..HistoryQuery::default()
        },
        HistoryQuery {
            limit: 1,
            ..HistoryQuery::default()
        },
    ];
    for chat_id in [group, channel, empty] {
        for query in &queries {
            let page = store
                .history_page(key, chat_id, query)
                .await
                .expect("page")
                .expect("the chat is cached");
            let chat = store
                .cached_chat(key, chat_id)
                .await
                .expect("chat")
                .expect("cached");
            let messages = store
                .cached_messages(key, chat_id, query)
                .await
                .expect("messages");
            let mut sender_ids: Vec<i64> = messages
                .iter()
                .filter_map(|message| message.sender_id)
                .filter(|id| *id > 0)
                .collect();
            sender_ids.sort_unstable();
            sender_ids.dedup();
            let users = store.cached_users(key, &sender_ids).await.expect("users");
            assert_eq!(page.chat, chat, "{chat_id} {query:?}: the chat");
            assert_eq!(page.messages, messages, "{chat_id} {query:?}: the messages");
            let mut senders = page.senders.clone();
            senders.sort_by_key(|user| user.tg_user_id);
            assert_eq!(senders, users, "{chat_id} {query:?}: each sender once");
        }
    }
    let newest = store
        .history_page(key, group, &queries[0])
        .await
        .expect("page")
        .expect("cached");
    assert_eq!(
        newest
            .messages
            .iter()
            .map(|message| message.message_id)
            .collect::<Vec<_>>(),
        (21..=30).rev().collect::<Vec<_>>(),
        "newest first"
    );
    assert_eq!(newest.chat.history_floor, Some(3));
    let mut names: Vec<&str> = newest
        .senders
        .iter()
        .map(|user| user.first_name.as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(
        names,
        vec!["Bob", "Carol"],
        "the account (not cached), the channel (no user) and Dave (sent nothing) are not senders"
    );
    let quiet = store
        .history_page(key, empty, &queries[0])
        .await
        .expect("page")
        .expect("a chat without messages is still read");
    assert_eq!(quiet.chat.profile.title, "Quiet");
    assert!(quiet.messages.is_empty() && quiet.senders.is_empty());

    // A chat the account has not cached is none, whatever another account has.
    assert_eq!(
        store
            .history_page(key, -1_000_000_000_399, &queries[0])
            .await
            .expect("unknown chat"),
        None
    );
    let elsewhere = store
        .history_page(other, group, &queries[0])
        .await
        .expect("the other account's")
        .expect("cached there");
    assert_eq!(
        elsewhere
            .messages
            .iter()
            .map(|message| message.message_id)
            .collect::<Vec<_>>(),
        vec![40]
    );
    assert_eq!(elsewhere.senders, vec![user(2, "Elsewhere")]);
    assert_eq!(
        store
            .history_page(
                AccountKey {
                    session_index: 3,
                    ..key
                },
                group,
                &queries[0]
            )
            .await
            .expect("a third account"),
        None
    );
}

pub(crate) async fn deletions_without_a_chat_spare_channels_and_move_the_top(
    store: Arc<dyn Store>,
) {
    let key = account_key();
    let channel = -1_000_000_000_007;
    store
        .upsert_messages(
            key,
            &[
                cached_message(5, 1, 100, false),
                cached_message(5, 2, 200, false),
                cached_message(channel, 2, 250, false),
            ],
            false,
        )
        .await
        .expect("upsert");

    let chats = store
        .delete_messages(key, None, &[2])
        .await
        .expect("delete");

    assert_eq!(chats, vec![5]);
    let chat = store
        .cached_chat(key, 5)
        .await
        .expect("read")
        .expect("chat");
    assert_eq!(chat.dialog.expect("listed").top_message_id, 1);
    assert_eq!(
        store
            .cached_messages_by_id(key, channel, &[2])
            .await
            .expect("channel")
            .len(),
        1,
        "channel ids are per channel"
    );
    let chats = store
        .delete_messages(key, Some(channel), &[2])
        .await
        .expect("delete in channel");
    assert_eq!(chats, vec![channel]);
    assert!(
        store
            .cached_messages_by_id(key, channel, &[2])
            .await
            .expect("gone")
            .is_empty()
    );
}

pub(crate) async fn an_accounts_cached_messages_are_read_in_pages_and_its_chats_by_id(
    store: Arc<dyn Store>,
) {
    let key = account_key();
    let other = account_key();
    let chats = [-1_000_000_000_077_i64, -55, 42];
    let mut messages = Vec::new();
    for chat in chats {
        for id in [3, 1, 2] {
            messages.push(cached_message(chat, id, 1_000 + i64::from(id), false));
        }
    }
    store
        .upsert_messages(key, &messages, false)
        .await
        .expect("upsert");
    store
        .upsert_messages(other, &[cached_message(7, 1, 1, false)], false)
        .await
        .expect("another account's");

    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .cached_messages_page(key, after, 4)
            .await
            .expect("page");
        assert!(page.len() <= 4);
        let Some(last) = page.last() else { break };
        after = Some((last.chat_id, last.message_id));
        seen.extend(page.iter().map(|m| (m.chat_id, m.message_id)));
    }
    let mut expected: Vec<(i64, i32)> = chats
        .iter()
        .flat_map(|chat| [1, 2, 3].map(|id| (*chat, id)))
        .collect();
    expected.sort_unstable();
    assert_eq!(seen, expected, "every message once, in (chat, id) order");
    assert!(
        store
            .cached_messages_page(key, Some((42, 3)), 10)
            .await
            .expect("past the end")
            .is_empty()
    );
    let first = store
        .cached_messages_page(key, None, 1)
        .await
        .expect("first");
    assert_eq!(first[0].text, "message 1", "the whole record comes back");

    let chats = store
        .cached_chats(key, &[42, -55, 999, -1_000_000_000_077])
        .await
        .expect("chats by id");
    let ids: Vec<i64> = chats.iter().map(|chat| chat.profile.chat_id).collect();
    assert_eq!(
        ids,
        vec![-1_000_000_000_077, -55, 42],
        "those cached, by id"
    );
    assert!(
        store
            .cached_chats(other, &[42, -55])
            .await
            .expect("another account's")
            .is_empty()
    );
}

pub(crate) async fn the_history_floor_only_moves_down_and_completeness_sticks(
    store: Arc<dyn Store>,
) {
    let key = account_key();
    store
        .upsert_chat_profiles(key, &[profile(9, "private", "Floor")])
        .await
        .expect("profile");
    store
        .set_history_floor(key, 9, 50, false)
        .await
        .expect("floor");
    store
        .set_history_floor(key, 9, 70, false)
        .await
        .expect("higher");
    let chat = store
        .cached_chat(key, 9)
        .await
        .expect("read")
        .expect("chat");
    assert_eq!(chat.history_floor, Some(50));
    assert!(!chat.history_complete);
    store
        .set_history_floor(key, 9, 1, true)
        .await
        .expect("start");
    store
        .set_history_floor(key, 9, 40, false)
        .await
        .expect("again");
    let chat = store
        .cached_chat(key, 9)
        .await
        .expect("read")
        .expect("chat");
    assert_eq!(chat.history_floor, Some(1));
    assert!(chat.history_complete);
}

pub(crate) async fn messages_from_updates_bring_the_history_floor_down_as_they_are_stored(
    store: Arc<dyn Store>,
) {
    let key = account_key();
    // A chat first met through an update: its floor is that message.
    store
        .upsert_messages(key, &[cached_message(9, 60, 600, false)], true)
        .await
        .expect("new chat");
    let chat = store
        .cached_chat(key, 9)
        .await
        .expect("read")
        .expect("chat");
    assert_eq!(chat.history_floor, Some(60));
    // Newer updates leave it; an older one (a gap caught up) brings it down.
    store
        .upsert_messages(key, &[cached_message(9, 61, 610, true)], true)
        .await
        .expect("newer");
    store
        .upsert_messages(key, &[cached_message(9, 55, 550, false)], true)
        .await
        .expect("older");
    let chat = store
        .cached_chat(key, 9)
        .await
        .expect("read")
        .expect("chat");
    assert_eq!(chat.history_floor, Some(55));
    assert!(!chat.history_complete);
    // Fetched messages (a history page) never move it.
    store
        .upsert_messages(key, &[cached_message(9, 3, 30, false)], false)
        .await
        .expect("fetched");
    store
        .upsert_messages(key, &[cached_message(10, 7, 70, false)], false)
        .await
        .expect("fetched, new chat");
    let chat = store
        .cached_chat(key, 9)
        .await
        .expect("read")
        .expect("chat");
    assert_eq!(chat.history_floor, Some(55));
    let other = store
        .cached_chat(key, 10)
        .await
        .expect("read")
        .expect("chat");
    assert_eq!(other.history_floor, None);
}

pub(crate) async fn users_are_upserted_keeping_a_known_phone_and_caches_clear(
    store: Arc<dyn Store>,
) {
    let key = account_key();
    let user = CachedUser {
        tg_user_id: 7_000_000_000_001,
        first_name: "Zoë".into(),
        last_name: String::new(),
        username: "zoe".into(),
        phone: "9996620001".into(),
        details: "{\"is_contact\":true}".into(),
    };
    store
        .upsert_users(key, std::slice::from_ref(&user))
        .await
        .expect("user");
    let renamed = CachedUser {
        first_name: "Zoe".into(),
        phone: String::new(),
        ..user.clone()
    };
    store.upsert_users(key, &[renamed]).await.expect("renamed");
    let users = store
        .cached_users(key, &[user.tg_user_id, 1])
        .await
        .expect("users");
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].first_name, "Zoe");
    assert_eq!(
        users[0].phone, "9996620001",
        "a hidden phone keeps the known one"
    );

    store
        .upsert_messages(key, &[cached_message(5, 1, 100, false)], true)
        .await
        .expect("message");
    store.clear_cache(key).await.expect("clear");
    assert!(
        store
            .cached_users(key, &[user.tg_user_id])
            .await
            .expect("users")
            .is_empty()
    );
    assert_eq!(store.cached_chat(key, 5).await.expect("chat"), None);
    assert!(
        store
            .cached_messages(
                key,
                5,
                &HistoryQuery {
                    limit: 10,
                    ..HistoryQuery::default()
                }
            )
            .await
            .expect("messages")
            .is_empty()
    );
}

// ----------------------------------------------------------------------------------------
// Send jobs

fn new_job(key: AccountKey, client_message_id: Option<&str>, text: &str) -> NewSendJob {
    NewSendJob {
        job_id: Uuid::new_v4(),
        key,
        client_message_id: client_message_id.map(str::to_owned),
        chat_id: 42,
        text: text.to_owned(),
        reply_to: None,
        silent: false,
        random_id: i64::from_le_bytes(Uuid::new_v4().as_bytes()[..8].try_into().expect("8")),
        created_at: now(),
        media: None,
    }
}

pub(crate) async fn a_media_job_keeps_its_files(store: Arc<dyn Store>) {
    let key = account_key();
    let media = talkapp_store::JobMedia {
        send_as: "photo".into(),
        files: vec![talkapp_store::JobFile {
            file_id: Uuid::new_v4(),
            sha256: "ab".repeat(32),
            size: 1234,
            mime: "image/png".into(),
            file_name: "a.png".into(),
            width: Some(10),
            height: Some(20),
            duration_ms: None,
            waveform: Some(vec![1, 2, 31]),
            has_preview: true,
        }],
    };
    let job = NewSendJob {
        media: Some(media.clone()),
        ..new_job(key, Some("media-1"), "a caption")
    };

    let created = store.create_send_job(&job).await.expect("create");
    let read = store
        .send_job(key, job.job_id)
        .await
        .expect("read")
        .expect("exists");

    assert_eq!(created.job().job.media.as_ref(), Some(&media));
    assert_eq!(read.job.media, Some(media));
    let text_job = store
        .create_send_job(&new_job(key, Some("text-1"), "hi"))
        .await
        .expect("create");
    assert_eq!(text_job.job().job.media, None);
}

pub(crate) async fn a_repeated_idempotency_key_returns_the_first_job(store: Arc<dyn Store>) {
    let key = account_key();
    let first = store
        .create_send_job(&new_job(key, Some("client-1"), "hello"))
        .await
        .expect("create");
    let JobCreated::New(first) = first else {
        panic!("the first is new");
    };
    assert_eq!(first.status, JobStatus::Queued);
    assert_eq!(first.attempts, 0);

    let again = store
        .create_send_job(&new_job(key, Some("client-1"), "hello again"))
        .await
        .expect("create again");
    assert_eq!(again, JobCreated::Existing(first.clone()));

    let other_session = AccountKey {
        session_index: 2,
        ..key
    };
    let elsewhere = store
        .create_send_job(&new_job(other_session, Some("client-1"), "hello"))
        .await
        .expect("create elsewhere");
    assert!(matches!(elsewhere, JobCreated::New(_)));
    let without_key = store
        .create_send_job(&new_job(key, None, "no key"))
        .await
        .expect("create without key");
    assert!(matches!(without_key, JobCreated::New(_)));
    assert_eq!(
        store
            .send_job(key, first.job.job_id)
            .await
            .expect("read")
            .expect("exists"),
        first
    );
    assert_eq!(
        store
            .send_job(other_session, first.job.job_id)
            .await
            .expect("read"),
        None,
        "a job is found through its own account only"
    );
}

pub(crate) async fn concurrent_creates_with_one_idempotency_key_make_one_job(
    store: Arc<dyn Store>,
) {
    let key = account_key();
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .create_send_job(&new_job(key, Some("same"), "once"))
                    .await
                    .expect("create")
            })
        })
        .collect();
    let mut new = 0;
    let mut ids = std::collections::HashSet::new();
    for task in tasks {
        let created = task.await.expect("task");
        if matches!(created, JobCreated::New(_)) {
            new += 1;
        }
        ids.insert(created.job().job.job_id);
    }
    assert_eq!(new, 1);
    assert_eq!(ids.len(), 1);
}

pub(crate) async fn a_job_moves_from_queued_to_sent_or_failed_and_then_stays(
    store: Arc<dyn Store>,
) {
    let key = account_key();
    let mut jobs = Vec::new();
    for text in ["one", "two", "three"] {
        jobs.push(
            store
                .create_send_job(&new_job(key, None, text))
                .await
                .expect("create")
                .job()
                .clone(),
        );
    }
    let pending = store.pending_jobs(key, 10).await.expect("pending");
    assert_eq!(
        pending
            .iter()
            .map(|job| job.job.text.as_str())
            .collect::<Vec<_>>(),
        vec!["one", "two", "three"],
        "in the order they were asked for"
    );
    assert!(pending.windows(2).all(|pair| pair[0].seq < pair[1].seq));

    let one = jobs[0].job.job_id;
    let claimed = store
        .claim_job(one, now())
        .await
        .expect("claim")
        .expect("claimable");
    assert_eq!(claimed.status, JobStatus::Sending);
    assert_eq!(claimed.attempts, 1);
    // Its sender died mid-send: the next owner claims it again.
    let again = store
        .claim_job(one, now())
        .await
        .expect("claim")
        .expect("claimable");
    assert_eq!(again.attempts, 2);
    store.requeue_job(one, now()).await.expect("requeue");
    assert_eq!(
        store
            .send_job(key, one)
            .await
            .expect("read")
            .expect("job")
            .status,
        JobStatus::Queued
    );
    store.claim_job(one, now()).await.expect("claim");
    store
        .complete_job(one, 77, 1_700_000_000, now())
        .await
        .expect("sent");
    let sent = store.send_job(key, one).await.expect("read").expect("job");
    assert_eq!(sent.status, JobStatus::Sent);
    assert_eq!(sent.message_id, Some(77));
    assert_eq!(sent.sent_date, Some(1_700_000_000));
    assert_eq!(store.claim_job(one, now()).await.expect("claim"), None);
    store.fail_job(one, "late", now()).await.expect("no effect");
    assert_eq!(
        store
            .send_job(key, one)
            .await
            .expect("read")
            .expect("job")
            .status,
        JobStatus::Sent,
        "a final job stays final"
    );

    let two = jobs[1].job.job_id;
    store
        .fail_job(two, "chat_write_forbidden", now())
        .await
        .expect("fail");
    let failed = store.send_job(key, two).await.expect("read").expect("job");
    assert_eq!(failed.status, JobStatus::Failed);
    assert_eq!(failed.failure.as_deref(), Some("chat_write_forbidden"));
    let pending = store.pending_jobs(key, 10).await.expect("pending");
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].job.job_id, jobs[2].job.job_id);
}

pub(crate) async fn sent_jobs_up_to_the_read_mark_become_read(store: Arc<dyn Store>) {
    let key = account_key();
    let mut ids = Vec::new();
    for message_id in [10, 11, 12] {
        let job = store
            .create_send_job(&new_job(key, None, "x"))
            .await
            .expect("create")
            .job()
            .clone();
        store.claim_job(job.job.job_id, now()).await.expect("claim");
        store
            .complete_job(job.job.job_id, message_id, 1, now())
            .await
            .expect("sent");
        ids.push(job.job.job_id);
    }
    let queued = store
        .create_send_job(&new_job(key, None, "still queued"))
        .await
        .expect("create")
        .job()
        .clone();

    let read = store
        .mark_jobs_read(key, 42, 11, now())
        .await
        .expect("read");

    assert_eq!(
        read.iter().map(|job| job.job.job_id).collect::<Vec<_>>(),
        ids[..2].to_vec()
    );
    assert!(read.iter().all(|job| job.status == JobStatus::Read));
    assert_eq!(
        store
            .send_job(key, ids[2])
            .await
            .expect("read")
            .expect("job")
            .status,
        JobStatus::Sent
    );
    assert_eq!(
        store
            .send_job(key, queued.job.job_id)
            .await
            .expect("read")
            .expect("job")
            .status,
        JobStatus::Queued
    );
    assert!(
        store
            .mark_jobs_read(key, 43, 100, now())
            .await
            .expect("other chat")
            .is_empty()
    );
}

pub(crate) async fn a_job_in_a_known_chat_is_made_only_when_the_cache_has_the_chat(
    store: Arc<dyn Store>,
) {
    let key = account_key();
    let mut job = new_job(key, Some("known-1"), "hello");
    job.chat_id = 4_242;
    assert_eq!(
        store
            .create_send_job_in_known_chat(&job)
            .await
            .expect("create"),
        None,
        "the cache does not know chat 4242"
    );
    assert!(
        store
            .pending_jobs(key, 10)
            .await
            .expect("pending")
            .is_empty()
    );
    store
        .upsert_chat_profiles(key, &[profile(4_242, "private", "Known")])
        .await
        .expect("profile");
    let Some(JobCreated::New(first)) = store
        .create_send_job_in_known_chat(&job)
        .await
        .expect("create")
    else {
        panic!("a new job in a known chat");
    };
    assert_eq!(first.job.chat_id, 4_242);
    assert_eq!(first.status, JobStatus::Queued);
    let mut again = job.clone();
    again.text = "hello again".into();
    assert_eq!(
        store
            .create_send_job_in_known_chat(&again)
            .await
            .expect("again"),
        Some(JobCreated::Existing(first.clone())),
        "a repeated key answers the first job"
    );
    // A repeated key answers its first job even where the chat is not known (any more).
    let mut elsewhere = new_job(key, Some("known-2"), "first");
    elsewhere.chat_id = 7_777;
    let made = store
        .create_send_job(&elsewhere)
        .await
        .expect("unchecked")
        .job()
        .clone();
    assert_eq!(
        store
            .create_send_job_in_known_chat(&elsewhere)
            .await
            .expect("repeat"),
        Some(JobCreated::Existing(made))
    );
}

pub(crate) async fn an_announced_job_is_claimed_only_when_no_older_job_waits(
    store: Arc<dyn Store>,
) {
    let key = account_key();
    let mut jobs = Vec::new();
    for text in ["first", "second"] {
        jobs.push(
            store
                .create_send_job(&new_job(key, None, text))
                .await
                .expect("create")
                .job()
                .clone(),
        );
    }
    let (first, second) = (jobs[0].job.job_id, jobs[1].job.job_id);
    assert_eq!(
        store
            .claim_job_in_order(key, second, now())
            .await
            .expect("claim"),
        None,
        "the older job goes first"
    );
    assert_eq!(
        store
            .send_job(key, second)
            .await
            .expect("read")
            .expect("job")
            .status,
        JobStatus::Queued,
        "a refused claim changes nothing"
    );
    let other_account = AccountKey {
        session_index: key.session_index + 1,
        ..key
    };
    assert_eq!(
        store
            .claim_job_in_order(other_account, first, now())
            .await
            .expect("claim"),
        None,
        "only the job's own account claims it"
    );
    let claimed = store
        .claim_job_in_order(key, first, now())
        .await
        .expect("claim")
        .expect("the oldest");
    assert_eq!(claimed.status, JobStatus::Sending);
    assert_eq!(claimed.attempts, 1);
    // Claimed again after a crash mid-send: still the oldest, one more attempt.
    let again = store
        .claim_job_in_order(key, first, now())
        .await
        .expect("claim")
        .expect("still the oldest");
    assert_eq!(again.attempts, 2);
    // Its final write answers the job as it now is; a second one finds it final.
    let sent = store
        .complete_job(first, 41, 1_700_000_000, now())
        .await
        .expect("sent")
        .expect("was pending");
    assert_eq!(sent.status, JobStatus::Sent);
    assert_eq!(sent.message_id, Some(41));
    assert_eq!(sent.job.text, "first");
    assert_eq!(
        store
            .complete_job(first, 42, 1_700_000_001, now())
            .await
            .expect("again"),
        None
    );
    assert_eq!(
        store.fail_job(first, "late", now()).await.expect("late"),
        None
    );
    assert_eq!(
        store
            .claim_job_in_order(key, first, now())
            .await
            .expect("claim"),
        None,
        "a final job is never claimed"
    );
    let second_claimed = store
        .claim_job_in_order(key, second, now())
        .await
        .expect("claim")
        .expect("now the oldest");
    let failed = store
        .fail_job(second_claimed.job.job_id, "chat_write_forbidden", now())
        .await
        .expect("fail")
        .expect("was pending");
    assert_eq!(failed.status, JobStatus::Failed);
    assert_eq!(failed.failure.as_deref(), Some("chat_write_forbidden"));
}

pub(crate) async fn a_final_job_is_not_marked_published(store: Arc<dyn Store>) {
    let key = account_key();
    let job = store
        .create_send_job(&new_job(key, None, "fast"))
        .await
        .expect("create")
        .job()
        .clone();
    store.claim_job(job.job.job_id, now()).await.expect("claim");
    store
        .complete_job(job.job.job_id, 5, 1_700_000_000, now())
        .await
        .expect("sent");
    store
        .mark_job_published(job.job.job_id, now())
        .await
        .expect("mark");
    assert_eq!(
        store
            .send_job(key, job.job.job_id)
            .await
            .expect("read")
            .expect("job")
            .published_at,
        None
    );
}

pub(crate) async fn unpublished_jobs_are_found_by_shard_until_published(store: Arc<dyn Store>) {
    let key = account_key();
    let shard = shard_of(key.user_id, key.session_index);
    let job = store
        .create_send_job(&new_job(key, None, "lost publish"))
        .await
        .expect("create")
        .job()
        .clone();
    let later = now() + TimeDelta::seconds(1);

    let found = store
        .unpublished_jobs(&[shard], later, 10)
        .await
        .expect("unpublished");
    assert_eq!(
        found.iter().map(|job| job.job.job_id).collect::<Vec<_>>(),
        vec![job.job.job_id]
    );
    let other_shard = (shard + 1) % talkapp_store::SHARD_COUNT;
    assert!(
        store
            .unpublished_jobs(&[other_shard], later, 10)
            .await
            .expect("other shard")
            .is_empty()
    );
    assert!(
        store
            .unpublished_jobs(&[shard], job.job.created_at, 10)
            .await
            .expect("too recent")
            .is_empty(),
        "jobs younger than the bound are left to their publisher"
    );
    store
        .mark_job_published(job.job.job_id, now())
        .await
        .expect("published");
    assert!(
        store
            .unpublished_jobs(&[shard], later, 10)
            .await
            .expect("after")
            .is_empty()
    );
}

pub(crate) async fn accounts_with_waiting_jobs_are_found_by_shard_and_age_until_done(
    store: Arc<dyn Store>,
) {
    let key = account_key();
    let shard = shard_of(key.user_id, key.session_index);
    let first = store
        .create_send_job(&new_job(key, None, "waiting one"))
        .await
        .expect("create")
        .job()
        .clone();
    let second = store
        .create_send_job(&new_job(key, None, "waiting two"))
        .await
        .expect("create")
        .job()
        .clone();
    // Published or not: the queue may not have brought it.
    store
        .mark_job_published(first.job.job_id, now())
        .await
        .expect("published");
    let later = now() + TimeDelta::seconds(1);

    let found = store
        .accounts_with_waiting_jobs(&[shard], later, 10)
        .await
        .expect("waiting");
    assert_eq!(found, vec![key], "one entry per account");
    let other_shard = (shard + 1) % talkapp_store::SHARD_COUNT;
    assert!(
        store
            .accounts_with_waiting_jobs(&[other_shard], later, 10)
            .await
            .expect("other shard")
            .is_empty()
    );
    assert!(
        store
            .accounts_with_waiting_jobs(&[shard], first.job.created_at, 10)
            .await
            .expect("too recent")
            .is_empty(),
        "jobs younger than the bound are left to the queue"
    );
    for job in [&first, &second] {
        store
            .claim_job(job.job.job_id, now())
            .await
            .expect("claim")
            .expect("claimed");
        store
            .complete_job(job.job.job_id, 7, now().timestamp(), now())
            .await
            .expect("sent");
    }
    assert!(
        store
            .accounts_with_waiting_jobs(&[shard], later, 10)
            .await
            .expect("after")
            .is_empty(),
        "sent jobs wait for nothing"
    );
}

// ----------------------------------------------------------------------------------------
// Event ids and push subscriptions

pub(crate) async fn event_ids_only_grow_and_are_never_given_twice(store: Arc<dyn Store>) {
    let user_id = Uuid::new_v4();
    store
        .link_telegram_account(
            user_id,
            &telegram_account(801, "Ev"),
            LinkStatus::Connected,
            SEALED,
            now(),
        )
        .await
        .expect("link");
    let key = AccountKey {
        user_id,
        session_index: 1,
    };
    assert_eq!(store.next_event_ids(key, 1).await.expect("ids"), Some(1));
    assert_eq!(store.next_event_ids(key, 3).await.expect("ids"), Some(2));
    assert_eq!(store.next_event_ids(key, 1).await.expect("ids"), Some(5));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                store
                    .next_event_ids(key, 2)
                    .await
                    .expect("ids")
                    .expect("linked")
            })
        })
        .collect();
    let mut firsts = Vec::new();
    for task in tasks {
        firsts.push(task.await.expect("task"));
    }
    firsts.sort_unstable();
    assert_eq!(firsts, (0..8).map(|n| 6 + 2 * n).collect::<Vec<i64>>());
    assert_eq!(
        store
            .next_event_ids(
                AccountKey {
                    user_id,
                    session_index: 9
                },
                1
            )
            .await
            .expect("ids"),
        None
    );
}

pub(crate) async fn push_subscriptions_are_kept_per_user_and_endpoint(store: Arc<dyn Store>) {
    let user_id = Uuid::new_v4();
    let subscription = |endpoint: &str, p256dh: &str| PushSubscription {
        user_id,
        endpoint: endpoint.to_owned(),
        p256dh: p256dh.to_owned(),
        auth: "auth-secret".to_owned(),
        created_at: now(),
    };
    store
        .add_push_subscription(&subscription("https://push.example/1", "key-1"))
        .await
        .expect("add");
    store
        .add_push_subscription(&subscription("https://push.example/2", "key-2"))
        .await
        .expect("add");
    store
        .add_push_subscription(&subscription("https://push.example/1", "key-1b"))
        .await
        .expect("refresh keys");
    let listed = store.push_subscriptions(user_id).await.expect("list");
    assert_eq!(listed.len(), 2);
    assert_eq!(
        listed
            .iter()
            .find(|s| s.endpoint == "https://push.example/1")
            .map(|s| s.p256dh.as_str()),
        Some("key-1b")
    );
    assert!(
        store
            .push_subscriptions(Uuid::new_v4())
            .await
            .expect("other")
            .is_empty()
    );
    assert!(
        store
            .remove_push_subscription(user_id, "https://push.example/1")
            .await
            .expect("remove")
    );
    assert!(
        !store
            .remove_push_subscription(user_id, "https://push.example/1")
            .await
            .expect("again")
    );
    assert_eq!(
        store.push_subscriptions(user_id).await.expect("list").len(),
        1
    );
}

// ----------------------------------------------------------------------------------------
// Audit log

fn audit_entry(user_id: Option<Uuid>, action: &str, at: DateTime<Utc>) -> NewAuditEntry {
    NewAuditEntry {
        at,
        user_id,
        actor: if user_id.is_some() {
            AuditActor::User
        } else {
            AuditActor::Anonymous
        },
        action: action.to_owned(),
        target: Some(r#"{"session_index":"1","chat_id":"-100123"}"#.to_owned()),
        outcome: AuditOutcome::Success,
        status: 202,
        error_code: None,
        client_address: Some("203.0.113.7".to_owned()),
        user_agent: Some("Mozilla/5.0 (ünïcode)".to_owned()),
        request_id: Some("r-1".to_owned()),
        trace_id: Some("4bf92f3577b34da6a3ce929d0e0e4736".to_owned()),
    }
}

pub(crate) async fn audit_records_are_paged_newest_first_per_user_and_by_action(
    store: Arc<dyn Store>,
) {
    let ada = Uuid::new_v4();
    let bob = Uuid::new_v4();
    let start = now();
    let mut appended = Vec::new();
    for index in 0..7 {
        let mut entry = audit_entry(
            Some(if index % 2 == 0 { ada } else { bob }),
            if index < 3 {
                "auth.sign_in"
            } else {
                "telegram.message.send"
            },
            start + TimeDelta::milliseconds(index),
        );
        if index == 5 {
            entry.outcome = AuditOutcome::Denied;
            entry.status = 403;
            entry.error_code = Some("forbidden".to_owned());
            entry.target = None;
            entry.trace_id = None;
        }
        appended.push(entry);
    }
    // One batch and one alone: the order of appending is the order of ids.
    store.append_audit(&appended[..6]).await.expect("append");
    store.append_audit(&appended[6..]).await.expect("append");
    store.append_audit(&[]).await.expect("append nothing");

    let everyone = store
        .audit_entries(&AuditQuery {
            limit: 100,
            ..AuditQuery::default()
        })
        .await
        .expect("all");
    assert_eq!(everyone.len(), 7);
    assert!(everyone.windows(2).all(|pair| pair[0].id > pair[1].id));
    let newest_first: Vec<_> = appended.iter().rev().cloned().collect();
    assert_eq!(
        everyone
            .iter()
            .map(|entry| entry.entry.clone())
            .collect::<Vec<_>>(),
        newest_first,
        "every field round-trips"
    );

    // Ada's log in pages of two, with the cursor: no repeats, nothing of Bob's.
    let mut pages = Vec::new();
    let mut before_id = None;
    loop {
        let page = store
            .audit_entries(&AuditQuery {
                user_id: Some(ada),
                before_id,
                limit: 2,
                ..AuditQuery::default()
            })
            .await
            .expect("page");
        if page.is_empty() {
            break;
        }
        before_id = page.last().map(|entry| entry.id);
        pages.extend(page);
    }
    assert_eq!(pages.len(), 4);
    assert!(pages.iter().all(|entry| entry.entry.user_id == Some(ada)));
    assert!(pages.windows(2).all(|pair| pair[0].id > pair[1].id));

    let sends = store
        .audit_entries(&AuditQuery {
            user_id: Some(bob),
            action_prefix: Some("telegram.".to_owned()),
            limit: 100,
            ..AuditQuery::default()
        })
        .await
        .expect("by action");
    assert_eq!(sends.len(), 2);
    assert!(
        sends
            .iter()
            .all(|entry| entry.entry.action == "telegram.message.send")
    );
    // The prefix is literal: `_` and `%` are not wildcards.
    let literal = store
        .audit_entries(&AuditQuery {
            action_prefix: Some("auth_".to_owned()),
            limit: 100,
            ..AuditQuery::default()
        })
        .await
        .expect("literal prefix");
    assert!(literal.is_empty());
    let capped = store
        .audit_entries(&AuditQuery {
            limit: u32::MAX,
            ..AuditQuery::default()
        })
        .await
        .expect("capped");
    assert_eq!(capped.len(), 7);
}

/// A batch as the gateway's writer appends it under load: many records, their times not in
/// the order of the batch, anonymous ones with every optional field empty beside full ones,
/// and text with the characters an array's text form would have to quote.
pub(crate) async fn an_audit_batch_keeps_its_order_and_every_field(store: Arc<dyn Store>) {
    let start = now();
    let texts = [
        "plain",
        "",
        "NULL",
        r#"quote " comma , braces {} backslash \ "#,
        "ünïcode ✓",
    ];
    let batch: Vec<NewAuditEntry> = (0..40_usize)
        .map(|index| {
            // Times out of order: the batch's order, not the time, decides the ids.
            let offset = i64::try_from((index * 7) % 40).expect("small");
            let at = start - TimeDelta::milliseconds(offset);
            if index % 3 == 0 {
                return NewAuditEntry {
                    at,
                    user_id: None,
                    actor: AuditActor::Anonymous,
                    action: format!("auth.sign_in.{index}"),
                    target: None,
                    outcome: AuditOutcome::Failure,
                    status: 401,
                    error_code: None,
                    client_address: None,
                    user_agent: None,
                    request_id: None,
                    trace_id: None,
                };
            }
            let text = texts[index % texts.len()];
            let mut entry = audit_entry(Some(Uuid::new_v4()), &format!("telegram.{index}"), at);
            entry.target = Some(text.to_owned());
            entry.user_agent = Some(format!("agent {text}"));
            entry.error_code = (index % 2 == 0).then(|| format!("code_{index}"));
            entry.status = u16::try_from(200 + index).expect("small");
            entry
        })
        .collect();
    store.append_audit(&batch).await.expect("append");
    store
        .append_audit(&batch[..1])
        .await
        .expect("append one more");

    let mut stored = store
        .audit_entries(&AuditQuery {
            limit: 100,
            ..AuditQuery::default()
        })
        .await
        .expect("all");
    stored.reverse();
    assert_eq!(stored.len(), batch.len() + 1);
    assert!(
        stored.windows(2).all(|pair| pair[0].id < pair[1].id),
        "ids grow in the order appended"
    );
    let expected: Vec<NewAuditEntry> = batch.iter().chain(&batch[..1]).cloned().collect();
    assert_eq!(
        stored
            .into_iter()
            .map(|entry| entry.entry)
            .collect::<Vec<_>>(),
        expected,
        "every record in the batch's order, every field as given"
    );
}

pub(crate) async fn the_audit_retention_sweep_removes_only_older_records(store: Arc<dyn Store>) {
    let ada = Uuid::new_v4();
    let now = now();
    store
        .append_audit(&[
            audit_entry(Some(ada), "auth.sign_in", now - TimeDelta::days(400)),
            audit_entry(None, "auth.sign_in", now - TimeDelta::days(366)),
            audit_entry(Some(ada), "auth.sign_out", now - TimeDelta::days(1)),
        ])
        .await
        .expect("append");
    let removed = store
        .purge_audit(now - TimeDelta::days(365))
        .await
        .expect("purge");
    assert_eq!(removed, 2);
    let left = store
        .audit_entries(&AuditQuery {
            limit: 10,
            ..AuditQuery::default()
        })
        .await
        .expect("left");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].entry.action, "auth.sign_out");
    assert_eq!(
        store
            .purge_audit(now - TimeDelta::days(365))
            .await
            .expect("again"),
        0
    );
}

// ----------------------------------------------------------------------------------------
// Operators' view of the accounts

pub(crate) async fn users_are_listed_in_creation_order_with_their_counts(store: Arc<dyn Store>) {
    let mut created = Vec::new();
    for index in 0..5 {
        let mut user = new_user(&format!("listed-{index}@example.com"));
        // Two accounts created in the same microsecond are ordered by id.
        user.created_at =
            DateTime::from_timestamp_micros(1_700_000_000_000_000 + index / 2).expect("time");
        created.push(store.create_user(&user).await.expect("create"));
    }
    created.sort_by_key(|user| (user.created_at, user.id));
    let first = &created[0];
    for seed in 0..2 {
        store
            .create_auth_session(&new_auth_session(first.id, now()), &token_hash(seed))
            .await
            .expect("session");
    }
    store
        .link_telegram_account(
            first.id,
            &telegram_account(1, "Listed"),
            LinkStatus::Connected,
            SEALED,
            now(),
        )
        .await
        .expect("link");

    let mut listed = Vec::new();
    let mut after = None;
    loop {
        let page = store.list_users(after, 2).await.expect("page");
        if page.is_empty() {
            break;
        }
        after = page.last().map(|overview| UserCursor {
            created_at: overview.user.created_at,
            id: overview.user.id,
        });
        listed.extend(page);
    }
    assert_eq!(
        listed
            .iter()
            .map(|overview| overview.user.clone())
            .collect::<Vec<_>>(),
        created
    );
    assert_eq!(listed[0].linked_accounts, 1);
    assert_eq!(listed[0].open_sign_ins, 2);
    assert!(
        listed[1..]
            .iter()
            .all(|overview| overview.linked_accounts == 0
                && overview.open_sign_ins == 0
                && overview.disabled_at.is_none())
    );
    assert_eq!(
        store
            .user_overview(first.id)
            .await
            .expect("overview")
            .expect("found"),
        listed[0]
    );
    assert!(
        store
            .user_overview(Uuid::new_v4())
            .await
            .expect("none")
            .is_none()
    );
}

pub(crate) async fn disabling_keeps_the_first_time_and_ending_sessions_names_them(
    store: Arc<dyn Store>,
) {
    let user = create_user(&*store, "disabled@example.com").await;
    let other = create_user(&*store, "untouched@example.com").await;
    let live = new_auth_session(user.id, now());
    let ended = new_auth_session(user.id, now());
    let others = new_auth_session(other.id, now());
    for (session, byte) in [(&live, 1), (&ended, 2), (&others, 3)] {
        store
            .create_auth_session(session, &token_hash(byte))
            .await
            .expect("session");
    }
    store
        .revoke_auth_session(ended.id, now(), "sign-out")
        .await
        .expect("sign out");

    assert_eq!(store.user_disabled_at(user.id).await.expect("read"), None);
    let first = DateTime::from_timestamp_micros(now().timestamp_micros()).expect("time");
    assert!(
        store
            .set_user_disabled(user.id, Some(first))
            .await
            .expect("disable")
    );
    assert!(
        store
            .set_user_disabled(user.id, Some(first + TimeDelta::hours(1)))
            .await
            .expect("again")
    );
    assert_eq!(
        store.user_disabled_at(user.id).await.expect("read"),
        Some(first)
    );
    assert!(
        !store
            .set_user_disabled(Uuid::new_v4(), Some(first))
            .await
            .expect("nobody")
    );
    assert_eq!(store.user_disabled_at(other.id).await.expect("read"), None);

    let revoked = store
        .revoke_user_sessions(user.id, now(), "disabled")
        .await
        .expect("revoke");
    assert_eq!(revoked, [live.id]);
    assert!(stored_session(&*store, live.id).await.revoked_at.is_some());
    assert!(
        stored_session(&*store, others.id)
            .await
            .revoked_at
            .is_none()
    );
    assert!(
        store
            .revoke_user_sessions(user.id, now(), "disabled")
            .await
            .expect("again")
            .is_empty()
    );

    assert!(
        store
            .set_user_disabled(user.id, None)
            .await
            .expect("enable")
    );
    assert_eq!(store.user_disabled_at(user.id).await.expect("read"), None);
}

pub(crate) async fn linked_accounts_are_counted_per_user_and_drop_with_an_unlink(
    store: Arc<dyn Store>,
) {
    let builtin = create_user(&*store, "counted@example.com").await;
    let (subject, stranger) = (Uuid::new_v4(), Uuid::new_v4());
    for (user_id, number, name) in [
        (builtin.id, 4001, "Ann"),
        (builtin.id, 4002, "Bob"),
        (subject, 4003, "Cid"),
    ] {
        store
            .link_telegram_account(
                user_id,
                &telegram_account(number, name),
                LinkStatus::Connected,
                SEALED,
                now(),
            )
            .await
            .expect("link");
    }
    assert_eq!(
        store.linked_accounts(builtin.id).await.expect("built-in"),
        2
    );
    assert_eq!(store.linked_accounts(subject).await.expect("subject"), 1);
    assert_eq!(store.linked_accounts(stranger).await.expect("unknown"), 0);
    assert!(
        store
            .unlink_telegram_account(builtin.id, 1)
            .await
            .expect("unlink")
    );
    assert_eq!(store.linked_accounts(builtin.id).await.expect("after"), 1);
}

pub(crate) async fn the_activity_summary_counts_users_active_ones_accounts_and_waiting_jobs(
    store: Arc<dyn Store>,
) {
    let now = DateTime::from_timestamp_micros(now().timestamp_micros()).expect("time");
    let empty = store.activity_summary(now).await.expect("empty");
    assert_eq!(empty, talkapp_store::ActivitySummary::default());

    let today = create_user(&*store, "today@example.com").await;
    let this_week = create_user(&*store, "week@example.com").await;
    let long_ago = create_user(&*store, "long-ago@example.com").await;
    for (user, seen, seed) in [
        (&today, now - TimeDelta::hours(2), 1),
        (&today, now - TimeDelta::days(3), 2),
        (&this_week, now - TimeDelta::days(3), 3),
        (&long_ago, now - TimeDelta::days(30), 4),
    ] {
        let session = AuthSession {
            last_seen_at: seen,
            ..new_auth_session(user.id, seen)
        };
        store
            .create_auth_session(&session, &token_hash(seed))
            .await
            .expect("session");
    }
    for (user, status, id) in [
        (&today, LinkStatus::Connected, 1),
        (&this_week, LinkStatus::Connected, 2),
        (&long_ago, LinkStatus::Connecting, 3),
    ] {
        store
            .link_telegram_account(
                user.id,
                &telegram_account(id, "Summary"),
                status,
                SEALED,
                now,
            )
            .await
            .expect("link");
    }
    let key = AccountKey {
        user_id: today.id,
        session_index: 1,
    };
    let mut oldest = new_job(key, Some("oldest"), "first");
    oldest.created_at = now - TimeDelta::minutes(5);
    store.create_send_job(&oldest).await.expect("job");
    store
        .create_send_job(&new_job(key, Some("newer"), "second"))
        .await
        .expect("job");
    let done = new_job(key, Some("done"), "third");
    store.create_send_job(&done).await.expect("job");
    store
        .fail_job(done.job_id, "gave up", now)
        .await
        .expect("fail");

    let summary = store.activity_summary(now).await.expect("summary");
    assert_eq!(summary.users, 3);
    assert_eq!(summary.active_1d, 1);
    assert_eq!(summary.active_7d, 2);
    let connected = LinkStatus::Connected.as_str().to_owned();
    let connecting = LinkStatus::Connecting.as_str().to_owned();
    let mut expected = vec![(connected, 2), (connecting, 1)];
    expected.sort();
    assert_eq!(summary.linked_accounts, expected);
    assert_eq!(summary.waiting_jobs, 2);
    assert_eq!(summary.oldest_waiting_at, Some(oldest.created_at));
}

pub(crate) async fn an_external_subject_is_disabled_once_listed_and_enabled_again(
    store: Arc<dyn Store>,
) {
    assert!(store.disabled_subjects().await.expect("none").is_empty());
    let (subject, other) = (Uuid::new_v4(), Uuid::new_v4());
    let first = DateTime::from_timestamp_micros(now().timestamp_micros()).expect("time");
    assert_eq!(
        store
            .set_subject_disabled(subject, Some(first))
            .await
            .expect("disable"),
        Some(first)
    );
    assert_eq!(
        store
            .set_subject_disabled(subject, Some(first + TimeDelta::hours(1)))
            .await
            .expect("again"),
        Some(first),
        "the first time is kept"
    );
    store
        .set_subject_disabled(other, Some(first))
        .await
        .expect("another");
    let mut listed = store.disabled_subjects().await.expect("listed");
    listed.sort();
    let mut expected = vec![(subject, first), (other, first)];
    expected.sort();
    assert_eq!(listed, expected);
    // A built-in account is no subject: its disabling is kept apart.
    let user = create_user(&*store, "not-a-subject@example.com").await;
    assert_eq!(store.user_disabled_at(user.id).await.expect("read"), None);

    assert_eq!(
        store
            .set_subject_disabled(subject, None)
            .await
            .expect("enable"),
        None
    );
    assert_eq!(
        store.disabled_subjects().await.expect("listed"),
        [(other, first)]
    );
    assert_eq!(
        store
            .set_subject_disabled(subject, None)
            .await
            .expect("enabling twice is no error"),
        None
    );
}

pub(crate) async fn external_subjects_seen_count_as_active_users(store: Arc<dyn Store>) {
    let now = DateTime::from_timestamp_micros(now().timestamp_micros()).expect("time");
    let builtin = create_user(&*store, "builtin-active@example.com").await;
    store
        .create_auth_session(
            &new_auth_session(builtin.id, now - TimeDelta::hours(1)),
            &token_hash(1),
        )
        .await
        .expect("session");
    let (today, this_week, long_ago) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    for (subject, seen) in [
        (today, now - TimeDelta::days(5)),
        (today, now - TimeDelta::hours(3)),
        // An earlier sighting told late changes nothing.
        (today, now - TimeDelta::days(6)),
        (this_week, now - TimeDelta::days(2)),
        (long_ago, now - TimeDelta::days(20)),
    ] {
        store.note_subject_seen(subject, seen).await.expect("seen");
    }
    let summary = store.activity_summary(now).await.expect("summary");
    assert_eq!(summary.users, 1, "subjects are no built-in accounts");
    assert_eq!(
        summary.active_1d, 2,
        "the built-in user and today's subject"
    );
    assert_eq!(summary.active_7d, 3);
}

pub(crate) async fn external_subjects_are_listed_seen_disabled_or_linked_in_id_order(
    store: Arc<dyn Store>,
) {
    assert!(
        store
            .list_subjects(None, 10)
            .await
            .expect("none")
            .is_empty()
    );
    let now = DateTime::from_timestamp_micros(now().timestamp_micros()).expect("time");
    let mut ids: Vec<Uuid> = (0..4).map(|_| Uuid::new_v4()).collect();
    ids.sort();
    let (seen, disabled, linked, everything) = (ids[0], ids[1], ids[2], ids[3]);
    store.note_subject_seen(seen, now).await.expect("seen");
    store
        .set_subject_disabled(disabled, Some(now))
        .await
        .expect("disabled");
    store
        .link_telegram_account(
            linked,
            &telegram_account(3001, "Lin"),
            LinkStatus::Connected,
            SEALED,
            now,
        )
        .await
        .expect("linked");
    store
        .note_subject_seen(everything, now)
        .await
        .expect("seen");
    store
        .set_subject_disabled(everything, Some(now))
        .await
        .expect("disabled");
    for (number, name) in [(3002, "Eve"), (3003, "Eva")] {
        store
            .link_telegram_account(
                everything,
                &telegram_account(number, name),
                LinkStatus::Connected,
                SEALED,
                now,
            )
            .await
            .expect("linked");
    }
    // A built-in account, even with a linked account, is no subject.
    let builtin = create_user(&*store, "builtin-not-a-subject@example.com").await;
    store
        .link_telegram_account(
            builtin.id,
            &telegram_account(3004, "Bui"),
            LinkStatus::Connected,
            SEALED,
            now,
        )
        .await
        .expect("linked");

    let first = store.list_subjects(None, 2).await.expect("first page");
    let rest = store
        .list_subjects(Some(first[1].subject_id), 10)
        .await
        .expect("second page");
    let listed: Vec<_> = first.into_iter().chain(rest).collect();
    let view = |subject_id, last_seen_at, disabled_at, linked_accounts| SubjectOverview {
        subject_id,
        last_seen_at,
        disabled_at,
        linked_accounts,
    };
    assert_eq!(
        listed,
        [
            view(seen, Some(now), None, 0),
            view(disabled, None, Some(now), 0),
            view(linked, None, None, 1),
            view(everything, Some(now), Some(now), 2),
        ]
    );
    assert!(
        store
            .list_subjects(Some(everything), 10)
            .await
            .expect("past the end")
            .is_empty()
    );
}

pub(crate) async fn an_external_subject_is_read_alone_once_seen_disabled_or_linked(
    store: Arc<dyn Store>,
) {
    let now = DateTime::from_timestamp_micros(now().timestamp_micros()).expect("time");
    let earlier = now - TimeDelta::hours(5);
    let (seen, disabled, linked, everything) = (
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
    );
    let overview = |subject_id, last_seen_at, disabled_at, linked_accounts| SubjectOverview {
        subject_id,
        last_seen_at,
        disabled_at,
        linked_accounts,
    };
    let read = |subject_id| {
        let store = store.clone();
        async move {
            store
                .subject_overview(subject_id)
                .await
                .expect("subject read")
        }
    };
    assert_eq!(read(seen).await, None, "unknown yet");

    store.note_subject_seen(seen, now).await.expect("seen");
    store
        .set_subject_disabled(disabled, Some(earlier))
        .await
        .expect("disabled");
    store
        .link_telegram_account(
            linked,
            &telegram_account(3101, "Lin"),
            LinkStatus::Connected,
            SEALED,
            now,
        )
        .await
        .expect("linked");
    store
        .note_subject_seen(everything, earlier)
        .await
        .expect("seen");
    store
        .note_subject_seen(everything, now)
        .await
        .expect("seen later");
    store
        .set_subject_disabled(everything, Some(earlier))
        .await
        .expect("disabled");
    store
        .set_subject_disabled(everything, Some(now))
        .await
        .expect("disabling again keeps the first time");
    for (number, name) in [(3102, "Eve"), (3103, "Eva")] {
        store
            .link_telegram_account(
                everything,
                &telegram_account(number, name),
                LinkStatus::Connected,
                SEALED,
                now,
            )
            .await
            .expect("linked");
    }
    // A built-in account, even one with a linked account, is no subject.
    let builtin = create_user(&*store, "builtin-not-read-as-a-subject@example.com").await;
    store
        .link_telegram_account(
            builtin.id,
            &telegram_account(3104, "Bui"),
            LinkStatus::Connected,
            SEALED,
            now,
        )
        .await
        .expect("linked");

    assert_eq!(read(seen).await, Some(overview(seen, Some(now), None, 0)));
    assert_eq!(
        read(disabled).await,
        Some(overview(disabled, None, Some(earlier), 0))
    );
    assert_eq!(read(linked).await, Some(overview(linked, None, None, 1)));
    assert_eq!(
        read(everything).await,
        Some(overview(everything, Some(now), Some(earlier), 2))
    );
    assert_eq!(read(builtin.id).await, None);
    assert_eq!(read(Uuid::new_v4()).await, None);
    // Each reads as it is listed.
    let listed = store.list_subjects(None, 10).await.expect("listed");
    assert_eq!(listed.len(), 4);
    for subject in listed {
        assert_eq!(read(subject.subject_id).await, Some(subject));
    }

    // Enabled again, a subject known only as disabled is no longer known; one that is
    // also seen stays, enabled.
    store
        .set_subject_disabled(disabled, None)
        .await
        .expect("enabled");
    store
        .set_subject_disabled(everything, None)
        .await
        .expect("enabled");
    assert_eq!(read(disabled).await, None);
    assert_eq!(
        read(everything).await,
        Some(overview(everything, Some(now), None, 2))
    );
}

pub(crate) async fn user_activity_adds_up_per_day_and_old_days_go(store: Arc<dyn Store>) {
    use chrono::NaiveDate;
    use talkapp_store::{ActivityCounts, ActivityDelta};
    let day = |text: &str| NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("day");
    let counts = |requests, client_errors, server_errors, sends, sockets| ActivityCounts {
        requests,
        client_errors,
        server_errors,
        sends,
        sockets,
    };
    let (user, other) = (Uuid::new_v4(), Uuid::new_v4());
    let delta = |user_id, on: &str, counts| ActivityDelta {
        user_id,
        day: day(on),
        counts,
    };
    assert!(
        store
            .user_activity(user, day("2000-01-01"))
            .await
            .expect("read")
            .is_empty()
    );
    store.add_user_activity(&[]).await.expect("nothing to add");
    // Two gateways' flushes of the same days add up; the day boundary keeps days apart.
    store
        .add_user_activity(&[
            delta(user, "2026-03-01", counts(5, 1, 0, 2, 1)),
            delta(user, "2026-03-02", counts(1, 0, 0, 0, 0)),
            delta(other, "2026-03-01", counts(7, 0, 7, 0, 0)),
        ])
        .await
        .expect("first flush");
    store
        .add_user_activity(&[
            delta(user, "2026-03-01", counts(3, 2, 1, 1, 0)),
            delta(user, "2026-02-28", counts(4, 0, 0, 0, 2)),
        ])
        .await
        .expect("second flush");
    assert_eq!(
        store
            .user_activity(user, day("2000-01-01"))
            .await
            .expect("read"),
        [
            (day("2026-03-02"), counts(1, 0, 0, 0, 0)),
            (day("2026-03-01"), counts(8, 3, 1, 3, 1)),
            (day("2026-02-28"), counts(4, 0, 0, 0, 2)),
        ],
        "newest first, each day its own sum"
    );
    assert_eq!(
        store
            .user_activity(user, day("2026-03-01"))
            .await
            .expect("read")
            .len(),
        2,
        "`since` is inclusive"
    );
    assert_eq!(
        store
            .user_activity(other, day("2000-01-01"))
            .await
            .expect("read"),
        [(day("2026-03-01"), counts(7, 0, 7, 0, 0))],
        "another user's counts are apart"
    );
    assert_eq!(
        store
            .delete_activity_before(day("2026-03-01"))
            .await
            .expect("retention"),
        1
    );
    assert_eq!(
        store
            .user_activity(user, day("2000-01-01"))
            .await
            .expect("read")
            .iter()
            .map(|(day, _)| *day)
            .collect::<Vec<_>>(),
        [day("2026-03-02"), day("2026-03-01")]
    );
}

// Idempotency keys of non-send actions

fn action_claim(
    key: AccountKey,
    idempotency_key: &str,
    request_hash: &str,
) -> talkapp_store::ActionClaim {
    talkapp_store::ActionClaim {
        key,
        idempotency_key: idempotency_key.to_owned(),
        action: "create_group".to_owned(),
        request_hash: request_hash.to_owned(),
        at: now(),
        stale_after: TimeDelta::seconds(60),
    }
}

pub(crate) async fn an_action_key_gives_retries_the_first_result_and_refuses_other_requests(
    store: Arc<dyn Store>,
) {
    use talkapp_store::ActionClaimed;
    let key = AccountKey {
        user_id: Uuid::new_v4(),
        session_index: 1,
    };
    let first = action_claim(key, "k1", "hash-a");
    assert_eq!(
        store.claim_action(&first).await.expect("claim"),
        ActionClaimed::Claimed
    );
    assert_eq!(
        store.claim_action(&first).await.expect("claim again"),
        ActionClaimed::InProgress,
        "a retry while the first is running waits"
    );
    assert_eq!(
        store
            .claim_action(&action_claim(key, "k1", "hash-b"))
            .await
            .expect("claim for another request"),
        ActionClaimed::Mismatch
    );
    store
        .finish_action(key, "k1", "-1001")
        .await
        .expect("finish");
    assert_eq!(
        store.claim_action(&first).await.expect("claim after"),
        ActionClaimed::Done("-1001".into())
    );
    // Released claims can be taken again; a finished one is not released.
    store.release_action(key, "k1").await.expect("release");
    assert_eq!(
        store.claim_action(&first).await.expect("still done"),
        ActionClaimed::Done("-1001".into())
    );
    let failing = action_claim(key, "k2", "hash-a");
    assert_eq!(
        store.claim_action(&failing).await.expect("claim"),
        ActionClaimed::Claimed
    );
    store.release_action(key, "k2").await.expect("release");
    assert_eq!(
        store.claim_action(&failing).await.expect("claim again"),
        ActionClaimed::Claimed
    );
    // A claim never finished is taken over once stale.
    let abandoned = talkapp_store::ActionClaim {
        at: now() - TimeDelta::seconds(120),
        ..action_claim(key, "k3", "hash-a")
    };
    assert_eq!(
        store.claim_action(&abandoned).await.expect("claim"),
        ActionClaimed::Claimed
    );
    assert_eq!(
        store
            .claim_action(&action_claim(key, "k3", "hash-a"))
            .await
            .expect("take over"),
        ActionClaimed::Claimed
    );
    // Keys are per account.
    let other = AccountKey {
        session_index: 2,
        ..key
    };
    assert_eq!(
        store
            .claim_action(&action_claim(other, "k1", "hash-b"))
            .await
            .expect("claim on another account"),
        ActionClaimed::Claimed
    );
}

pub(crate) async fn concurrent_claims_of_one_action_key_let_one_caller_act(store: Arc<dyn Store>) {
    use talkapp_store::ActionClaimed;
    let key = AccountKey {
        user_id: Uuid::new_v4(),
        session_index: 1,
    };
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.claim_action(&action_claim(key, "same", "h")).await })
        })
        .collect();
    let mut claimed = 0;
    for task in tasks {
        match task.await.expect("task").expect("claim") {
            ActionClaimed::Claimed => claimed += 1,
            ActionClaimed::InProgress => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(claimed, 1);
}

pub(crate) async fn a_sessions_names_follow_the_accounts_profile(store: Arc<dyn Store>) {
    let user_id = Uuid::new_v4();
    let linked = store
        .link_telegram_account(
            user_id,
            &telegram_account(601, "Before"),
            LinkStatus::Connected,
            SEALED,
            now(),
        )
        .await
        .expect("link");

    let updated = store
        .set_account_names(user_id, linked.session_index, "Ануш", "", "anush_k")
        .await
        .expect("set names");

    assert!(updated);
    let listed = store.linked_accounts_of(user_id).await.expect("list");
    let account = &listed[0].account;
    assert_eq!(
        (
            account.first_name.as_str(),
            account.last_name.as_str(),
            account.username.as_str()
        ),
        ("Ануш", "", "anush_k")
    );
    assert_eq!(account.telegram_user_id, 601, "the rest stays");
    assert_eq!(account.phone, "4915601");
    assert!(
        !store
            .set_account_names(user_id, 9, "Nobody", "", "")
            .await
            .expect("set names of an unknown session"),
        "no such session"
    );
}

// ----------------------------------------------------------------------------------------
// Files each account sent to Telegram

pub(crate) async fn an_accounts_sent_files_are_recalled_bounded_forgotten_and_unlinked_with_it(
    store: Arc<dyn Store>,
) {
    let user_id = Uuid::new_v4();
    let linked = store
        .link_telegram_account(
            user_id,
            &telegram_account(700, "Sender"),
            LinkStatus::Connected,
            SEALED,
            now(),
        )
        .await
        .expect("link");
    let key = AccountKey {
        user_id,
        session_index: linked.session_index,
    };
    let other = AccountKey {
        user_id: Uuid::new_v4(),
        session_index: 1,
    };
    let recall = |key: AccountKey, sha: &'static str, kind: &'static str| {
        let store = Arc::clone(&store);
        async move {
            store
                .recall_sent_file(key, sha, kind)
                .await
                .expect("recall")
        }
    };

    store
        .remember_sent_file(key, "aa", "photo", b"\x00ref-a1", 3)
        .await
        .expect("remember");
    assert_eq!(
        recall(key, "aa", "photo").await,
        Some(b"\x00ref-a1".to_vec())
    );
    assert_eq!(recall(key, "aa", "document").await, None, "per kind");
    assert_eq!(recall(other, "aa", "photo").await, None, "per account");
    // A newer reference replaces the first and counts as the newest.
    store
        .remember_sent_file(key, "aa", "photo", b"\x00ref-a2", 3)
        .await
        .expect("replace");
    assert_eq!(
        recall(key, "aa", "photo").await,
        Some(b"\x00ref-a2".to_vec())
    );
    // An account that is not linked keeps nothing.
    store
        .remember_sent_file(other, "aa", "photo", b"ref", 3)
        .await
        .expect("remember for nobody");
    assert_eq!(recall(other, "aa", "photo").await, None);

    // At most three, the oldest remembered dropped first: "aa" remembered again is newer
    // than "bb".
    for (sha, kind) in [("bb", "document"), ("cc", "document"), ("aa", "photo")] {
        store
            .remember_sent_file(key, sha, kind, sha.as_bytes(), 3)
            .await
            .expect("remember");
    }
    store
        .remember_sent_file(key, "dd", "document", b"dd", 3)
        .await
        .expect("remember");
    assert_eq!(
        recall(key, "bb", "document").await,
        None,
        "the oldest dropped"
    );
    assert_eq!(recall(key, "aa", "photo").await, Some(b"aa".to_vec()));
    store
        .remember_sent_file(key, "ee", "document", b"ee", 3)
        .await
        .expect("remember");
    assert_eq!(
        recall(key, "cc", "document").await,
        None,
        "then the next oldest"
    );
    assert_eq!(recall(key, "aa", "photo").await, Some(b"aa".to_vec()));
    for sha in ["dd", "ee"] {
        assert_eq!(
            recall(key, sha, "document").await,
            Some(sha.as_bytes().to_vec()),
            "{sha} kept"
        );
    }

    store
        .forget_sent_file(key, "aa", "photo")
        .await
        .expect("forget");
    assert_eq!(recall(key, "aa", "photo").await, None, "forgotten");
    assert!(
        store
            .unlink_telegram_account(user_id, key.session_index)
            .await
            .expect("unlink")
    );
    for sha in ["dd", "ee"] {
        assert_eq!(
            recall(key, sha, "document").await,
            None,
            "gone with the account"
        );
    }
}
