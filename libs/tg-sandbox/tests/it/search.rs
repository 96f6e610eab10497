//! messages.search, messages.searchGlobal and contacts.search.

use grammers_tl_types as tl;
use talkapp_tg_sandbox::{DEMO_PHONE, Peer};

use crate::support::{channel_titled, demo, dialog_ref, group_titled, signed_in, within};

fn search_request(peer: tl::enums::InputPeer, q: &str) -> tl::functions::messages::Search {
    tl::functions::messages::Search {
        peer,
        q: q.to_owned(),
        from_id: None,
        saved_peer_id: None,
        saved_reaction: None,
        top_msg_id: None,
        filter: tl::enums::MessagesFilter::InputMessagesFilterEmpty,
        min_date: 0,
        max_date: 0,
        offset_id: 0,
        add_offset: 0,
        limit: 100,
        max_id: 0,
        min_id: 0,
        hash: 0,
    }
}

/// (count, texts) of a messages.Messages answer.
fn texts(answer: tl::enums::messages::Messages) -> (i32, Vec<String>) {
    let (count, messages) = match answer {
        tl::enums::messages::Messages::Messages(m) => (m.messages.len() as i32, m.messages),
        tl::enums::messages::Messages::Slice(m) => (m.count, m.messages),
        tl::enums::messages::Messages::ChannelMessages(m) => (m.count, m.messages),
        tl::enums::messages::Messages::NotModified(m) => (m.count, Vec::new()),
    };
    let texts = messages
        .into_iter()
        .filter_map(|m| match m {
            tl::enums::Message::Message(m) => Some(m.message),
            _ => None,
        })
        .collect();
    (count, texts)
}

#[tokio::test]
async fn searching_a_chat_matches_text_sender_dates_and_media_filters() {
    let demo = demo().await;
    let alice = signed_in(&demo.sandbox, demo.alice);
    for (from, to, text) in [
        (demo.alice, Peer::User(demo.bob), "Quarterly REPORT draft"),
        (demo.bob, Peer::User(demo.alice), "the report, final"),
        (
            demo.bob,
            Peer::User(demo.alice),
            "see https://example.org/report",
        ),
    ] {
        demo.sandbox.send_message(from, to, text).expect("sent");
    }
    let to_bob = dialog_ref(&alice.client, Peer::User(demo.bob)).await;

    // Through grammers' iterator: case-insensitive, newest first, with the count.
    let mut found = alice.client.search_messages(to_bob).query("report");
    assert_eq!(within("total", found.total()).await.expect("total"), 3);
    let mut found = alice.client.search_messages(to_bob).query("report");
    let mut seen = Vec::new();
    while let Some(message) = within("search", found.next()).await.expect("search") {
        seen.push(message.text().to_owned());
    }
    assert_eq!(
        seen,
        [
            "see https://example.org/report",
            "the report, final",
            "Quarterly REPORT draft"
        ]
    );

    // Paging: one at a time by offset_id, with the total count on each page.
    let mut request = search_request(to_bob.into(), "report");
    request.limit = 1;
    let (count, first) = texts(
        within("page", alice.client.invoke(&request))
            .await
            .expect("page"),
    );
    assert_eq!((count, first.len()), (3, 1));
    let newest = demo
        .sandbox
        .world(|w| w.message_ids(demo.alice, Peer::User(demo.bob))[0]);
    request.offset_id = newest;
    let (_, second) = texts(
        within("page", alice.client.invoke(&request))
            .await
            .expect("page"),
    );
    assert_eq!(second, ["the report, final"]);

    // Only Bob's, only since a date, and by filter.
    let mut from_bob = search_request(to_bob.into(), "report");
    from_bob.from_id = Some(to_bob.into());
    let (count, _) = texts(
        within("from", alice.client.invoke(&from_bob))
            .await
            .expect("from"),
    );
    assert_eq!(count, 2);
    let mut future = search_request(to_bob.into(), "");
    future.min_date = i32::MAX - 10;
    assert_eq!(
        texts(
            within("dates", alice.client.invoke(&future))
                .await
                .expect("dates")
        )
        .0,
        0
    );

    let by_filter = |filter: tl::enums::MessagesFilter| {
        let mut request = search_request(to_bob.into(), "");
        request.filter = filter;
        request
    };
    use tl::enums::MessagesFilter as F;
    let cases = [
        (F::InputMessagesFilterPhotos, vec!["Holiday picture"]),
        (F::InputMessagesFilterDocument, vec!["Notes from today"]),
        (F::InputMessagesFilterVoice, vec![""]),
        (
            F::InputMessagesFilterUrl,
            vec!["see https://example.org/report"],
        ),
        (F::InputMessagesFilterVideo, vec!["A short clip"]),
    ];
    for (filter, expected) in cases {
        let label = format!("{filter:?}");
        let (_, found) = texts(
            within("filter", alice.client.invoke(&by_filter(filter)))
                .await
                .expect("filtered"),
        );
        assert_eq!(found, expected, "{label}");
    }
}

