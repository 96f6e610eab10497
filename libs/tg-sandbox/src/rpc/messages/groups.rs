//! Basic groups over the API: `messages.createChat`, `messages.addChatUser`,
//! `messages.getFullChat`.

use grammers_tl_types::{self as tl, functions as f};

use super::super::{Call, RpcError, resolve, upload};
use super::announce;
use crate::render::{self, Mentions};
use crate::world::{GroupError, Peer, UserId};

impl From<GroupError> for RpcError {
    fn from(error: GroupError) -> Self {
        match error {
            GroupError::TitleEmpty => RpcError::bad_request("CHAT_TITLE_EMPTY"),
            GroupError::UsersTooFew => RpcError::bad_request("USERS_TOO_FEW"),
            GroupError::ChatInvalid => RpcError::bad_request("CHAT_ID_INVALID"),
            GroupError::UserAlreadyParticipant => RpcError::bad_request("USER_ALREADY_PARTICIPANT"),
            GroupError::AdminRequired => RpcError::bad_request("CHAT_ADMIN_REQUIRED"),
            GroupError::ChannelPrivate => RpcError::bad_request("CHANNEL_PRIVATE"),
            GroupError::PrivacyRestricted => RpcError::new(403, "USER_PRIVACY_RESTRICTED"),
            GroupError::UserNotParticipant => RpcError::bad_request("USER_NOT_PARTICIPANT"),
            GroupError::UserAdminInvalid => RpcError::bad_request("USER_ADMIN_INVALID"),
            GroupError::UserCreator => RpcError::bad_request("USER_CREATOR"),
            GroupError::NotModified => RpcError::bad_request("CHAT_NOT_MODIFIED"),
            GroupError::AboutNotModified => RpcError::bad_request("CHAT_ABOUT_NOT_MODIFIED"),
            GroupError::AboutTooLong => RpcError::bad_request("CHAT_ABOUT_TOO_LONG"),
            GroupError::InviteHashInvalid => RpcError::bad_request("INVITE_HASH_INVALID"),
            GroupError::InviteHashEmpty => RpcError::bad_request("INVITE_HASH_EMPTY"),
            GroupError::InviteHashExpired => RpcError::bad_request("INVITE_HASH_EXPIRED"),
            GroupError::InviteRequestSent => RpcError::bad_request("INVITE_REQUEST_SENT"),
            GroupError::InviteRevokedMissing => RpcError::bad_request("INVITE_REVOKED_MISSING"),
            GroupError::HideRequesterMissing => RpcError::bad_request("HIDE_REQUESTER_MISSING"),
            GroupError::ChannelsTooMuch => RpcError::bad_request("CHANNELS_TOO_MUCH"),
            GroupError::ImageProcessFailed => RpcError::bad_request("IMAGE_PROCESS_FAILED"),
            GroupError::PhotoCropSizeSmall => RpcError::bad_request("PHOTO_CROP_SIZE_SMALL"),
            GroupError::Send(error) => error.into(),
        }
    }
}

/// The users an `InputUser` list names; `USER_ID_INVALID` for one that names nobody.
pub(crate) fn input_users(
    call: &Call,
    viewer: UserId,
    inputs: &[tl::enums::InputUser],
) -> Result<Vec<UserId>, RpcError> {
    inputs
        .iter()
        .map(|input| {
            resolve::user(&call.state.world, viewer, input)
                .ok_or_else(|| RpcError::bad_request("USER_ID_INVALID"))
        })
        .collect()
}

/// The answer of the calls that add members: the updates, and the users whose privacy
/// kept them out (`missing_invitees`), as Telegram reports them since layer 166.
pub(crate) fn invited(
    updates: tl::enums::Updates,
    missing: &[UserId],
) -> tl::enums::messages::InvitedUsers {
    tl::types::messages::InvitedUsers {
        updates,
        missing_invitees: missing
            .iter()
            .map(|user_id| {
                tl::types::MissingInvitee {
                    premium_would_allow_invite: false,
                    premium_required_for_pm: false,
                    user_id: *user_id,
                }
                .into()
            })
            .collect(),
    }
    .into()
}

