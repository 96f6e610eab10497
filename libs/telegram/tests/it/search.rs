//! `Account::search_messages` paging with Telegram's own offsets: more hits in one second
//! than a page holds, in one chat (`messages.search`, `offset_id`) and across chats
//! (`messages.searchGlobal`, `offset_rate` / `offset_peer` / `offset_id`), each hit once.

use std::collections::HashSet;

use talkapp_telegram::search::{MessageSearch, SearchOffset};
use talkapp_tg_sandbox::{DEMO_PHONE, Peer};

use crate::{SignedIn, signed_in, within};

/// Where the test's messages are: Bob's chat with Alice, the demo group, the demo
/// supergroup (as Bot-API chat ids, the account's view).
struct Chats {
    bob: i64,
    friends: i64,
    lounge: i64,
}

/// Writes straight into Telegram's world (no update reaches the account): 2 messages from
/// Bob in one second, 7 in the next and 1 in the one after, in his chat with Alice;
/// 3 in the same second in the group and 3 in the supergroup. Returns the chats and the
/// shared second.
fn crowded_second(signed: &SignedIn) -> (Chats, i64) {
    let date: i32 = 1_700_000_000;
    signed.sandbox.update_world(|world| {
        let alice = world.user_by_phone(DEMO_PHONE).expect("alice");
        let bob = world.user_by_phone("+9996620002").expect("bob");
        let titled = |ids: Vec<i64>, peer: fn(i64) -> Peer, title: &str| {
            ids.into_iter()
                .find(|id| world.title(peer(*id)) == Some(title))
                .unwrap_or_else(|| panic!("no chat titled {title}"))
        };
        let friends = titled(world.basic_group_ids(), Peer::Chat, "Sandbox Friends");
        let lounge = titled(world.channel_ids(), Peer::Channel, "Sandbox Lounge");
        let mut sent = 0;
        let mut send = |to: Peer, at: i32| {
            sent += 1;
            world
                .send_text_at(bob, to, &format!("kvartal hisoboti {sent}"), None, at)
                .expect("sent");
        };
        // In sending order, as Telegram numbers a chat's messages.
        send(Peer::User(alice), date - 1);
        send(Peer::User(alice), date - 1);
        for _ in 0..7 {
            send(Peer::User(alice), date);
        }
        send(Peer::User(alice), date + 1);
        for _ in 0..3 {
            send(Peer::Chat(friends), date);
            send(Peer::Channel(lounge), date);
        }
        (
            Chats {
                bob,
                friends: -friends,
                lounge: -1_000_000_000_000 - lounge,
            },
            i64::from(date),
        )
    })
}

/// Every page of `search`, each continuing after the previous page's last hit, as
/// (date, chat, id, text) in the order they came.
async fn every_page(signed: &SignedIn, search: MessageSearch) -> Vec<(i64, i64, i32, String)> {
    let mut hits = Vec::new();
    let mut offset = None;
    for _ in 0..30 {
        let page = within(
            "search",
            signed.account.search_messages(&MessageSearch {
                offset,
                ..search.clone()
            }),
        )
        .await
        .expect("searched");
        let Some(last) = page.messages.last() else {
            return hits;
        };
        offset = Some(SearchOffset {
            date: last.date,
            chat_id: last.chat_id,
            message_id: last.id,
        });
        hits.extend(page.messages.iter().map(|message| {
            (
                message.date,
                message.chat_id,
                message.id,
                message.text.clone(),
            )
        }));
    }
    panic!("30 pages and still more: {hits:?}");
}

fn assert_each_once_newest_first(hits: &[(i64, i64, i32, String)], expected: usize) {
    let texts: HashSet<&str> = hits.iter().map(|hit| hit.3.as_str()).collect();
    assert_eq!(texts.len(), hits.len(), "a hit came twice: {hits:?}");
    assert_eq!(hits.len(), expected, "a hit was skipped: {hits:?}");
    let order: Vec<(i64, i64, i32)> = hits.iter().map(|hit| (hit.0, hit.1, hit.2)).collect();
    let mut newest_first = order.clone();
    newest_first.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(order, newest_first, "newest first by (date, chat, id)");
}

#[tokio::test]
async fn one_chats_pages_continue_below_the_last_hits_id_through_a_crowded_second() {
    let signed = signed_in(DEMO_PHONE).await;
    let (chats, date) = crowded_second(&signed);

    let hits = every_page(
        &signed,
        MessageSearch {
            text: "kvartal".into(),
            chat_id: Some(chats.bob),
            limit: 3,
            ..MessageSearch::default()
        },
    )
    .await;

    assert_each_once_newest_first(&hits, 10);
    assert!(hits.iter().all(|hit| hit.1 == chats.bob));
    assert_eq!(hits.iter().filter(|hit| hit.0 == date).count(), 7);

    // A date bound still applies with an offset: up to the crowded second only.
    let bounded = every_page(
        &signed,
        MessageSearch {
            text: "kvartal".into(),
            chat_id: Some(chats.bob),
            to_date: Some(date),
            limit: 4,
            ..MessageSearch::default()
        },
    )
    .await;
    assert_each_once_newest_first(&bounded, 9);
}

#[tokio::test]
async fn global_pages_continue_after_the_last_hits_date_chat_and_id_across_chats() {
    let signed = signed_in(DEMO_PHONE).await;
    let (chats, date) = crowded_second(&signed);

    let hits = every_page(
        &signed,
        MessageSearch {
            text: "kvartal".into(),
            limit: 4,
            ..MessageSearch::default()
        },
    )
    .await;

    assert_each_once_newest_first(&hits, 16);
    let in_second: HashSet<i64> = hits
        .iter()
        .filter(|hit| hit.0 == date)
        .map(|hit| hit.1)
        .collect();
    assert_eq!(
        in_second,
        HashSet::from([chats.bob, chats.friends, chats.lounge]),
        "the crowded second spans the three chats"
    );
}

#[tokio::test]
async fn an_offset_in_a_chat_the_account_cannot_name_falls_back_to_its_second() {
    let signed = signed_in(DEMO_PHONE).await;
    let (_, date) = crowded_second(&signed);

    // A chat id the session never saw: only the offset's second bounds the page.
    let page = within(
        "search",
        signed.account.search_messages(&MessageSearch {
            text: "kvartal".into(),
            limit: 100,
            offset: Some(SearchOffset {
                date,
                chat_id: 777_777,
                message_id: 1,
            }),
            ..MessageSearch::default()
        }),
    )
    .await
    .expect("searched");

    assert_eq!(page.messages.len(), 15, "all but the one a second later");
    assert!(page.messages.iter().all(|message| message.date <= date));
}