/// A search with `limit` 0 only counts: a `messages.messagesSlice` with the count and no
/// messages, even when nothing matches (a full `messages.messages` would say "all of
/// them" with a count of its length); `messages.getHistory` answers a whole chat with
/// `messages.messages`. Both go through one page renderer; only search passes `limit`.
#[tokio::test]
async fn a_count_only_search_answers_a_slice_and_a_whole_history_a_full_list() {
    let demo = demo().await;
    let alice = signed_in(&demo.sandbox, demo.alice);
    demo.sandbox
        .send_message(demo.bob, Peer::User(demo.alice), "count me, count me")
        .expect("sent");
    let to_bob = dialog_ref(&alice.client, Peer::User(demo.bob)).await;
    for (q, expected_count) in [("count", 1), ("nowhere-to-be-found", 0)] {
        let mut request = search_request(to_bob.into(), q);
        request.limit = 0;
        let answer = within("count", alice.client.invoke(&request))
            .await
            .expect("count");
        let tl::enums::messages::Messages::Slice(slice) = answer else {
            panic!("a count-only search of {q:?} answered {answer:?}");
        };
        assert_eq!(
            (slice.count, slice.messages.len()),
            (expected_count, 0),
            "{q}"
        );
    }
    let history = within(
        "history",
        alice.client.invoke(&tl::functions::messages::GetHistory {
            peer: to_bob.into(),
            offset_id: 0,
            offset_date: 0,
            add_offset: 0,
            limit: 100,
            max_id: 0,
            min_id: 0,
            hash: 0,
        }),
    )
    .await
    .expect("history");
    let tl::enums::messages::Messages::Messages(whole) = history else {
        panic!("a whole history answered {history:?}");
    };
    assert!(!whole.messages.is_empty());
}

fn global_request(q: &str, limit: i32) -> tl::functions::messages::SearchGlobal {
    tl::functions::messages::SearchGlobal {
        broadcasts_only: false,
        groups_only: false,
        users_only: false,
        folder_id: None,
        community: None,
        q: q.to_owned(),
        filter: tl::enums::MessagesFilter::InputMessagesFilterEmpty,
        min_date: 0,
        max_date: 0,
        offset_rate: 0,
        offset_peer: tl::enums::InputPeer::Empty,
        offset_id: 0,
        limit,
    }
}

