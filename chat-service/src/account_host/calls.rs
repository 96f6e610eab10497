//! Every account-host call, declared once: its [`AccountHost`] method, its
//! `talkapp.chat.v1.AccountHost` rpc and the messages that carry it. From that one list
//! [`host_calls!`] writes both ends: the caller's `impl AccountHost for RemoteHost`
//! (pack the arguments, call the peer, map its status, unpack the answer) and the host's
//! `impl proto::account_host_server::AccountHost for AccountHostGrpcAdapter` (unpack and
//! check the request, call this replica's [`super::LocalHost`], pack the answer or map
//! the error). The conversions are in [`super::wire`]; the download, a stream, is
//! written out by hand at both ends ([`RemoteHost::download_from_peer`],
//! [`AccountHostGrpcAdapter::serve_download`]).
//!
//! Adding a host call: the rpc in `account_host.proto` (with ChatService's request where
//! it carries the same fields, else its own messages), the method in [`AccountHost`] and
//! [`super::LocalHost`], the conversions in [`super::wire`], and one line here.

use async_trait::async_trait;
use talkapp_proto::chat::v1 as proto;
use talkapp_proto::tonic::{self, Request, Response, Status};
use talkapp_store::AccountKey;
use talkapp_telegram::chat_info::ChatEdit;
use talkapp_telegram::chat_members::MemberChange;
use talkapp_telegram::groups::{NewGroup, UserRef};
use talkapp_telegram::joins::{
    InviteEdit, InviteLink, InvitePage, InviteQuery, InviteSettings, JoinRequestPage,
    JoinRequestQuery, JoinTarget,
};
use talkapp_telegram::message_actions::PinOptions;
use talkapp_telegram::model::{ChatAction, ChatFullInfo};
use talkapp_telegram::profiles::UserProfile;
use talkapp_telegram::search::MessageSearch;
use talkapp_telegram::{contact_changes::NewContact, own_profile::ProfileChange};

use super::server::AccountHostGrpcAdapter;
use super::wire::{
    DownloadStream, HostAnswer, HostRequest, account_key, account_ref, from_status, to_status,
};
use super::{
    AccountHost, ContactRef, ForwardRequest, GroupCreated, HostError, InviteCheck, OlderHistory,
    PhotoFile, RemoteHost,
};
use crate::media::{ByteRange, MediaDownload};

/// An argument as the caller packs it: as it is, or (`=> Owned`: the method borrows it)
/// an owned copy.
macro_rules! packed_argument {
    ($argument:ident) => {
        $argument
    };
    ($argument:ident, $owned:ty) => {{
        let owned: $owned = ::std::borrow::ToOwned::to_owned($argument);
        owned
    }};
}

/// An unpacked argument as the host's method takes it: as it is, or (`=> Owned`) lent.
macro_rules! lent_argument {
    ($argument:ident) => {
        $argument
    };
    ($argument:ident, $owned:ty) => {
        &$argument
    };
}

/// Writes both ends of every host call from one list. Each entry:
/// `fn method(argument: Type, ...) -> Answer = rpc(Request) -> Response;`, where
/// `method` is the [`AccountHost`] method (the account's key comes first, unnamed),
/// `rpc` the generated client and server method, and `Request` / `Response` the proto
/// messages ([`HostRequest`] and [`HostAnswer`] convert them). An argument the method
/// borrows is written `argument: &Type => Owned`. `remote { ... }` and `served { ... }`
/// hold what is written by hand at each end (the download).
macro_rules! host_calls {
    (
        remote { $($remote_by_hand:tt)* }
        served { $($served_by_hand:tt)* }
        $(
            fn $method:ident($($argument:ident: $type:ty $(=> $owned:ty)?),*) -> $answer:ty
                = $rpc:ident($request:ident) -> $response:ident;
        )*
    ) => {
        #[async_trait]
        impl AccountHost for RemoteHost {
            $(
                async fn $method(
                    &self,
                    key: AccountKey,
                    $($argument: $type),*
                ) -> Result<$answer, HostError> {
                    let request = <proto::$request as HostRequest>::pack(
                        account_ref(key),
                        ($(packed_argument!($argument $(, $owned)?),)*),
                    );
                    let reply = self
                        .client()
                        .$rpc(request)
                        .await
                        .map_err(|status| from_status(&status))?;
                    Ok(<proto::$response as HostAnswer>::unpack(reply.into_inner()))
                }
            )*

            $($remote_by_hand)*
        }

        #[tonic::async_trait]
        impl proto::account_host_server::AccountHost for AccountHostGrpcAdapter {
            $(
                async fn $rpc(
                    &self,
                    request: Request<proto::$request>,
                ) -> Result<Response<proto::$response>, Status> {
                    let mut request = request.into_inner();
                    let key = account_key(request.account.take())?;
                    let ($($argument,)*) = HostRequest::unpack(request)?;
                    let answer = self
                        .local
                        .$method(key, $(lent_argument!($argument $(, $owned)?)),*)
                        .await
                        .map_err(|error| to_status(&error))?;
                    Ok(Response::new(<proto::$response as HostAnswer>::pack(answer)))
                }
            )*

            $($served_by_hand)*
        }
    };
}

