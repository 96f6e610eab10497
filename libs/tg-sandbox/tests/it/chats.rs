//! M3: dialogs, history paging, sending with pushed updates, random_id de-duplication.

use grammers_client::Client;
use grammers_client::peer::Peer as ClientPeer;
use grammers_client::sender::UpdatesConfiguration;
use grammers_client::update::Update;
use grammers_session::Session;
use grammers_session::types::{PeerId, PeerKind, PeerRef, UpdateState, UpdatesState};
use grammers_tl_types as tl;
use talkapp_tg_sandbox::Peer;
use tokio::sync::mpsc;

use crate::support::{connect_session, demo, signed_in, within};

fn to_sandbox_peer(id: PeerId) -> Peer {
    let bare = id.bare_id().expect("a concrete peer");
    match id.kind() {
        PeerKind::User => Peer::User(bare),
        PeerKind::Chat => Peer::Chat(bare),
        PeerKind::Channel => Peer::Channel(bare),
    }
}

/// What a test checks about one dialog.
struct Listed {
    reference: PeerRef,
    peer: ClientPeer,
    last_text: Option<String>,
    unread: i32,
}

/// All of the account's dialogs, as the client lists them.
async fn dialogs(client: &Client) -> Vec<Listed> {
    let mut dialogs = client.iter_dialogs();
    let mut out = Vec::new();
    while let Some(dialog) = within("dialogs", dialogs.next()).await.expect("dialogs") {
        let tl::enums::Dialog::Dialog(raw) = &dialog.raw else {
            panic!("unexpected dialog kind {:?}", dialog.raw);
        };
        out.push(Listed {
            reference: dialog.peer_ref(),
            peer: dialog.peer().clone(),
            last_text: dialog.last_message.as_ref().map(|m| m.text().to_owned()),
            unread: raw.unread_count,
        });
    }
    out
}

async fn peer_ref(client: &Client, peer: Peer) -> PeerRef {
    dialogs(client)
        .await
        .into_iter()
        .map(|d| d.reference)
        .find(|r| to_sandbox_peer(r.id) == peer)
        .expect("the peer is among the dialogs")
}

#[tokio::test]
async fn dialogs_list_private_chats_groups_supergroups_and_channels() {
    let demo = demo().await;
    let alice = signed_in(&demo.sandbox, demo.alice);
    let listed = dialogs(&alice.client).await;

    let expected = demo.sandbox.world(|w| w.dialog_peers(demo.alice));
    let peers: Vec<Peer> = listed
        .iter()
        .map(|d| to_sandbox_peer(d.reference.id))
        .collect();
    assert_eq!(peers, expected);

    let find = |name: &str| {
        listed
            .iter()
            .find(|d| d.peer.name() == Some(name))
            .unwrap_or_else(|| panic!("no dialog named {name}"))
    };
    let bob = find("Bob");
    assert!(matches!(bob.peer, ClientPeer::User(_)));
    assert_eq!(to_sandbox_peer(bob.reference.id), Peer::User(demo.bob));
    assert_eq!(bob.last_text.as_deref(), Some("Call me when you can."));
    // The demo leaves Bob's last two messages unread; everything else is read.
    assert_eq!(bob.unread, 2);
    assert_eq!(listed.iter().map(|d| d.unread).sum::<i32>(), 2);
    match &find("Sandbox Friends").peer {
        ClientPeer::Group(group) => assert!(!group.is_megagroup()),
        other => panic!("basic group listed as {other:?}"),
    }
    match &find("Sandbox Lounge").peer {
        ClientPeer::Group(group) => assert!(group.is_megagroup()),
        other => panic!("supergroup listed as {other:?}"),
    }
    assert!(matches!(find("Sandbox News").peer, ClientPeer::Channel(_)));
    assert!(find("Carol").last_text.is_some());
}

