//! The handle's hooks for tests (`send_message`, `edit_message`, `delete_messages`,
//! `set_online`) act as the user's own clients would: every client concerned is told.

use grammers_client::update::Update;
use grammers_tl_types as tl;
use talkapp_tg_sandbox::Peer;

use crate::support::{demo, listen, next_matching, raw, signed_in};

#[tokio::test]
async fn a_message_sent_edited_and_deleted_through_the_hooks_and_a_status_reach_the_peer() {
    let demo = demo().await;
    let mut alice = signed_in(&demo.sandbox, demo.alice);
    let (mut updates, _task) = listen(&mut alice).await;

    let sent = demo
        .sandbox
        .send_message(demo.bob, Peer::User(demo.alice), "from the hook")
        .expect("sent");
    let received = next_matching(&mut updates, "new message", |u| match u {
        Update::NewMessage(m) if m.text() == "from the hook" => Some(m.id()),
        _ => None,
    })
    .await;

    demo.sandbox
        .edit_message(demo.bob, Peer::User(demo.alice), sent, "edited by the hook")
        .expect("edited");
    let edited = next_matching(&mut updates, "edit", |u| match u {
        Update::MessageEdited(m) => Some((m.id(), m.text().to_owned())),
        _ => None,
    })
    .await;
    assert_eq!(edited, (received, "edited by the hook".to_owned()));

    demo.sandbox.delete_messages(demo.bob, &[sent], true);
    let deleted = next_matching(&mut updates, "deletion", |u| match u {
        Update::MessageDeleted(d) => Some(d.messages().to_vec()),
        _ => None,
    })
    .await;
    assert_eq!(deleted, vec![received]);

    demo.sandbox.set_online(demo.bob, true).expect("online");
    let status = next_matching(&mut updates, "status", |u| match raw(u) {
        Some(tl::enums::Update::UserStatus(s)) if s.user_id == demo.bob => Some(s.status.clone()),
        _ => None,
    })
    .await;
    assert!(matches!(status, tl::enums::UserStatus::Online(_)));
    assert!(
        demo.sandbox.set_online(i64::MAX, true).is_err(),
        "no such user"
    );
}