host_calls! {
    remote {
        async fn download(
            &self,
            key: AccountKey,
            media_ref: &str,
            range: ByteRange,
        ) -> Result<MediaDownload, HostError> {
            self.download_from_peer(key, media_ref, range).await
        }
    }
    served {
        type DownloadMediaStream = DownloadStream;

        async fn download_media(
            &self,
            request: Request<proto::DownloadMediaRequest>,
        ) -> Result<Response<DownloadStream>, Status> {
            self.serve_download(request.into_inner()).await
        }
    }

    fn send_chat_action(chat_id: i64, action: ChatAction) -> ()
        = send_chat_action(SendChatActionRequest) -> SendChatActionResponse;
    fn mark_read(chat_id: i64, max_id: Option<i32>) -> ()
        = mark_read(MarkReadRequest) -> MarkReadResponse;
    fn fetch_older_history(older: OlderHistory) -> u32
        = fetch_older_history(FetchOlderHistoryRequest) -> FetchOlderHistoryResponse;
    fn chat_full(chat_id: i64) -> ChatFullInfo
        = fetch_chat_details(FetchChatDetailsRequest) -> TelegramChatDetails;
    fn search_messages(search: &MessageSearch => MessageSearch) -> Vec<(i64, i32)>
        = search_telegram_messages(SearchTelegramMessagesRequest)
            -> SearchTelegramMessagesResponse;
    fn contacts() -> Vec<ContactRef>
        = list_contacts(ListContactsRequest) -> ContactRefsResponse;
    fn create_group(new: NewGroup) -> GroupCreated
        = create_group(CreateGroupRequest) -> HostCreateGroupResponse;
    fn edit_message(chat_id: i64, message_id: i32, text: String) -> ()
        = edit_message(EditMessageRequest) -> HostDone;
    fn delete_messages(chat_id: i64, message_ids: Vec<i32>, revoke: bool) -> ()
        = delete_messages(DeleteMessagesRequest) -> DeleteMessagesResponse;
    fn pin_message(chat_id: i64, message_id: i32, pin: PinOptions) -> ()
        = pin_message(PinMessageRequest) -> PinMessageResponse;
    fn unpin_all_messages(chat_id: i64) -> ()
        = unpin_all_messages(UnpinAllMessagesRequest) -> UnpinAllMessagesResponse;
    fn forward_messages(forward: ForwardRequest) -> Vec<i32>
        = forward_messages(HostForwardMessagesRequest) -> HostForwardMessagesResponse;
    fn user_profile(user_id: i64) -> UserProfile
        = fetch_user_profile(GetUserProfileRequest) -> HostUserProfile;
    fn add_member(chat_id: i64, user: UserRef) -> i64
        = add_member(AddMemberRequest) -> HostAddMemberResponse;
    fn own_profile() -> UserProfile
        = fetch_own_profile(GetOwnProfileRequest) -> HostUserProfile;
    fn update_own_profile(change: ProfileChange) -> UserProfile
        = update_own_profile(UpdateOwnProfileRequest) -> HostUserProfile;
    fn add_contact(contact: NewContact) -> ContactRef
        = add_contact(AddContactRequest) -> ContactRef;
    fn delete_contact(user_id: i64) -> ()
        = delete_contact(DeleteContactRequest) -> DeleteContactResponse;
    fn search_people(query: &str => String, limit: i32) -> Vec<i64>
        = search_people(HostSearchPeopleRequest) -> HostSearchPeopleResponse;
    fn change_members(chat_id: i64, change: MemberChange) -> i64
        = change_members(ChangeMembersRequest) -> HostChangeMembersResponse;
    fn edit_chat(chat_id: i64, edit: ChatEdit) -> ()
        = edit_chat(EditChatRequest) -> HostDone;
    fn join_chat(target: JoinTarget) -> Option<i64>
        = join_chat(HostJoinChatRequest) -> HostJoinChatResponse;
    fn check_invite(hash: &str => String) -> InviteCheck
        = check_invite(HostCheckInviteRequest) -> HostInvitePreview;
    fn export_invite(chat_id: i64, settings: InviteSettings) -> InviteLink
        = export_invite(HostExportInviteRequest) -> HostInviteLink;
    fn list_invites(chat_id: i64, query: InviteQuery) -> InvitePage
        = list_invites(HostListInvitesRequest) -> HostInvitePage;
    fn edit_invite(chat_id: i64, edit: InviteEdit) -> InviteLink
        = edit_invite(HostEditInviteRequest) -> HostInviteLink;
    fn join_requests(chat_id: i64, query: JoinRequestQuery) -> JoinRequestPage
        = list_join_requests(HostListJoinRequestsRequest) -> HostJoinRequestPage;
    fn answer_join_request(chat_id: i64, user_id: i64, approve: bool) -> ()
        = answer_join_request(AnswerJoinRequestRequest) -> HostDone;
    fn set_chat_photo(chat_id: i64, photo: Option<PhotoFile>) -> ()
        = set_chat_photo(HostSetChatPhotoRequest) -> HostDone;
    fn set_own_photo(photo: Option<PhotoFile>) -> UserProfile
        = set_own_photo(HostSetOwnPhotoRequest) -> HostUserProfile;
}