/// Pages through a whole chat with the client's iterator, newest first and reversed.
async fn assert_history_matches(client: &Client, peer_ref: PeerRef, expected: &[i32]) {
    let mut messages = client.iter_messages(peer_ref);
    let mut newest_first = Vec::new();
    while let Some(message) = within("history", messages.next()).await.expect("history") {
        newest_first.push(message.id());
    }
    assert_eq!(newest_first, expected, "newest-first paging");

    let mut messages = client.iter_messages(peer_ref).reverse(true);
    let mut oldest_first = Vec::new();
    while let Some(message) = within("history", messages.next()).await.expect("history") {
        oldest_first.push(message.id());
    }
    let mut reversed = expected.to_vec();
    reversed.reverse();
    assert_eq!(oldest_first, reversed, "oldest-first paging");
}

#[tokio::test]
async fn history_pages_without_gaps_or_repeats() {
    let demo = demo().await;
    let alice = signed_in(&demo.sandbox, demo.alice);

    let lounge = demo
        .sandbox
        .world(|w| {
            w.channel_ids()
                .into_iter()
                .find(|id| w.title(Peer::Channel(*id)) == Some("Sandbox Lounge"))
        })
        .expect("lounge");
    for peer in [Peer::User(demo.bob), Peer::Channel(lounge)] {
        let expected = demo.sandbox.world(|w| w.message_ids(demo.alice, peer));
        assert!(
            expected.len() > 80,
            "{peer:?} has {} messages",
            expected.len()
        );
        let reference = peer_ref(&alice.client, peer).await;
        assert_history_matches(&alice.client, reference, &expected).await;
    }

    // Replies and edits survive the trip.
    let reference = peer_ref(&alice.client, Peer::User(demo.bob)).await;
    let mut messages = alice.client.iter_messages(reference);
    let (mut replies, mut edits) = (0, 0);
    while let Some(message) = within("history", messages.next()).await.expect("history") {
        if let Some(reply_to) = message.reply_to_message_id() {
            replies += 1;
            let text = demo.sandbox.world(|w| {
                w.message_text(demo.alice, Peer::User(demo.bob), reply_to)
                    .map(str::to_owned)
            });
            assert!(text.is_some(), "reply to a message alice does not have");
        }
        if message.edit_date().is_some() {
            edits += 1;
            assert!(message.text().ends_with("(edited)"));
        }
    }
    assert!(replies > 5 && edits > 3, "{replies} replies, {edits} edits");
}

#[tokio::test]
async fn a_sent_message_reaches_the_other_accounts_history_and_connected_client() {
    let demo = demo().await;
    let alice = signed_in(&demo.sandbox, demo.alice);
    let mut bob = signed_in(&demo.sandbox, demo.bob);

    // Bob starts listening from the current state, as a client resuming a session does.
    let tl::enums::updates::State::State(state) = within(
        "get state",
        bob.client.invoke(&tl::functions::updates::GetState {}),
    )
    .await
    .expect("state");
    bob.session
        .set_update_state(UpdateState::All(UpdatesState {
            pts: state.pts,
            qts: state.qts,
            date: state.date,
            seq: state.seq,
            channels: Vec::new(),
        }))
        .await
        .expect("state saved");
    let mut stream = within(
        "stream",
        bob.client.stream_updates(
            bob.updates.take().expect("updates receiver"),
            UpdatesConfiguration { catch_up: true },
        ),
    )
    .await
    .expect("update stream");
    let (tx, mut received) = mpsc::unbounded_channel();
    let listener = tokio::spawn(async move {
        while let Ok(update) = stream.next().await {
            if let Update::NewMessage(message) = update
                && tx.send(message).is_err()
            {
                break;
            }
        }
    });

    let to_bob = peer_ref(&alice.client, Peer::User(demo.bob)).await;
    let first = within(
        "send",
        alice.client.send_message(to_bob, "first from alice"),
    )
    .await
    .expect("sent");
    assert_eq!(first.text(), "first from alice");
    // Whether it came by push or by catching up, bob gets it exactly once.
    let got = within("first update", received.recv())
        .await
        .expect("an update");
    assert_eq!(got.text(), "first from alice");
    assert!(!got.outgoing());
    assert_eq!(to_sandbox_peer(got.peer_id()), Peer::User(demo.alice));

    // Now bob is certainly listening: this one can only arrive as a pushed update.
    within(
        "send",
        alice.client.send_message(to_bob, "second from alice"),
    )
    .await
    .expect("sent");
    let got = within("second update", received.recv())
        .await
        .expect("an update");
    assert_eq!(got.text(), "second from alice");

    // A supergroup message reaches him too (updateNewChannelMessage).
    let lounge = demo
        .sandbox
        .world(|w| {
            w.channel_ids()
                .into_iter()
                .find(|id| w.title(Peer::Channel(*id)) == Some("Sandbox Lounge"))
        })
        .expect("lounge");
    let lounge_ref = peer_ref(&alice.client, Peer::Channel(lounge)).await;
    within(
        "send",
        alice.client.send_message(lounge_ref, "hello lounge"),
    )
    .await
    .expect("sent");
    let got = within("channel update", received.recv())
        .await
        .expect("an update");
    assert_eq!(got.text(), "hello lounge");
    assert_eq!(to_sandbox_peer(got.peer_id()), Peer::Channel(lounge));
    assert!(received.try_recv().is_err(), "no duplicates");

    // And the private messages are in his history, newest first.
    let from_alice = peer_ref(&bob.client, Peer::User(demo.alice)).await;
    let mut history = bob.client.iter_messages(from_alice).limit(2);
    let mut texts = Vec::new();
    while let Some(message) = within("history", history.next()).await.expect("history") {
        texts.push(message.text().to_owned());
    }
    assert_eq!(texts, ["second from alice", "first from alice"]);
    listener.abort();
}

