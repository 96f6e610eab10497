//! `talkapp.chat.v1.AccountHost`: what a replica serves to the others for the accounts it
//! hosts, and only for those (a call is never passed on a second time).

use talkapp_common::ErrorCode;
use talkapp_proto::chat::v1 as proto;
use talkapp_tg_sandbox::DEMO_PHONE;

use crate::support::{Backing, ChatApp, code_of};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_serves_host_calls_for_its_own_accounts() {
    let app = ChatApp::start(Backing::Embedded).await;
    let account = app.link(DEMO_PHONE).await;
    let chats = app.chats_once_cached(&account).await;
    let group: i64 = chats
        .iter()
        .find(|chat| chat.kind == "group")
        .expect("a basic group")
        .chat_id
        .parse()
        .expect("chat id");
    let private: i64 = chats
        .iter()
        .find(|chat| chat.kind == "private")
        .expect("a private chat")
        .chat_id
        .parse()
        .expect("chat id");

    let details = app
        .host_client
        .clone()
        .fetch_chat_details(proto::FetchChatDetailsRequest {
            account: Some(account.clone()),
            chat_id: group,
        })
        .await
        .expect("details from Telegram")
        .into_inner();
    let older = app
        .host_client
        .clone()
        .fetch_older_history(proto::FetchOlderHistoryRequest {
            account: Some(account.clone()),
            chat_id: private,
            below_id: None,
            down_to_date: None,
            limit: 5,
        })
        .await
        .expect("older history fetched")
        .into_inner();

    assert!(
        details.members_count.is_some_and(|members| members >= 2),
        "a group's member count comes from Telegram: {details:?}"
    );
    assert!(older.stored > 0, "the newest messages were stored");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_that_does_not_host_an_account_says_so_instead_of_passing_the_call_on() {
    let app = ChatApp::start(Backing::Embedded).await;
    let elsewhere = proto::AccountRef {
        user_id: uuid::Uuid::new_v4().to_string(),
        session_index: 1,
    };

    let refused = app
        .host_client
        .clone()
        .mark_read(proto::MarkReadRequest {
            account: Some(elsewhere),
            chat_id: "42".into(),
            max_id: None,
        })
        .await
        .expect_err("not hosted here");

    assert_eq!(code_of(&refused), ErrorCode::TelegramUnavailable);
    assert!(
        talkapp_common::error_code::retry_after_secs(&refused).is_some(),
        "the caller is told when to try again"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_calls_take_chat_service_messages_and_check_their_ids_as_it_does() {
    let app = ChatApp::start(Backing::Embedded).await;
    let account = app.link(DEMO_PHONE).await;
    let chats = app.chats_once_cached(&account).await;
    let group = chats
        .iter()
        .find(|chat| chat.kind == "group")
        .expect("a basic group")
        .chat_id
        .clone();
    let mut host = app.host_client.clone();

    host.unpin_all_messages(proto::UnpinAllMessagesRequest {
        account: Some(account.clone()),
        chat_id: group,
    })
    .await
    .expect("a chat id as ChatService sends it");
    let own = host
        .fetch_own_profile(proto::GetOwnProfileRequest {
            account: Some(account.clone()),
        })
        .await
        .expect("the account's own profile")
        .into_inner();
    let bad_chat = host
        .unpin_all_messages(proto::UnpinAllMessagesRequest {
            account: Some(account.clone()),
            chat_id: "not a chat".into(),
        })
        .await
        .expect_err("no chat id");
    let bad_user = host
        .fetch_user_profile(proto::GetUserProfileRequest {
            account: Some(account.clone()),
            telegram_user_id: "-5".into(),
        })
        .await
        .expect_err("no user id");

    assert!(own.is_self, "the account's own user: {own:?}");
    assert_eq!(code_of(&bad_chat), ErrorCode::ValidationFailed);
    assert_eq!(code_of(&bad_user), ErrorCode::ValidationFailed);
    app.stop().await;
}
