//! Read receipts, typing, online status and deletions, each pushed to the right clients
//! and replayed by getDifference.

use grammers_client::update::Update;
use grammers_tl_types as tl;
use talkapp_tg_sandbox::Peer;

use crate::support::{
    box_pts, channel_titled, demo, dialog_ref, group_titled, listen, next_matching, raw,
    raw_dialog, signed_in, within,
};

/// What updates.getDifference from `pts` returns as other updates.
async fn difference_since(client: &grammers_client::Client, pts: i32) -> Vec<tl::enums::Update> {
    let difference = within(
        "get difference",
        client.invoke(&tl::functions::updates::GetDifference {
            pts,
            pts_limit: None,
            pts_total_limit: None,
            date: 0,
            qts: 0,
            qts_limit: None,
        }),
    )
    .await
    .expect("difference");
    match difference {
        tl::enums::updates::Difference::Difference(d) => d.other_updates,
        other => panic!("expected a difference, got {other:?}"),
    }
}

#[tokio::test]
async fn reading_a_private_chat_tells_the_readers_other_sessions_and_the_sender() {
    let demo = demo().await;
    let alice = signed_in(&demo.sandbox, demo.alice);
    let mut alice_elsewhere = signed_in(&demo.sandbox, demo.alice);
    let mut bob = signed_in(&demo.sandbox, demo.bob);
    let (mut alice_updates, _a) = listen(&mut alice_elsewhere).await;
    let (mut bob_updates, _b) = listen(&mut bob).await;
    let bob_pts = box_pts(&bob.client).await;

    // The demo leaves Bob's last two messages to Alice unread.
    let before = raw_dialog(&alice.client, Peer::User(demo.bob)).await;
    assert_eq!(before.unread_count, 2);
    let to_bob = dialog_ref(&alice.client, Peer::User(demo.bob)).await;
    within("read", alice.client.mark_as_read(to_bob))
        .await
        .expect("read");

    let inbox = next_matching(&mut alice_updates, "read inbox", |u| match raw(u) {
        Some(tl::enums::Update::ReadHistoryInbox(u)) => Some(u.clone()),
        _ => None,
    })
    .await;
    assert_eq!(inbox.peer, tl::types::PeerUser { user_id: demo.bob }.into());
    assert_eq!(
        (inbox.max_id, inbox.still_unread_count),
        (before.top_message, 0)
    );

    let bobs_last = demo
        .sandbox
        .world(|w| w.message_ids(demo.bob, Peer::User(demo.alice))[0]);
    let outbox = next_matching(&mut bob_updates, "read outbox", |u| match raw(u) {
        Some(tl::enums::Update::ReadHistoryOutbox(u)) => Some(u.clone()),
        _ => None,
    })
    .await;
    assert_eq!(
        outbox.peer,
        tl::types::PeerUser {
            user_id: demo.alice
        }
        .into()
    );
    assert_eq!(outbox.max_id, bobs_last);

    // Dialogs reflect it on both sides, and the difference replays it.
    let after = raw_dialog(&alice.client, Peer::User(demo.bob)).await;
    assert_eq!(
        (after.unread_count, after.read_inbox_max_id),
        (0, before.top_message)
    );
    let bobs_dialog = raw_dialog(&bob.client, Peer::User(demo.alice)).await;
    assert_eq!(bobs_dialog.read_outbox_max_id, bobs_last);
    let replayed = difference_since(&bob.client, bob_pts).await;
    assert!(
        replayed.iter().any(|u| matches!(u,
            tl::enums::Update::ReadHistoryOutbox(u) if u.max_id == bobs_last)),
        "{replayed:?}"
    );

    // Reading again changes nothing and takes no pts.
    let again = within(
        "read again",
        alice.client.invoke(&tl::functions::messages::ReadHistory {
            peer: to_bob.into(),
            max_id: 0,
        }),
    )
    .await
    .expect("read");
    let tl::enums::messages::AffectedMessages::Messages(again) = again;
    assert_eq!(again.pts_count, 0);
}