fn sent_message_id(updates: &tl::enums::Updates) -> i32 {
    let tl::enums::Updates::Updates(updates) = updates else {
        panic!("expected updates, got {updates:?}");
    };
    updates
        .updates
        .iter()
        .find_map(|u| match u {
            tl::enums::Update::MessageId(u) => Some(u.id),
            _ => None,
        })
        .expect("updateMessageID")
}

#[tokio::test]
async fn a_repeated_random_id_does_not_send_twice() {
    let demo = demo().await;
    let alice = signed_in(&demo.sandbox, demo.alice);
    let to_bob = peer_ref(&alice.client, Peer::User(demo.bob)).await;
    let before = demo
        .sandbox
        .world(|w| w.message_count(demo.bob, Peer::User(demo.alice)));

    let request = tl::functions::messages::SendMessage {
        no_webpage: true,
        silent: false,
        background: false,
        clear_draft: false,
        noforwards: false,
        update_stickersets_order: false,
        invert_media: false,
        allow_paid_floodskip: false,
        peer: to_bob.into(),
        reply_to: None,
        message: "only once".into(),
        random_id: 0x5eed_5eed,
        reply_markup: None,
        entities: None,
        schedule_date: None,
        schedule_repeat_period: None,
        send_as: None,
        quick_reply_shortcut: None,
        effect: None,
        allow_paid_stars: None,
        suggested_post: None,
        rich_message: None,
    };
    let first = within("send", alice.client.invoke(&request))
        .await
        .expect("sent");
    let second = within("resend", alice.client.invoke(&request))
        .await
        .expect("sent");
    assert_eq!(sent_message_id(&first), sent_message_id(&second));

    let after = demo
        .sandbox
        .world(|w| w.message_count(demo.bob, Peer::User(demo.alice)));
    assert_eq!(after, before + 1);
}