#[tokio::test]
async fn global_search_pages_across_chats_by_rate_peer_and_id() {
    let demo = demo().await;
    let friends = group_titled(&demo.sandbox, "Sandbox Friends");
    let lounge = channel_titled(&demo.sandbox, "Sandbox Lounge");
    for to in [
        Peer::User(demo.alice),
        Peer::Chat(friends),
        Peer::Channel(lounge),
    ] {
        demo.sandbox
            .send_message(demo.bob, to, &format!("zebra crossing in {to:?}"))
            .expect("sent");
    }
    let alice = signed_in(&demo.sandbox, demo.alice);

    let first = within("global", alice.client.invoke(&global_request("ZEBRA", 2)))
        .await
        .expect("global");
    let tl::enums::messages::Messages::Slice(first) = first else {
        panic!("a global search answers with a slice");
    };
    assert_eq!((first.count, first.messages.len()), (3, 2));
    let next_rate = first.next_rate.expect("more to come");
    let last = first.messages.last().expect("a message");
    let (last_id, last_peer) = match last {
        tl::enums::Message::Message(m) => (m.id, m.peer_id.clone()),
        other => panic!("{other:?}"),
    };
    let offset_peer = match last_peer {
        tl::enums::Peer::User(u) => dialog_ref(&alice.client, Peer::User(u.user_id)).await,
        tl::enums::Peer::Chat(c) => dialog_ref(&alice.client, Peer::Chat(c.chat_id)).await,
        tl::enums::Peer::Channel(c) => dialog_ref(&alice.client, Peer::Channel(c.channel_id)).await,
    };
    let mut second = global_request("zebra", 2);
    second.offset_rate = next_rate;
    second.offset_peer = offset_peer.into();
    second.offset_id = last_id;
    let second = within("global", alice.client.invoke(&second))
        .await
        .expect("global");
    let tl::enums::messages::Messages::Slice(second) = second else {
        panic!("a global search answers with a slice");
    };
    assert_eq!((second.messages.len(), second.next_rate), (1, None));

    let mut users_only = global_request("zebra", 10);
    users_only.users_only = true;
    assert_eq!(
        texts(
            within("users", alice.client.invoke(&users_only))
                .await
                .expect("g")
        )
        .0,
        1
    );
    let mut groups_only = global_request("zebra", 10);
    groups_only.groups_only = true;
    assert_eq!(
        texts(
            within("groups", alice.client.invoke(&groups_only))
                .await
                .expect("g")
        )
        .0,
        2
    );
    match within("empty", alice.client.invoke(&global_request(" ", 10))).await {
        Err(error) => assert!(error.is("SEARCH_QUERY_EMPTY"), "{error:?}"),
        Ok(_) => panic!("an empty global search was answered"),
    }
}

fn found(answer: tl::enums::contacts::Found) -> (Vec<tl::enums::Peer>, Vec<tl::enums::Peer>) {
    let tl::enums::contacts::Found::Found(found) = answer;
    (found.my_results, found.results)
}

#[tokio::test]
async fn contact_search_puts_the_accounts_own_matches_apart_from_public_ones() {
    let demo = demo().await;
    let lounge = channel_titled(&demo.sandbox, "Sandbox Lounge");
    let carol = demo
        .sandbox
        .world(|w| {
            w.user_ids()
                .into_iter()
                .find(|id| w.user(*id).is_some_and(|u| u.first_name == "Carol"))
        })
        .expect("carol");
    let carol_client = signed_in(&demo.sandbox, carol);
    let search = |q: &str| tl::functions::contacts::Search {
        broadcasts: false,
        bots: false,
        q: q.to_owned(),
        limit: 10,
    };

    // Alice is Carol's contact: found by first name among Carol's own results.
    let (mine, public) = found(
        within("search", carol_client.client.invoke(&search("ali")))
            .await
            .expect("search"),
    );
    assert_eq!(
        mine,
        [tl::types::PeerUser {
            user_id: demo.alice
        }
        .into()]
    );
    assert!(public.is_empty());
    // Bob is not: found only by his public username.
    let (mine, public) = found(
        within("search", carol_client.client.invoke(&search("@bob_sand")))
            .await
            .expect("search"),
    );
    assert!(mine.is_empty());
    assert_eq!(public, [tl::types::PeerUser { user_id: demo.bob }.into()]);
    // Dave is neither a contact nor public: his name alone does not find him.
    let (mine, public) = found(
        within("search", carol_client.client.invoke(&search("Dave")))
            .await
            .expect("search"),
    );
    assert!(mine.is_empty() && public.is_empty());
    // A supergroup Carol is in, by a word of its title.
    let (mine, _) = found(
        within("search", carol_client.client.invoke(&search("lounge")))
            .await
            .expect("search"),
    );
    assert_eq!(mine, [tl::types::PeerChannel { channel_id: lounge }.into()]);

    let alice = signed_in(&demo.sandbox, demo.alice);
    let (mine, _) = found(
        within("search", alice.client.invoke(&search("sand")))
            .await
            .expect("search"),
    );
    assert!(
        mine.contains(&tl::types::PeerUser { user_id: demo.bob }.into()),
        "{mine:?}"
    );
    assert!(
        !mine.contains(
            &tl::types::PeerUser {
                user_id: demo.alice
            }
            .into()
        )
    );
    let _ = DEMO_PHONE;
}