#[tokio::test]
async fn reading_a_basic_group_tells_the_authors_whose_messages_were_read() {
    let demo = demo().await;
    let friends = group_titled(&demo.sandbox, "Sandbox Friends");
    let mut bob = signed_in(&demo.sandbox, demo.bob);
    let (mut bob_updates, _b) = listen(&mut bob).await;
    demo.sandbox
        .send_message(demo.bob, Peer::Chat(friends), "anyone?")
        .expect("sent");
    let alice = signed_in(&demo.sandbox, demo.alice);
    assert_eq!(
        raw_dialog(&alice.client, Peer::Chat(friends))
            .await
            .unread_count,
        1
    );

    let group = dialog_ref(&alice.client, Peer::Chat(friends)).await;
    within("read", alice.client.mark_as_read(group))
        .await
        .expect("read");
    let bobs_copy = demo
        .sandbox
        .world(|w| w.message_ids(demo.bob, Peer::Chat(friends))[0]);
    let outbox = next_matching(&mut bob_updates, "read outbox", |u| match raw(u) {
        Some(tl::enums::Update::ReadHistoryOutbox(u)) => Some(u.clone()),
        _ => None,
    })
    .await;
    assert_eq!(outbox.peer, tl::types::PeerChat { chat_id: friends }.into());
    assert_eq!(outbox.max_id, bobs_copy);
    assert_eq!(
        raw_dialog(&alice.client, Peer::Chat(friends))
            .await
            .unread_count,
        0
    );
}

#[tokio::test]
async fn reading_a_supergroup_updates_the_readers_inbox_and_the_authors_outbox() {
    let demo = demo().await;
    let lounge = channel_titled(&demo.sandbox, "Sandbox Lounge");
    let alice = signed_in(&demo.sandbox, demo.alice);
    let mut alice_elsewhere = signed_in(&demo.sandbox, demo.alice);
    let mut bob = signed_in(&demo.sandbox, demo.bob);
    let lounge_ref = dialog_ref(&alice.client, Peer::Channel(lounge)).await;
    dialog_ref(&alice_elsewhere.client, Peer::Channel(lounge)).await;
    dialog_ref(&bob.client, Peer::Channel(lounge)).await;
    let (mut alice_updates, _a) = listen(&mut alice_elsewhere).await;
    let (mut bob_updates, _b) = listen(&mut bob).await;

    let id = demo
        .sandbox
        .send_message(demo.bob, Peer::Channel(lounge), "read me")
        .expect("sent");
    assert_eq!(
        raw_dialog(&alice.client, Peer::Channel(lounge))
            .await
            .unread_count,
        1
    );
    within("read", alice.client.mark_as_read(lounge_ref))
        .await
        .expect("read");

    let inbox = next_matching(&mut alice_updates, "channel inbox", |u| match raw(u) {
        Some(tl::enums::Update::ReadChannelInbox(u)) => Some(u.clone()),
        _ => None,
    })
    .await;
    assert_eq!(
        (inbox.channel_id, inbox.max_id, inbox.still_unread_count),
        (lounge, id, 0)
    );
    let outbox = next_matching(&mut bob_updates, "channel outbox", |u| match raw(u) {
        Some(tl::enums::Update::ReadChannelOutbox(u)) => Some(u.clone()),
        _ => None,
    })
    .await;
    assert_eq!((outbox.channel_id, outbox.max_id), (lounge, id));
    let dialog = raw_dialog(&alice.client, Peer::Channel(lounge)).await;
    assert_eq!((dialog.unread_count, dialog.read_inbox_max_id), (0, id));
    let bobs = raw_dialog(&bob.client, Peer::Channel(lounge)).await;
    assert_eq!(bobs.read_outbox_max_id, id);
}

fn set_typing(peer: tl::enums::InputPeer) -> tl::functions::messages::SetTyping {
    tl::functions::messages::SetTyping {
        peer,
        top_msg_id: None,
        action: tl::enums::SendMessageAction::SendMessageTypingAction,
    }
}