#[tokio::test]
async fn a_client_that_was_away_catches_up_on_messages_edits_and_channel_posts() {
    let demo = demo().await;
    let alice = signed_in(&demo.sandbox, demo.alice);
    let lounge = demo
        .sandbox
        .world(|w| {
            w.channel_ids()
                .into_iter()
                .find(|id| w.title(Peer::Channel(*id)) == Some("Sandbox Lounge"))
        })
        .expect("lounge");

    // Bob's client records where it is (common box and, through the dialogs, each
    // channel), then goes away.
    let session = {
        let bob = signed_in(&demo.sandbox, demo.bob);
        let tl::enums::updates::State::State(state) = within(
            "get state",
            bob.client.invoke(&tl::functions::updates::GetState {}),
        )
        .await
        .expect("state");
        bob.session
            .set_update_state(UpdateState::All(UpdatesState {
                pts: state.pts,
                qts: state.qts,
                date: state.date,
                seq: state.seq,
                channels: Vec::new(),
            }))
            .await
            .expect("state saved");
        dialogs(&bob.client).await;
        std::sync::Arc::clone(&bob.session)
    };

    let to_bob = peer_ref(&alice.client, Peer::User(demo.bob)).await;
    let lounge_ref = peer_ref(&alice.client, Peer::Channel(lounge)).await;
    let missed = within(
        "send",
        alice.client.send_message(to_bob, "while you were away"),
    )
    .await
    .expect("sent");
    within("send", alice.client.send_message(to_bob, "and another one"))
        .await
        .expect("sent");
    within(
        "edit",
        alice
            .client
            .edit_message(to_bob, missed.id(), "while you were out"),
    )
    .await
    .expect("edited");
    within("send", alice.client.send_message(lounge_ref, "lounge news"))
        .await
        .expect("sent");

    // Bob comes back with the same session and catches up.
    let mut bob = connect_session(session);
    let mut stream = within(
        "stream",
        bob.client.stream_updates(
            bob.updates.take().expect("updates receiver"),
            UpdatesConfiguration { catch_up: true },
        ),
    )
    .await
    .expect("update stream");
    let mut new_texts = Vec::new();
    let mut edited_texts = Vec::new();
    while new_texts.len() < 3 || edited_texts.is_empty() {
        match within("catch-up update", stream.next())
            .await
            .expect("update")
        {
            Update::NewMessage(message) => new_texts.push(message.text().to_owned()),
            Update::MessageEdited(message) => edited_texts.push(message.text().to_owned()),
            _ => {}
        }
    }
    new_texts.sort();
    // The difference carries each message in its current (edited) form.
    assert_eq!(
        new_texts,
        ["and another one", "lounge news", "while you were out"]
    );
    assert_eq!(edited_texts, ["while you were out"]);
}

#[tokio::test]
async fn long_messages_travel_gzip_packed() {
    let demo = demo().await;
    let alice = signed_in(&demo.sandbox, demo.alice);
    let to_bob = peer_ref(&alice.client, Peer::User(demo.bob)).await;
    // grammers packs requests of 512 bytes and more with gzip_packed.
    let text: String = (0..300).map(|i| format!("{i} ")).collect();
    assert!(text.len() > 1000 && text.chars().count() <= 4096);
    let sent = within("send", alice.client.send_message(to_bob, text.as_str()))
        .await
        .expect("sent");
    let stored = demo.sandbox.world(|w| {
        w.message_text(demo.alice, Peer::User(demo.bob), sent.id())
            .map(str::to_owned)
    });
    assert_eq!(stored.as_deref(), Some(text.as_str()));

    let too_long = "x".repeat(4097);
    let refused = within("send", alice.client.send_message(to_bob, too_long.as_str())).await;
    match refused {
        Err(error) => assert!(error.is("MESSAGE_TOO_LONG"), "{error:?}"),
        Ok(_) => panic!("a 4097-character message was accepted"),
    }
}

