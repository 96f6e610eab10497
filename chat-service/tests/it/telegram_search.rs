//! Telegram's own search and the contact list at the chat service's boundary: asked
//! through `ChatService` (routed to the account's host) and through the host's own
//! `AccountHost`, with the real grammers client against the sandbox, on SQLite with the
//! in-process bus and on PostgreSQL with RabbitMQ.

use talkapp_common::ErrorCode;
use talkapp_proto::chat::v1 as proto;
use talkapp_tg_sandbox::{DEMO_PHONE, Peer};

use crate::support::{Backing, ChatApp, code_of};

fn search(account: &proto::AccountRef, query: &str) -> proto::SearchTelegramMessagesRequest {
    proto::SearchTelegramMessagesRequest {
        account: Some(account.clone()),
        query: query.into(),
        chat_id: None,
        from_date: None,
        to_date: None,
        sender_id: None,
        filter: None,
        limit: 20,
        offset: None,
    }
}

async fn telegram_finds_what_the_cache_lacks_and_names_it_and_lists_contacts(backing: Backing) {
    let app = ChatApp::start(backing).await;
    let account = app.link(DEMO_PHONE).await;
    app.chats_once_cached(&account).await;
    let (alice, bob) = app.sandbox.world(|world| {
        (
            world.user_by_phone("9996620001").expect("alice"),
            world.user_by_phone("9996620002").expect("bob"),
        )
    });
    let date = i32::try_from(chrono::Utc::now().timestamp()).expect("date") - 40 * 86_400;
    app.sandbox.update_world(|world| {
        world
            .send_text_at(bob, Peer::User(alice), "Arxivdagi hujjat", None, date)
            .expect("an old message")
    });

    let routed = app
        .client
        .clone()
        .search_telegram_messages(search(&account, "arxivdagi"))
        .await
        .expect("searched through the router")
        .into_inner();
    let hosted = app
        .host_client
        .clone()
        .search_telegram_messages(proto::SearchTelegramMessagesRequest {
            chat_id: Some(bob),
            from_date: Some(i64::from(date)),
            to_date: Some(i64::from(date)),
            ..search(&account, "arxivdagi")
        })
        .await
        .expect("searched by the host")
        .into_inner();
    let outside = app
        .client
        .clone()
        .search_telegram_messages(proto::SearchTelegramMessagesRequest {
            from_date: Some(i64::from(date) + 1),
            ..search(&account, "arxivdagi")
        })
        .await
        .expect("searched")
        .into_inner();

    assert_eq!(routed.messages.len(), 1, "{routed:?}");
    assert_eq!(routed.messages[0].chat_id, bob);
    assert_eq!(hosted.messages, routed.messages, "inclusive date edges");
    assert!(outside.messages.is_empty(), "a second later excludes it");

    let contacts = app
        .client
        .clone()
        .list_contacts(proto::ListContactsRequest {
            account: Some(account.clone()),
        })
        .await
        .expect("contacts")
        .into_inner()
        .contacts;
    let bob_contact = contacts
        .iter()
        .find(|contact| {
            contact
                .user
                .as_ref()
                .is_some_and(|user| user.id == bob.to_string())
        })
        .expect("Bob is a contact");
    assert_eq!(contacts.len(), 3, "Bob, Carol and Dave");
    assert!(bob_contact.mutual);
    assert_eq!(
        bob_contact
            .user
            .as_ref()
            .map(|user| user.first_name.as_str()),
        Some("Bob")
    );
    assert!(
        bob_contact
            .presence
            .as_ref()
            .is_some_and(|presence| !presence.status.is_empty())
    );
    let refs = app
        .host_client
        .clone()
        .list_contacts(proto::ListContactsRequest {
            account: Some(account.clone()),
        })
        .await
        .expect("contact refs")
        .into_inner()
        .contacts;
    assert_eq!(refs.len(), 3);

    for bad in [
        search(&account, " "),
        search(&account, &"a".repeat(257)),
        proto::SearchTelegramMessagesRequest {
            limit: 0,
            ..search(&account, "x")
        },
        proto::SearchTelegramMessagesRequest {
            filter: Some("sticker".into()),
            ..search(&account, "x")
        },
        proto::SearchTelegramMessagesRequest {
            from_date: Some(10),
            to_date: Some(5),
            ..search(&account, "x")
        },
        proto::SearchTelegramMessagesRequest {
            offset: Some(proto::search_telegram_messages_request::Offset {
                date: i64::from(date),
                chat_id: bob,
                message_id: 0,
            }),
            ..search(&account, "x")
        },
        proto::SearchTelegramMessagesRequest {
            offset: Some(proto::search_telegram_messages_request::Offset {
                date: -1,
                chat_id: bob,
                message_id: 5,
            }),
            ..search(&account, "x")
        },
    ] {
        let refused = app
            .client
            .clone()
            .search_telegram_messages(bad)
            .await
            .expect_err("refused");
        assert_eq!(code_of(&refused), ErrorCode::ValidationFailed);
    }

    app.sandbox.set_flood_wait(alice, Some(9));
    let waited = app
        .client
        .clone()
        .search_telegram_messages(search(&account, "arxivdagi"))
        .await
        .expect_err("Telegram asks to wait");
    assert_eq!(code_of(&waited), ErrorCode::TelegramFloodWait);
    assert_eq!(
        talkapp_common::error_code::retry_after_secs(&waited),
        Some(9)
    );
    app.sandbox.set_flood_wait(alice, None);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_telegram_finds_what_the_cache_lacks_and_names_it_and_lists_contacts() {
    telegram_finds_what_the_cache_lacks_and_names_it_and_lists_contacts(Backing::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_telegram_finds_what_the_cache_lacks_and_names_it_and_lists_contacts() {
    telegram_finds_what_the_cache_lacks_and_names_it_and_lists_contacts(Backing::Servers).await;
}
