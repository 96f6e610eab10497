//! The state file: a restarted sandbox resumes where it was, and key bindings are saved
//! before clients hear of them. Seed files describe worlds.

use std::sync::Arc;

use grammers_session::Session;
use grammers_session::types::{PeerId, PeerRef};
use talkapp_tg_sandbox::{
    DEMO_2FA_PHONE, DEMO_PHONE, DemoScale, Peer, Sandbox, SandboxOptions, Seed, World,
};

use crate::support::{API_HASH, TempDir, box_pts, connect, connect_session, log_in, within};

/// The private chat with `user`, addressed the way the sandbox expects from `viewer`
/// (access hash included), found through the client's dialogs.
async fn private_chat(client: &grammers_client::Client, user: i64) -> PeerRef {
    let mut dialogs = client.iter_dialogs();
    while let Some(dialog) = within("dialogs", dialogs.next()).await.expect("dialogs") {
        let reference = dialog.peer_ref();
        if reference.id == PeerId::user(user).expect("user id") {
            return reference;
        }
    }
    panic!("no dialog with {user}");
}

async fn history_ids(client: &grammers_client::Client, peer: PeerRef, limit: usize) -> Vec<i32> {
    let mut messages = client.iter_messages(peer).limit(limit);
    let mut ids = Vec::new();
    while let Some(message) = within("history", messages.next()).await.expect("history") {
        ids.push(message.id());
    }
    ids
}

#[tokio::test]
async fn a_restarted_sandbox_keeps_serving_the_same_session_with_history_and_pts() {
    let dir = TempDir::new("restart");
    let state_file = dir.join("state.json");
    let world = World::demo().expect("demo");
    let (alice, bob) = (
        world.user_by_phone(DEMO_PHONE).expect("alice"),
        world.user_by_phone(DEMO_2FA_PHONE).expect("bob"),
    );
    let first = Sandbox::start_with(SandboxOptions::world(world).state_file(&state_file))
        .await
        .expect("starts");
    let addr = first.addr();

    // A real login on a fresh key, then some traffic.
    let client = log_in(&first, DEMO_PHONE).await;
    let to_bob = private_chat(&client.client, bob).await;
    let sent = within(
        "send",
        client.client.send_message(to_bob, "before the restart"),
    )
    .await
    .expect("sent");
    let pts_before = box_pts(&client.client).await;
    let history_before = history_ids(&client.client, to_bob, 10).await;
    let bob_count_before = first.world(|w| w.message_count(bob, Peer::User(alice)));
    let session = Arc::clone(&client.session);
    drop(client);
    within("shutdown", first.shutdown()).await;

    // The second run is given an empty world: everything must come from the state file.
    let second = Sandbox::start_with(
        SandboxOptions::world(World::new())
            .listen(addr)
            .state_file(&state_file),
    )
    .await
    .expect("restarts");
    assert_eq!(second.addr(), addr);
    let client = connect_session(session);
    let me = within("get_me", client.client.get_me())
        .await
        .expect("the key is still signed in");
    assert_eq!(me.id().bare_id(), Some(alice));
    assert_eq!(box_pts(&client.client).await, pts_before);
    // The access hash the client cached still works, and the history is the same.
    assert_eq!(
        history_ids(&client.client, to_bob, 10).await,
        history_before
    );
    assert_eq!(
        second.world(|w| w.message_count(bob, Peer::User(alice))),
        bob_count_before
    );

    // File contents survive too: the demo's photo downloads.
    let photo = second.world(|w| {
        w.message_ids(alice, Peer::User(bob))
            .into_iter()
            .find(|id| w.message_text(alice, Peer::User(bob), *id) == Some("Holiday picture"))
    });
    let photo_id = photo.expect("the demo photo");
    let message = within("get", client.client.get_messages_by_id(to_bob, &[photo_id]))
        .await
        .expect("get")
        .remove(0)
        .expect("exists");
    let Some(grammers_client::media::Media::Photo(photo)) = message.media() else {
        panic!("not a photo");
    };
    let mut chunks = client.client.iter_download(&photo);
    let mut bytes = Vec::new();
    while let Some(chunk) = within("download", chunks.next()).await.expect("chunk") {
        bytes.extend_from_slice(&chunk);
    }
    assert_eq!(bytes, talkapp_tg_sandbox::sample_png(42, 800, 600));

    // New messages continue the ids and pts where they were.
    let next = within(
        "send",
        client.client.send_message(to_bob, "after the restart"),
    )
    .await
    .expect("sent");
    assert_eq!(next.id(), sent.id() + 1);
    assert_eq!(box_pts(&client.client).await, pts_before + 1);
    drop(client);
    second.shutdown().await;
}