#[tokio::test]
async fn dialogs_page_by_offset_peer_with_the_total_count() {
    let demo = demo().await;
    let alice = signed_in(&demo.sandbox, demo.alice);
    let expected = demo.sandbox.world(|w| w.dialog_peers(demo.alice));
    assert!(expected.len() >= 5);

    let mut request = tl::functions::messages::GetDialogs {
        exclude_pinned: false,
        folder_id: None,
        offset_date: 0,
        offset_id: 0,
        offset_peer: tl::enums::InputPeer::Empty,
        limit: 2,
        hash: 0,
    };
    let mut seen = Vec::new();
    loop {
        let page = within("dialogs page", alice.client.invoke(&request))
            .await
            .expect("dialogs");
        let tl::enums::messages::Dialogs::Slice(page) = page else {
            panic!("a partial page must be a dialogsSlice, got {page:?}");
        };
        assert_eq!(page.count as usize, expected.len());
        let Some(tl::enums::Dialog::Dialog(last)) = page.dialogs.last() else {
            break;
        };
        for dialog in &page.dialogs {
            let tl::enums::Dialog::Dialog(dialog) = dialog else {
                panic!("unexpected dialog kind");
            };
            seen.push(match dialog.peer {
                tl::enums::Peer::User(ref u) => Peer::User(u.user_id),
                tl::enums::Peer::Chat(ref c) => Peer::Chat(c.chat_id),
                tl::enums::Peer::Channel(ref c) => Peer::Channel(c.channel_id),
            });
        }
        // Every dialog's top message and peers come along.
        assert_eq!(page.messages.len(), page.dialogs.len());
        let last_peer = seen.last().copied().expect("a dialog");
        let reference = peer_ref(&alice.client, last_peer).await;
        request.offset_peer = reference.into();
        request.offset_id = last.top_message;
    }
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn a_client_that_was_away_catches_up_on_a_pin_and_its_service_message() {
    let demo = demo().await;
    let alice = signed_in(&demo.sandbox, demo.alice);
    let session = {
        let bob = signed_in(&demo.sandbox, demo.bob);
        let tl::enums::updates::State::State(state) = within(
            "get state",
            bob.client.invoke(&tl::functions::updates::GetState {}),
        )
        .await
        .expect("state");
        bob.session
            .set_update_state(UpdateState::All(UpdatesState {
                pts: state.pts,
                qts: state.qts,
                date: state.date,
                seq: state.seq,
                channels: Vec::new(),
            }))
            .await
            .expect("state saved");
        std::sync::Arc::clone(&bob.session)
    };

    let to_bob = peer_ref(&alice.client, Peer::User(demo.bob)).await;
    let sent = within("send", alice.client.send_message(to_bob, "pin me"))
        .await
        .expect("sent");
    let answer = within(
        "pin",
        alice
            .client
            .invoke(&tl::functions::messages::UpdatePinnedMessage {
                silent: false,
                unpin: false,
                pm_oneside: false,
                peer: (&to_bob).into(),
                id: sent.id(),
            }),
    )
    .await
    .expect("pinned");
    let tl::enums::Updates::Updates(answer) = answer else {
        panic!("a pin answers updates");
    };
    assert!(answer.updates.iter().any(|update| matches!(
        update,
        tl::enums::Update::PinnedMessages(pinned) if pinned.pinned && pinned.messages == [sent.id()]
    )));
    let bobs_copy = demo
        .sandbox
        .world(|w| w.pinned_ids(demo.bob, Peer::User(demo.alice)));
    assert_eq!(bobs_copy.len(), 1);

    // Bob comes back: the difference has the pin and Telegram's service message.
    let mut bob = connect_session(session);
    let mut stream = within(
        "stream",
        bob.client.stream_updates(
            bob.updates.take().expect("updates receiver"),
            UpdatesConfiguration { catch_up: true },
        ),
    )
    .await
    .expect("update stream");
    let mut pinned = None;
    let mut service_reply = None;
    while pinned.is_none() || service_reply.is_none() {
        match within("catch-up update", stream.next())
            .await
            .expect("update")
        {
            Update::Raw(raw) => {
                if let tl::enums::Update::PinnedMessages(update) = raw.raw {
                    pinned = Some(update);
                }
            }
            Update::NewMessage(message) => {
                // The update's message, through the wrapper's `Deref`.
                if let tl::enums::Message::Service(service) = &(*message).raw
                    && matches!(service.action, tl::enums::MessageAction::PinMessage)
                {
                    service_reply = Some(service.reply_to.clone());
                }
            }
            _ => {}
        }
    }
    let pinned = pinned.expect("pinned");
    assert!(pinned.pinned);
    assert_eq!(pinned.messages, bobs_copy);
    let Some(Some(tl::enums::MessageReplyHeader::Header(header))) = service_reply else {
        panic!("the service message replies to the pinned message");
    };
    assert_eq!(header.reply_to_msg_id, Some(bobs_copy[0]));
}