/// `messages.createChat`: a basic group; every member gets `messageActionChatCreate`.
/// Users whose privacy forbids the creator to add them are left out and listed in
/// `missing_invitees`.
pub(crate) fn create_chat(
    call: &mut Call,
    request: f::messages::CreateChat,
) -> Result<tl::enums::messages::InvitedUsers, RpcError> {
    let creator = call.require_user()?;
    let users = input_users(call, creator, &request.users)?;
    let (_, sent, missing) =
        call.state
            .world
            .create_chat(creator, &request.title, &users, call.now)?;
    Ok(invited(
        announce(call, creator, &sent, None, false),
        &missing,
    ))
}

/// `messages.addChatUser`: every member (the new one too) gets
/// `messageActionChatAddUser`. The new member does not get earlier history
/// (`fwd_limit` is not applied).
pub(crate) fn add_chat_user(
    call: &mut Call,
    request: f::messages::AddChatUser,
) -> Result<tl::enums::messages::InvitedUsers, RpcError> {
    let by = call.require_user()?;
    let user = input_users(call, by, std::slice::from_ref(&request.user_id))?
        .into_iter()
        .next()
        .ok_or_else(|| RpcError::bad_request("USER_ID_INVALID"))?;
    let sent = call
        .state
        .world
        .add_chat_user(by, request.chat_id, user, call.now)?;
    Ok(invited(announce(call, by, &sent, None, false), &[]))
}

/// `messages.getFullChat`: a basic group's description, members and photo.
pub(crate) fn get_full_chat(
    call: &mut Call,
    request: f::messages::GetFullChat,
) -> Result<tl::enums::messages::ChatFull, RpcError> {
    let viewer = call.require_user()?;
    let world = &call.state.world;
    let chat = world
        .chats
        .get(&request.chat_id)
        .ok_or_else(|| RpcError::bad_request("CHAT_ID_INVALID"))?;
    let mut mentions = Mentions::with_user(viewer);
    mentions.peer(Peer::Chat(request.chat_id));
    let participants = if chat.members.contains(&viewer) {
        let list = chat
            .members
            .iter()
            .map(|member| {
                mentions.peer(Peer::User(*member));
                match chat.joined.get(member) {
                    _ if *member == chat.creator => tl::types::ChatParticipantCreator {
                        user_id: *member,
                        rank: None,
                    }
                    .into(),
                    Some(joined) => tl::types::ChatParticipant {
                        user_id: *member,
                        inviter_id: joined.inviter,
                        date: joined.date,
                        rank: None,
                    }
                    .into(),
                    None => tl::types::ChatParticipant {
                        user_id: *member,
                        inviter_id: chat.creator,
                        date: chat.date,
                        rank: None,
                    }
                    .into(),
                }
            })
            .collect();
        tl::types::ChatParticipants {
            chat_id: request.chat_id,
            participants: list,
            version: chat.version,
        }
        .into()
    } else {
        tl::types::ChatParticipantsForbidden {
            chat_id: request.chat_id,
            self_participant: None,
        }
        .into()
    };
    let full = tl::types::ChatFull {
        can_set_username: false,
        has_scheduled: false,
        translations_disabled: false,
        has_welcome_messages: false,
        id: request.chat_id,
        about: chat.about.clone(),
        participants,
        chat_photo: chat.photo.map(|photo| render::photo(world, photo)),
        notify_settings: render::notify_settings(),
        exported_invite: None,
        bot_info: Some(Vec::new()),
        pinned_msg_id: world.pinned_msg_id(viewer, Peer::Chat(request.chat_id)),
        folder_id: None,
        call: None,
        ttl_period: None,
        groupcall_default_join_as: None,
        theme_emoticon: None,
        requests_pending: None,
        recent_requesters: None,
        available_reactions: None,
        reactions_limit: None,
    };
    Ok(tl::types::messages::ChatFull {
        full_chat: full.into(),
        chats: mentions.chats(world, viewer),
        users: mentions.users(world, viewer),
    }
    .into())
}

