//! messages.forwardMessages: headers, de-duplication by random_id, pushes.

use grammers_client::update::Update;
use grammers_tl_types as tl;
use talkapp_tg_sandbox::Peer;

use crate::support::{channel_titled, demo, dialog_ref, listen, next_matching, signed_in, within};

fn header(message: &grammers_client::message::Message) -> tl::types::MessageFwdHeader {
    match message.forward_header() {
        Some(tl::enums::MessageFwdHeader::Header(header)) => header,
        None => panic!("message {} has no forward header", message.id()),
    }
}

#[tokio::test]
async fn forwards_name_the_original_author_or_channel_post_and_keep_it_when_forwarded_again() {
    let demo = demo().await;
    let lounge = channel_titled(&demo.sandbox, "Sandbox Lounge");
    let news = channel_titled(&demo.sandbox, "Sandbox News");
    let alice = signed_in(&demo.sandbox, demo.alice);
    let mut bob = signed_in(&demo.sandbox, demo.bob);
    let (mut bob_updates, _b) = listen(&mut bob).await;
    let from_bob = dialog_ref(&alice.client, Peer::User(demo.bob)).await;
    let lounge_ref = dialog_ref(&alice.client, Peer::Channel(lounge)).await;
    let news_ref = dialog_ref(&alice.client, Peer::Channel(news)).await;

    // A message of Bob's, from the private chat into the supergroup.
    let bobs_id = demo
        .sandbox
        .world(|w| w.message_ids(demo.alice, Peer::User(demo.bob))[0]);
    let original = within("get", alice.client.get_messages_by_id(from_bob, &[bobs_id]))
        .await
        .expect("get")
        .remove(0)
        .expect("exists");
    let forwarded = within(
        "forward",
        alice
            .client
            .forward_messages(lounge_ref, &[bobs_id], from_bob),
    )
    .await
    .expect("forwarded");
    let in_lounge = forwarded[0].as_ref().expect("forwarded");
    assert_eq!(in_lounge.text(), original.text());
    let fwd = header(in_lounge);
    assert_eq!(
        fwd.from_id,
        Some(tl::types::PeerUser { user_id: demo.bob }.into())
    );
    assert_eq!(fwd.date, original.date().as_second() as i32);
    assert_eq!(fwd.channel_post, None);

    // A channel post names the channel and the post; forwarding the forward keeps that.
    let post = demo
        .sandbox
        .world(|w| w.message_ids(demo.alice, Peer::Channel(news))[0]);
    let to_bob = within(
        "forward",
        alice.client.forward_messages(from_bob, &[post], news_ref),
    )
    .await
    .expect("forwarded");
    let to_bob = to_bob[0].as_ref().expect("forwarded");
    let fwd = header(to_bob);
    assert_eq!(
        fwd.from_id,
        Some(tl::types::PeerChannel { channel_id: news }.into())
    );
    assert_eq!(fwd.channel_post, Some(post));
    // Bob also saw the first forward, in the supergroup; this one is in his private chat.
    let received = next_matching(&mut bob_updates, "forward", |u| match u {
        Update::NewMessage(m)
            if m.forward_header().is_some() && m.peer_id().bare_id() == Some(demo.alice) =>
        {
            Some(m.clone())
        }
        _ => None,
    })
    .await;
    assert_eq!(header(&received).channel_post, Some(post));

    let again = within(
        "forward",
        alice
            .client
            .forward_messages(lounge_ref, &[to_bob.id()], from_bob),
    )
    .await
    .expect("forwarded");
    let again = header(again[0].as_ref().expect("forwarded"));
    assert_eq!(
        again.from_id,
        Some(tl::types::PeerChannel { channel_id: news }.into())
    );
    assert_eq!(again.channel_post, Some(post));
}

fn forward_request(
    from: tl::enums::InputPeer,
    to: tl::enums::InputPeer,
    ids: Vec<i32>,
    random_ids: Vec<i64>,
    drop_author: bool,
) -> tl::functions::messages::ForwardMessages {
    tl::functions::messages::ForwardMessages {
        silent: false,
        background: false,
        with_my_score: false,
        drop_author,
        drop_media_captions: false,
        noforwards: false,
        allow_paid_floodskip: false,
        from_ephemeral: false,
        from_peer: from,
        id: ids,
        random_id: random_ids,
        to_peer: to,
        top_msg_id: None,
        reply_to: None,
        schedule_date: None,
        schedule_repeat_period: None,
        send_as: None,
        quick_reply_shortcut: None,
        effect: None,
        video_timestamp: None,
        allow_paid_stars: None,
        suggested_post: None,
    }
}

fn new_ids(updates: &tl::enums::Updates) -> Vec<(i64, i32)> {
    let tl::enums::Updates::Updates(updates) = updates else {
        panic!("expected updates, got {updates:?}");
    };
    updates
        .updates
        .iter()
        .filter_map(|u| match u {
            tl::enums::Update::MessageId(u) => Some((u.random_id, u.id)),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_repeated_forward_random_id_forwards_once_and_drop_author_leaves_no_header() {
    let demo = demo().await;
    let alice = signed_in(&demo.sandbox, demo.alice);
    let to_bob = dialog_ref(&alice.client, Peer::User(demo.bob)).await;
    let self_ref = tl::enums::InputPeer::PeerSelf;
    let ids = demo.sandbox.world(|w| {
        let mut ids = w.message_ids(demo.alice, Peer::User(demo.bob));
        ids.truncate(2);
        ids.reverse();
        ids
    });
    let before = demo
        .sandbox
        .world(|w| w.message_count(demo.alice, Peer::User(demo.alice)));

    let request = forward_request(
        to_bob.into(),
        self_ref.clone(),
        ids.clone(),
        vec![11, 12],
        false,
    );
    let first = within("forward", alice.client.invoke(&request))
        .await
        .expect("forwarded");
    let second = within("forward again", alice.client.invoke(&request))
        .await
        .expect("answered");
    assert_eq!(new_ids(&first).len(), 2);
    assert_eq!(new_ids(&first), new_ids(&second));
    let after = demo
        .sandbox
        .world(|w| w.message_count(demo.alice, Peer::User(demo.alice)));
    assert_eq!(after, before + 2);

    let anonymous = forward_request(
        to_bob.into(),
        self_ref.clone(),
        vec![ids[0]],
        vec![13],
        true,
    );
    let answer = within("forward", alice.client.invoke(&anonymous))
        .await
        .expect("forwarded");
    let tl::enums::Updates::Updates(answer) = answer else {
        panic!("expected updates");
    };
    let header = answer.updates.iter().find_map(|u| match u {
        tl::enums::Update::NewMessage(u) => match &u.message {
            tl::enums::Message::Message(m) => Some(m.fwd_from.clone()),
            _ => None,
        },
        _ => None,
    });
    assert_eq!(header, Some(None));

    let mismatched = forward_request(to_bob.into(), self_ref, vec![ids[0]], vec![], false);
    match within("forward", alice.client.invoke(&mismatched)).await {
        Err(error) => assert!(error.is("RANDOM_ID_INVALID"), "{error:?}"),
        Ok(_) => panic!("a forward without random ids was accepted"),
    }
}