#[tokio::test]
async fn date_bounds_are_exclusive_as_telegrams() {
    let demo = demo().await;
    let alice = signed_in(&demo.sandbox, demo.alice);
    let date = 1_700_000_000;
    demo.sandbox.update_world(|world| {
        world
            .send_text_at(demo.bob, Peer::User(demo.alice), "dated edge", None, date)
            .expect("sent")
    });
    let to_bob = dialog_ref(&alice.client, Peer::User(demo.bob)).await;
    for (min_date, max_date, expected) in [
        (date - 1, date + 1, 1),
        (date, 0, 0),
        (0, date, 0),
        (date - 1, 0, 1),
        (0, date + 1, 1),
    ] {
        let mut request = search_request(to_bob.into(), "dated edge");
        request.min_date = min_date;
        request.max_date = max_date;
        let (count, _) = texts(
            within("dates", alice.client.invoke(&request))
                .await
                .expect("dates"),
        );
        assert_eq!(count, expected, "min {min_date} max {max_date}");
    }
}

/// (peer, id) of each message of a messages.Messages answer, and its next_rate.
fn peers_and_ids(
    answer: tl::enums::messages::Messages,
) -> (Vec<(tl::enums::Peer, i32)>, Option<i32>) {
    let tl::enums::messages::Messages::Slice(slice) = answer else {
        panic!("a global search answers with a slice");
    };
    let found = slice
        .messages
        .into_iter()
        .filter_map(|m| match m {
            tl::enums::Message::Message(m) => Some((m.peer_id, m.id)),
            _ => None,
        })
        .collect();
    (found, slice.next_rate)
}

#[tokio::test]
async fn global_search_breaks_ties_in_a_second_by_dialog_id_then_id_and_pages_through_them() {
    let demo = demo().await;
    let friends = group_titled(&demo.sandbox, "Sandbox Friends");
    let lounge = channel_titled(&demo.sandbox, "Sandbox Lounge");
    let date = 1_700_000_000;
    demo.sandbox.update_world(|world| {
        for to in [
            Peer::Channel(lounge),
            Peer::Chat(friends),
            Peer::User(demo.alice),
            Peer::Channel(lounge),
            Peer::Chat(friends),
            Peer::User(demo.alice),
        ] {
            world
                .send_text_at(demo.bob, to, "same second tie", None, date)
                .expect("sent");
        }
    });
    let alice = signed_in(&demo.sandbox, demo.alice);

    // Everything at once: the private chat (a positive dialog id) first, then the group
    // (-id), then the channel (-100…), each newest id first.
    let (all, next_rate) = peers_and_ids(
        within(
            "global",
            alice.client.invoke(&global_request("same second tie", 100)),
        )
        .await
        .expect("global"),
    );
    assert_eq!(next_rate, None);
    let peers: Vec<tl::enums::Peer> = all.iter().map(|(peer, _)| peer.clone()).collect();
    let user = tl::enums::Peer::from(tl::types::PeerUser { user_id: demo.bob });
    let chat = tl::enums::Peer::from(tl::types::PeerChat { chat_id: friends });
    let channel = tl::enums::Peer::from(tl::types::PeerChannel { channel_id: lounge });
    assert_eq!(
        peers,
        [
            user.clone(),
            user,
            chat.clone(),
            chat,
            channel.clone(),
            channel
        ]
    );
    assert!(all[0].1 > all[1].1 && all[2].1 > all[3].1 && all[4].1 > all[5].1);

    // Two a page, each continuing after the last hit: the same six, once each, in order.
    let mut paged = Vec::new();
    let mut request = global_request("same second tie", 2);
    loop {
        let (page, next_rate) = peers_and_ids(
            within("global", alice.client.invoke(&request))
                .await
                .expect("global"),
        );
        paged.extend(page.iter().cloned());
        let Some(next_rate) = next_rate else {
            break;
        };
        assert_eq!(next_rate, date, "the rate is the last hit's date");
        let (last_peer, last_id) = page.last().cloned().expect("a hit");
        let offset_peer = match last_peer {
            tl::enums::Peer::User(u) => dialog_ref(&alice.client, Peer::User(u.user_id)).await,
            tl::enums::Peer::Chat(c) => dialog_ref(&alice.client, Peer::Chat(c.chat_id)).await,
            tl::enums::Peer::Channel(c) => {
                dialog_ref(&alice.client, Peer::Channel(c.channel_id)).await
            }
        };
        request.offset_rate = next_rate;
        request.offset_peer = offset_peer.into();
        request.offset_id = last_id;
        assert!(paged.len() <= all.len(), "pages repeat: {paged:?}");
    }
    assert_eq!(paged, all);
}