#[tokio::test]
async fn a_login_is_saved_before_the_client_hears_of_it() {
    let dir = TempDir::new("login-saved");
    let state_file = dir.join("state.json");
    let sandbox = Sandbox::start_with(
        SandboxOptions::world(World::demo().expect("demo"))
            .state_file(&state_file)
            // Long enough that only the save before the answer can explain the result.
            .save_interval(std::time::Duration::from_secs(3600)),
    )
    .await
    .expect("starts");
    let client = log_in(&sandbox, DEMO_PHONE).await;
    // A new account (sign-up) is saved whole before the answer, too.
    let newcomer_key = sandbox.issue_auth_key();
    let newcomer = connect(&sandbox, &newcomer_key);
    sign_up(&newcomer.client, "+9996629876", "Newcomer").await;
    let signed_in = sandbox
        .issue_auth_key_for(sandbox.user_by_phone(DEMO_2FA_PHONE).expect("bob").id)
        .expect("bob");

    // As if the process died now: copy the state (the file, the key journal and the
    // file contents beside them) and start another sandbox from the copy.
    let copy = dir.join("copy.json");
    std::fs::copy(&state_file, &copy).expect("copies");
    std::fs::copy(dir.join("state.json.keys"), dir.join("copy.json.keys"))
        .expect("the key journal exists");
    let files = dir.join("state.json.files");
    let copied_files = dir.join("copy.json.files");
    std::fs::create_dir_all(&copied_files).expect("creates");
    for entry in std::fs::read_dir(&files).expect("the files are saved too") {
        let entry = entry.expect("entry");
        std::fs::copy(entry.path(), copied_files.join(entry.file_name())).expect("copies");
    }
    let revived = Sandbox::start_with(SandboxOptions::world(World::new()).state_file(&copy))
        .await
        .expect("starts from the copy");
    let alice = revived.user_by_phone(DEMO_PHONE).expect("alice");
    let key = client
        .session
        .dc_option(2)
        .expect("readable")
        .and_then(|dc| dc.auth_key)
        .expect("the session holds its key");
    assert_eq!(revived.auth_key_user(&key), Some(alice.id));
    let bob = connect(&revived, &signed_in);
    let me = within("get_me", bob.client.get_me()).await.expect("get_me");
    assert_eq!(me.phone(), Some("9996620002"));
    let newcomer_again = connect(&revived, &newcomer_key);
    let me = within("get_me", newcomer_again.client.get_me())
        .await
        .expect("the new account and its key survived");
    assert_eq!(me.first_name(), Some("Newcomer"));
    drop((client, bob, newcomer, newcomer_again));
    revived.shutdown().await;
    sandbox.shutdown().await;
}