#[tokio::test]
async fn typing_is_pushed_to_the_other_participants_as_the_chat_kind_requires() {
    let demo = demo().await;
    let friends = group_titled(&demo.sandbox, "Sandbox Friends");
    let lounge = channel_titled(&demo.sandbox, "Sandbox Lounge");
    let alice = signed_in(&demo.sandbox, demo.alice);
    let mut bob = signed_in(&demo.sandbox, demo.bob);
    dialog_ref(&bob.client, Peer::Channel(lounge)).await;
    let (mut bob_updates, _b) = listen(&mut bob).await;

    let to_bob = dialog_ref(&alice.client, Peer::User(demo.bob)).await;
    within("typing", alice.client.invoke(&set_typing(to_bob.into())))
        .await
        .expect("typing");
    let private = next_matching(&mut bob_updates, "user typing", |u| match raw(u) {
        Some(tl::enums::Update::UserTyping(u)) => Some(u.clone()),
        _ => None,
    })
    .await;
    assert_eq!(private.user_id, demo.alice);

    let group = dialog_ref(&alice.client, Peer::Chat(friends)).await;
    within("typing", alice.client.invoke(&set_typing(group.into())))
        .await
        .expect("typing");
    let in_group = next_matching(&mut bob_updates, "chat typing", |u| match raw(u) {
        Some(tl::enums::Update::ChatUserTyping(u)) => Some(u.clone()),
        _ => None,
    })
    .await;
    assert_eq!(in_group.chat_id, friends);
    assert_eq!(
        in_group.from_id,
        tl::types::PeerUser {
            user_id: demo.alice
        }
        .into()
    );

    let supergroup = dialog_ref(&alice.client, Peer::Channel(lounge)).await;
    within(
        "typing",
        alice.client.invoke(&set_typing(supergroup.into())),
    )
    .await
    .expect("typing");
    let in_channel = next_matching(&mut bob_updates, "channel typing", |u| match raw(u) {
        Some(tl::enums::Update::ChannelUserTyping(u)) => Some(u.clone()),
        _ => None,
    })
    .await;
    assert_eq!(in_channel.channel_id, lounge);
}

fn status_of(user: &tl::enums::User) -> Option<tl::enums::UserStatus> {
    match user {
        tl::enums::User::User(user) => user.status.clone(),
        tl::enums::User::Empty(_) => None,
    }
}

#[tokio::test]
async fn going_online_and_offline_is_pushed_to_the_accounts_contacts() {
    let demo = demo().await;
    let alice = signed_in(&demo.sandbox, demo.alice);
    let mut bob = signed_in(&demo.sandbox, demo.bob);
    let (mut bob_updates, _b) = listen(&mut bob).await;

    within(
        "online",
        alice
            .client
            .invoke(&tl::functions::account::UpdateStatus { offline: false }),
    )
    .await
    .expect("online");
    let online = next_matching(&mut bob_updates, "online", |u| match raw(u) {
        Some(tl::enums::Update::UserStatus(u)) if u.user_id == demo.alice => Some(u.clone()),
        _ => None,
    })
    .await;
    let tl::enums::UserStatus::Online(online) = online.status else {
        panic!("expected userStatusOnline, got {:?}", online.status);
    };
    assert!(online.expires > grammers_now());

    let statuses = within(
        "statuses",
        bob.client.invoke(&tl::functions::contacts::GetStatuses {}),
    )
    .await
    .expect("statuses");
    let alices = statuses
        .iter()
        .map(|s| match s {
            tl::enums::ContactStatus::Status(s) => s,
        })
        .find(|s| s.user_id == demo.alice)
        .expect("alice is bob's contact");
    assert!(matches!(alices.status, tl::enums::UserStatus::Online(_)));

    within(
        "offline",
        alice
            .client
            .invoke(&tl::functions::account::UpdateStatus { offline: true }),
    )
    .await
    .expect("offline");
    let offline = next_matching(&mut bob_updates, "offline", |u| match raw(u) {
        Some(tl::enums::Update::UserStatus(u)) if u.user_id == demo.alice => Some(u.clone()),
        _ => None,
    })
    .await;
    assert!(matches!(offline.status, tl::enums::UserStatus::Offline(_)));
    let me = within(
        "users",
        bob.client.invoke(&tl::functions::users::GetUsers {
            id: vec![dialog_ref(&bob.client, Peer::User(demo.alice)).await.into()],
        }),
    )
    .await
    .expect("users");
    assert!(matches!(
        status_of(&me[0]),
        Some(tl::enums::UserStatus::Offline(_))
    ));
}

fn grammers_now() -> i32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i32)
        .unwrap_or_default()
}