/// `messages.deleteChatUser`: removes a member from a basic group (or the caller, who
/// leaves it); every member, the removed one too, gets `messageActionChatDeleteUser`.
/// `revoke_history` is not applied (the history stays).
pub(crate) fn delete_chat_user(
    call: &mut Call,
    request: f::messages::DeleteChatUser,
) -> Result<tl::enums::Updates, RpcError> {
    let by = call.require_user()?;
    let user = input_users(call, by, std::slice::from_ref(&request.user_id))?
        .into_iter()
        .next()
        .ok_or_else(|| RpcError::bad_request("USER_ID_INVALID"))?;
    let removed = call
        .state
        .world
        .delete_chat_user(by, request.chat_id, user, call.now)?;
    let sent = removed.sent.ok_or_else(|| RpcError::new(500, "INTERNAL"))?;
    Ok(announce(call, by, &sent, None, false))
}

/// `messages.editChatAdmin`: the creator makes a member an admin or takes it back;
/// `true` also when nothing changed, as Telegram answers.
pub(crate) fn edit_chat_admin(
    call: &mut Call,
    request: f::messages::EditChatAdmin,
) -> Result<bool, RpcError> {
    let by = call.require_user()?;
    let user = input_users(call, by, std::slice::from_ref(&request.user_id))?
        .into_iter()
        .next()
        .ok_or_else(|| RpcError::bad_request("USER_ID_INVALID"))?;
    call.state
        .world
        .edit_chat_admin(by, request.chat_id, user, request.is_admin)?;
    Ok(true)
}

/// `messages.editChatTitle`: a basic group's new title; every member gets
/// `messageActionChatEditTitle`.
pub(crate) fn edit_chat_title(
    call: &mut Call,
    request: f::messages::EditChatTitle,
) -> Result<tl::enums::Updates, RpcError> {
    let by = call.require_user()?;
    let sent =
        call.state
            .world
            .edit_title(by, Peer::Chat(request.chat_id), &request.title, call.now)?;
    Ok(announce(call, by, &sent, None, false))
}

/// The bytes of the photo an `InputChatPhoto` uploads, `None` for `inputChatPhotoEmpty`.
/// Setting an existing photo again (`inputChatPhoto`) or a video is not served here:
/// `PHOTO_INVALID`.
pub(crate) fn chat_photo_bytes(
    call: &Call,
    photo: &tl::enums::InputChatPhoto,
) -> Result<Option<Vec<u8>>, RpcError> {
    match photo {
        tl::enums::InputChatPhoto::Empty => Ok(None),
        tl::enums::InputChatPhoto::InputChatUploadedPhoto(uploaded) => match &uploaded.file {
            Some(file) => upload::uploaded_bytes(call, file).map(Some),
            None => Err(RpcError::bad_request("PHOTO_INVALID")),
        },
        tl::enums::InputChatPhoto::Photo(_) => Err(RpcError::bad_request("PHOTO_INVALID")),
    }
}

/// `messages.editChatPhoto`: a basic group's new photo, or none; every member gets
/// `messageActionChatEditPhoto` / `messageActionChatDeletePhoto`.
pub(crate) fn edit_chat_photo(
    call: &mut Call,
    request: f::messages::EditChatPhoto,
) -> Result<tl::enums::Updates, RpcError> {
    let by = call.require_user()?;
    let bytes = chat_photo_bytes(call, &request.photo)?;
    let sent = call
        .state
        .world
        .edit_photo(by, Peer::Chat(request.chat_id), bytes, call.now)?;
    Ok(announce(call, by, &sent, None, false))
}

/// `messages.editChatAbout`: a group's or channel's new description.
pub(crate) fn edit_chat_about(
    call: &mut Call,
    request: f::messages::EditChatAbout,
) -> Result<bool, RpcError> {
    let by = call.require_user()?;
    let peer = resolve::peer(&call.state.world, by, &request.peer)?;
    call.state.world.edit_about(by, peer, &request.about)?;
    Ok(true)
}