#[tokio::test]
async fn a_seed_file_describes_users_contacts_chats_and_messages() {
    let dir = TempDir::new("seed");
    let seed_file = dir.join("seed.json");
    std::fs::write(
        &seed_file,
        r#"{
          "users": [
            {"phone": "+999 66 2 1001", "first_name": "Ann", "username": "ann_seed"},
            {"phone": "+9996621002", "first_name": "Ben", "last_name": "Seed"},
            {"phone": "+9996621003", "first_name": "Cy", "password": "pw", "password_hint": "p"}
          ],
          "contacts": [["+9996621001", "+9996621002"]],
          "groups": [{"title": "Team", "creator": "+9996621001",
                      "members": ["+9996621002", "+9996621003"]}],
          "channels": [{"title": "Seed News", "creator": "+9996621002", "broadcast": true,
                        "members": ["+9996621001"], "username": "seed_news"}],
          "messages": [
            {"from": "+9996621001", "to": {"user": "+9996621002"}, "text": "hi Ben"},
            {"from": "+9996621002", "to": {"user": "+9996621001"}, "text": "hi Ann"},
            {"from": "+9996621003", "to": {"chat": "Team"}, "text": "hello team"},
            {"from": "+9996621002", "to": {"channel": "Seed News"}, "text": "first post"}
          ]
        }"#,
    )
    .expect("writes");
    let seed = Seed::from_file(&seed_file).expect("parses");
    let sandbox = Sandbox::start_with(SandboxOptions::seed(seed))
        .await
        .expect("starts");
    let ann = sandbox.user_by_phone("9996621001").expect("ann");
    let ben = sandbox.user_by_phone("9996621002").expect("ben");
    assert_eq!(ann.username.as_deref(), Some("ann_seed"));
    assert!(
        sandbox
            .user_by_phone("9996621003")
            .expect("cy")
            .has_password
    );

    let client = log_in(&sandbox, "+9996621001").await;
    let mut titles = Vec::new();
    let mut dialogs = client.client.iter_dialogs();
    while let Some(dialog) = within("dialogs", dialogs.next()).await.expect("dialogs") {
        titles.push((
            dialog.peer().name().map(str::to_owned),
            dialog.last_message.map(|m| m.text().to_owned()),
        ));
    }
    assert_eq!(
        titles,
        [
            (Some("Seed News".to_owned()), Some("first post".to_owned())),
            (Some("Team".to_owned()), Some("hello team".to_owned())),
            (Some("Ben".to_owned()), Some("hi Ann".to_owned())),
        ]
    );
    let contacts = sandbox.world(|w| w.user_ids().len());
    assert_eq!(contacts, 3);
    let to_ben = private_chat(&client.client, ben.id).await;
    assert_eq!(history_ids(&client.client, to_ben, 10).await.len(), 2);
    sandbox.shutdown().await;
}

#[test]
fn a_seed_is_either_the_demo_or_explicit_and_unknown_fields_are_refused() {
    let demo =
        Seed::from_json(r#"{"demo": {"extra_users": 6, "private_messages": 3}}"#).expect("parses");
    let world = demo.build().expect("builds");
    assert_eq!(world.user_ids().len(), 8);

    let both = Seed::from_json(r#"{"demo": {}, "users": [{"phone": "1", "first_name": "A"}]}"#)
        .expect("parses");
    assert!(both.build().is_err());
    assert!(Seed::from_json(r#"{"demo": {"accounts": 5}}"#).is_err());
    assert!(Seed::from_json(r#"{"people": []}"#).is_err());
    let unknown_sender = Seed::from_json(
        r#"{"users": [{"phone": "9996621001", "first_name": "A"}],
            "messages": [{"from": "9996621009", "to": {"user": "9996621001"}, "text": "x"}]}"#,
    )
    .expect("parses");
    assert!(unknown_sender.build().is_err());

    let scale = DemoScale::default()
        .with_overrides("accounts=100,ring_chats=2")
        .expect("overrides");
    assert_eq!((scale.extra_users, scale.ring_chats), (98, 2));
    assert!(DemoScale::default().with_overrides("planets=3").is_err());
}

/// Signs up a new test-DC number with raw calls (grammers 0.11 has no sign-up helper).
async fn sign_up(client: &grammers_client::Client, phone: &str, first_name: &str) {
    use grammers_tl_types as tl;
    let sent = within(
        "send code",
        client.invoke(&tl::functions::auth::SendCode {
            phone_number: phone.into(),
            api_id: crate::support::API_ID,
            api_hash: API_HASH.into(),
            settings: tl::types::CodeSettings {
                allow_flashcall: false,
                current_number: false,
                allow_app_hash: false,
                allow_missed_call: false,
                allow_firebase: false,
                unknown_number: false,
                logout_tokens: None,
                token: None,
                app_sandbox: None,
            }
            .into(),
        }),
    )
    .await
    .expect("code sent");
    let tl::enums::auth::SentCode::Code(sent) = sent else {
        panic!("unexpected {sent:?}");
    };
    let signed_in = within(
        "sign in",
        client.invoke(&tl::functions::auth::SignIn {
            phone_number: phone.into(),
            phone_code_hash: sent.phone_code_hash.clone(),
            phone_code: Some("22222".into()),
            email_verification: None,
        }),
    )
    .await
    .expect("answered");
    assert!(matches!(
        signed_in,
        tl::enums::auth::Authorization::SignUpRequired(_)
    ));
    within(
        "sign up",
        client.invoke(&tl::functions::auth::SignUp {
            no_joined_notifications: true,
            phone_number: phone.into(),
            phone_code_hash: sent.phone_code_hash,
            first_name: first_name.into(),
            last_name: String::new(),
        }),
    )
    .await
    .expect("signed up");
}
