//! Linking, reads and sends through the service's gRPC API.

use std::time::{Duration, Instant};

use talkapp_common::ErrorCode;
use talkapp_proto::chat::v1 as proto;
use talkapp_tg_sandbox::{DEMO_PHONE, Peer};
use talkapp_views::cached_reads::ReadError;

use crate::support::{Backing, ChatApp, code_of};

async fn a_linked_accounts_chats_and_history_are_served(backing: Backing) {
    let app = ChatApp::start(backing).await;
    let account = app.link(DEMO_PHONE).await;

    // The backfill caches the chat list before the chats' messages: wait for both.
    let deadline = Instant::now() + Duration::from_secs(20);
    let private = loop {
        let chats = app.chats_once_cached(&account).await;
        if let Some(private) = chats
            .into_iter()
            .find(|chat| chat.kind == "private" && chat.last_message.is_some())
        {
            break private;
        }
        assert!(
            Instant::now() < deadline,
            "no private chat with a message was cached"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // The backfill may still be writing the chat's messages when the list first shows
    // it: the history comes to agree with the list.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let history = app
            .client
            .clone()
            .get_history(proto::GetHistoryRequest {
                account: Some(account.clone()),
                chat_id: private.chat_id.clone(),
                limit: Some(10),
                ..proto::GetHistoryRequest::default()
            })
            .await
            .expect("history")
            .into_inner();
        let newest = history.messages.first().map(|message| message.id);
        if !history.messages.is_empty()
            && newest == private.last_message.as_ref().map(|message| message.id)
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the history's newest message {newest:?} is not the chat's last message {:?}",
            private.last_message.as_ref().map(|message| message.id)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_a_linked_accounts_chats_and_history_are_served() {
    a_linked_accounts_chats_and_history_are_served(Backing::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_a_linked_accounts_chats_and_history_are_served() {
    a_linked_accounts_chats_and_history_are_served(Backing::Servers).await;
}

async fn a_send_asked_twice_is_one_job_and_one_telegram_message(backing: Backing) {
    let app = ChatApp::start(backing).await;
    let account = app.link(DEMO_PHONE).await;
    let chats = app.chats_once_cached(&account).await;
    let chat = chats
        .iter()
        .find(|chat| chat.kind == "private")
        .expect("a private chat");
    let peer: i64 = chat.chat_id.parse().expect("chat id");
    let alice = app
        .sandbox
        .user_by_phone(DEMO_PHONE)
        .expect("the demo account")
        .id;
    let text = format!("boundary test {}", uuid::Uuid::new_v4());
    let request = proto::SendMessageRequest {
        account: Some(account.clone()),
        chat_id: chat.chat_id.clone(),
        text: text.clone(),
        client_message_id: Some("boundary-1".into()),
        ..proto::SendMessageRequest::default()
    };

    let first = app
        .client
        .clone()
        .send_message(request.clone())
        .await
        .expect("queued")
        .into_inner();
    let again = app
        .client
        .clone()
        .send_message(request)
        .await
        .expect("the same job")
        .into_inner();

    assert_eq!(first.job_id, again.job_id);
    let deadline = Instant::now() + Duration::from_secs(20);
    let sent = loop {
        let job = app
            .client
            .clone()
            .get_message_status(proto::GetMessageStatusRequest {
                account: Some(account.clone()),
                job_id: first.job_id.clone(),
            })
            .await
            .expect("status")
            .into_inner();
        if job.status == "sent" {
            break job;
        }
        assert!(Instant::now() < deadline, "not sent in 20 s: {job:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let copies = app.sandbox.world(|world| {
        world
            .message_ids(alice, Peer::User(peer))
            .into_iter()
            .filter(|id| world.message_text(alice, Peer::User(peer), *id) == Some(text.as_str()))
            .count()
    });
    assert_eq!(copies, 1, "Telegram holds the message exactly once");
    assert!(sent.message_id.is_some_and(|id| id > 0));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_a_send_asked_twice_is_one_job_and_one_telegram_message() {
    a_send_asked_twice_is_one_job_and_one_telegram_message(Backing::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_a_send_asked_twice_is_one_job_and_one_telegram_message() {
    a_send_asked_twice_is_one_job_and_one_telegram_message(Backing::Servers).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_naming_no_account_or_an_unknown_one_are_refused_with_stable_codes() {
    let app = ChatApp::start(Backing::Embedded).await;
    let mut client = app.client.clone();

    let no_session = client
        .get_history(proto::GetHistoryRequest {
            chat_id: "1".into(),
            ..proto::GetHistoryRequest::default()
        })
        .await
        .expect_err("refused");
    let bad_user = client
        .get_history(proto::GetHistoryRequest {
            account: Some(proto::AccountRef {
                user_id: "not-a-uuid".into(),
                session_index: 1,
            }),
            chat_id: "1".into(),
            ..proto::GetHistoryRequest::default()
        })
        .await
        .expect_err("refused");
    let unknown = client
        .get_history(proto::GetHistoryRequest {
            account: Some(proto::AccountRef {
                user_id: uuid::Uuid::new_v4().to_string(),
                session_index: 1,
            }),
            chat_id: "1".into(),
            ..proto::GetHistoryRequest::default()
        })
        .await
        .expect_err("refused");
    let bad_action = client
        .send_chat_action(proto::SendChatActionRequest {
            account: Some(app.link(DEMO_PHONE).await),
            chat_id: "1".into(),
            action: "dancing".into(),
        })
        .await
        .expect_err("refused");

    assert_eq!(code_of(&no_session), ErrorCode::ValidationFailed);
    assert_eq!(code_of(&bad_user), ErrorCode::ValidationFailed);
    assert_eq!(code_of(&unknown), ErrorCode::NotFound);
    assert_eq!(code_of(&bad_action), ErrorCode::ValidationFailed);
    app.stop().await;
}

/// The chat list's filters and pages, read from the cache the service fills: `archived`
/// (the sandbox archives no chat, so only `false` finds any), `limit` 1 to 100 (0 is
/// refused, not read as "the default"), and the last page has no cursor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chat_lists_filters_apply_and_its_last_page_has_no_cursor() {
    let app = ChatApp::start(Backing::Embedded).await;
    let account = app.link(DEMO_PHONE).await;
    let cached = app.chats_once_cached(&account).await;

    let archived = app
        .chat_page(&account, Some(true), Some(100))
        .await
        .expect("archived chats");
    assert!(archived.chats.is_empty(), "{archived:?}");
    let not_archived = app
        .chat_page(&account, Some(false), Some(100))
        .await
        .expect("chats");
    assert!(!not_archived.chats.is_empty());
    assert_eq!(not_archived.next_cursor, None);

    let first = app
        .chat_page(&account, None, Some(1))
        .await
        .expect("a page of one");
    assert_eq!(first.chats.len(), 1);
    // The list only grows while the backfill runs: more than one chat cached, a next page.
    assert!(first.next_cursor.is_some() || cached.len() <= 1);

    let zero = app
        .chat_page(&account, None, Some(0))
        .await
        .expect_err("limit 0 is refused");
    assert!(matches!(zero, ReadError::Invalid(_)), "{zero:?}");
    app.stop().await;
}