#[tokio::test]
async fn deleting_with_revoke_removes_every_copy_and_without_only_ones_own() {
    let demo = demo().await;
    let alice = signed_in(&demo.sandbox, demo.alice);
    let mut bob = signed_in(&demo.sandbox, demo.bob);
    let (mut bob_updates, _b) = listen(&mut bob).await;
    let bob_pts = box_pts(&bob.client).await;
    let to_bob = dialog_ref(&alice.client, Peer::User(demo.bob)).await;

    let gone = within(
        "send",
        alice.client.send_message(to_bob, "delete me everywhere"),
    )
    .await
    .expect("sent");
    let kept = within(
        "send",
        alice.client.send_message(to_bob, "delete me here only"),
    )
    .await
    .expect("sent");
    let bobs_gone = next_matching(&mut bob_updates, "new", |u| match u {
        Update::NewMessage(m) if m.text() == "delete me everywhere" => Some(m.id()),
        _ => None,
    })
    .await;

    // grammers deletes with revoke.
    let deleted = within("delete", alice.client.delete_messages(to_bob, &[gone.id()]))
        .await
        .expect("deleted");
    assert_eq!(deleted, 1);
    let deletion = next_matching(&mut bob_updates, "deletion", |u| match u {
        Update::MessageDeleted(d) => Some((d.channel_id(), d.messages().to_vec())),
        _ => None,
    })
    .await;
    assert_eq!(deletion, (None, vec![bobs_gone]));
    let replayed = difference_since(&bob.client, bob_pts).await;
    assert!(
        replayed.iter().any(|u| matches!(u,
            tl::enums::Update::DeleteMessages(d) if d.messages == [bobs_gone])),
        "{replayed:?}"
    );

    within(
        "delete locally",
        alice
            .client
            .invoke(&tl::functions::messages::DeleteMessages {
                revoke: false,
                id: vec![kept.id()],
            }),
    )
    .await
    .expect("deleted");
    let (alices, bobs) = demo.sandbox.world(|w| {
        let texts = |viewer, peer| {
            w.message_ids(viewer, peer)
                .into_iter()
                .take(3)
                .filter_map(|id| w.message_text(viewer, peer, id).map(str::to_owned))
                .collect::<Vec<_>>()
        };
        (
            texts(demo.alice, Peer::User(demo.bob)),
            texts(demo.bob, Peer::User(demo.alice)),
        )
    });
    assert!(
        !alices.iter().any(|t| t.starts_with("delete me")),
        "{alices:?}"
    );
    assert_eq!(bobs[0], "delete me here only");
    assert!(!bobs.iter().any(|t| t == "delete me everywhere"));
    // The dialog's top message moved back.
    let dialog = raw_dialog(&alice.client, Peer::User(demo.bob)).await;
    assert!(dialog.top_message < gone.id());
}

#[tokio::test]
async fn deleting_in_a_supergroup_removes_the_message_for_every_member() {
    let demo = demo().await;
    let lounge = channel_titled(&demo.sandbox, "Sandbox Lounge");
    let alice = signed_in(&demo.sandbox, demo.alice);
    let mut bob = signed_in(&demo.sandbox, demo.bob);
    let lounge_for_alice = dialog_ref(&alice.client, Peer::Channel(lounge)).await;
    let lounge_for_bob = dialog_ref(&bob.client, Peer::Channel(lounge)).await;
    let (mut bob_updates, _b) = listen(&mut bob).await;

    let sent = within("send", alice.client.send_message(lounge_for_alice, "oops"))
        .await
        .expect("sent");
    // Only the author (or the creator) may delete it.
    let refused = within(
        "delete",
        bob.client.delete_messages(lounge_for_bob, &[sent.id()]),
    )
    .await;
    match refused {
        Err(error) => assert!(error.is("MESSAGE_DELETE_FORBIDDEN"), "{error:?}"),
        Ok(_) => panic!("bob deleted alice's message"),
    }
    let deleted = within(
        "delete",
        alice.client.delete_messages(lounge_for_alice, &[sent.id()]),
    )
    .await
    .expect("deleted");
    assert_eq!(deleted, 1);
    let deletion = next_matching(&mut bob_updates, "deletion", |u| match u {
        Update::MessageDeleted(d) => Some((d.channel_id(), d.messages().to_vec())),
        _ => None,
    })
    .await;
    assert_eq!(deletion, (Some(lounge), vec![sent.id()]));
    assert!(
        !demo
            .sandbox
            .world(|w| w.message_ids(demo.bob, Peer::Channel(lounge)))
            .contains(&sent.id())
    );
}
