//! RPC calls: unwrapping the invoke wrappers, checking authorization, and dispatching to
//! the handlers, one module per Telegram namespace.
//!
//! Handlers run synchronously under the state lock and return the TL object their method
//! declares (the compiler checks it against `RemoteCall::Return`); the updates they cause
//! for other connections are collected in [`Call::pushes`].

pub(crate) mod account;
mod auth;
mod channels;
mod contacts;
mod help;
mod messages;
mod photos;
mod resolve;
mod updates;
mod upload;
mod users;
// Appended (own profile and contact changes), kept apart from the lists above.
mod contact_edits;
mod profile_edits;
// Appended (invite links and joining).
mod invites;

use grammers_tl_types::{
    self as tl, Cursor, Deserializable, Identifiable, RemoteCall, Serializable,
};
use tl::functions as f;

use crate::envelope::constructor_of;
use crate::state::{Push, State};
use crate::world::{UserId, unix_now};

/// An RPC error as Telegram reports them: an HTTP-like code and an upper-case message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RpcError {
    pub(crate) code: i32,
    pub(crate) message: String,
}

impl RpcError {
    pub(crate) fn new(code: i32, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub(crate) fn bad_request(message: &str) -> Self {
        Self::new(400, message)
    }

    /// The key is not bound to an account (never signed in, or logged out).
    pub(crate) fn unauthorized() -> Self {
        Self::new(401, "AUTH_KEY_UNREGISTERED")
    }

    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        tl::enums::RpcError::Error(tl::types::RpcError {
            error_code: self.code,
            error_message: self.message.clone(),
        })
        .to_bytes()
    }
}

/// The request could not be parsed as the method its constructor names.
fn input_fetch_error() -> RpcError {
    RpcError::bad_request("INPUT_FETCH_ERROR")
}

/// How soon what a call changed must reach the state file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Save {
    /// The call changed nothing that is kept.
    #[default]
    Nothing,
    /// Within the save interval.
    Soon,
    /// Before the answer leaves, in the key journal: the caller's key was bound to or
    /// unbound from an account.
    CallerKey,
    /// Before the answer leaves, the whole state: an account was created for the
    /// caller's key (the key's binding must not outlive the account on disk).
    Everything,
}

/// A call being served: the state (locked), who is calling, and what to push.
pub(crate) struct Call<'a> {
    pub(crate) state: &'a mut State,
    pub(crate) key_id: u64,
    pub(crate) connection: u64,
    pub(crate) now: i32,
    pub(crate) pushes: Vec<Push>,
    pub(crate) save: Save,
}

impl<'a> Call<'a> {
    pub(crate) fn new(state: &'a mut State, key_id: u64, connection: u64) -> Self {
        Self {
            state,
            key_id,
            connection,
            now: unix_now(),
            pushes: Vec::new(),
            save: Save::Nothing,
        }
    }

    /// Records that the call changed kept state.
    pub(crate) fn must_save(&mut self, save: Save) {
        self.save = self.save.max(save);
    }

    /// The account signed in with the caller's key.
    pub(crate) fn user(&self) -> Option<UserId> {
        self.state.keys.get(&self.key_id).and_then(|k| k.user)
    }

    pub(crate) fn require_user(&self) -> Result<UserId, RpcError> {
        self.user().ok_or_else(RpcError::unauthorized)
    }
}

/// The unparsed remainder of a wrapper: the wrapped query.
struct Rest(Vec<u8>);

impl Deserializable for Rest {
    fn deserialize(buf: &mut Cursor) -> tl::deserialize::Result<Self> {
        let mut rest = Vec::new();
        buf.read_to_end(&mut rest)?;
        Ok(Rest(rest))
    }
}

const INVOKE_WITH_LAYER: u32 = <f::InvokeWithLayer<Rest> as Identifiable>::CONSTRUCTOR_ID;
const INIT_CONNECTION: u32 = <f::InitConnection<Rest> as Identifiable>::CONSTRUCTOR_ID;
const INVOKE_WITHOUT_UPDATES: u32 = <f::InvokeWithoutUpdates<Rest> as Identifiable>::CONSTRUCTOR_ID;
const INVOKE_AFTER_MSG: u32 = <f::InvokeAfterMsg<Rest> as Identifiable>::CONSTRUCTOR_ID;
const INVOKE_AFTER_MSGS: u32 = <f::InvokeAfterMsgs<Rest> as Identifiable>::CONSTRUCTOR_ID;

/// Wrappers nest (`invokeWithLayer(initConnection(query))`); more than this many is not
/// a real client and would only recurse.
const MAX_WRAPPERS: usize = 8;

/// Serves one RPC call and returns the serialized result object.
pub(crate) fn invoke(call: &mut Call, body: &[u8]) -> Result<Vec<u8>, RpcError> {
    let mut body = body.to_vec();
    for _ in 0..MAX_WRAPPERS {
        let id = constructor_of(&body).ok_or_else(input_fetch_error)?;
        let cursor = &mut Cursor::from_slice(&body[4..]);
        let inner = match id {
            INVOKE_WITH_LAYER => parse::<f::InvokeWithLayer<Rest>>(cursor)?.query,
            // Client details are accepted as given; the sandbox keeps no device list.
            INIT_CONNECTION => parse::<f::InitConnection<Rest>>(cursor)?.query,
            INVOKE_WITHOUT_UPDATES => parse::<f::InvokeWithoutUpdates<Rest>>(cursor)?.query,
            // Requests of one connection are served in order, so "after" always holds.
            INVOKE_AFTER_MSG => parse::<f::InvokeAfterMsg<Rest>>(cursor)?.query,
            INVOKE_AFTER_MSGS => parse::<f::InvokeAfterMsgs<Rest>>(cursor)?.query,
            _ => return dispatch(call, id, cursor),
        };
        body = inner.0;
    }
    Err(input_fetch_error())
}

fn parse<R: Deserializable>(cursor: &mut Cursor) -> Result<R, RpcError> {
    R::deserialize(cursor).map_err(|_| input_fetch_error())
}

/// Parses the request as `R`, runs `handler`, serializes what it returns.
fn run<R>(
    cursor: &mut Cursor,
    handler: impl FnOnce(R) -> Result<R::Return, RpcError>,
) -> Result<Vec<u8>, RpcError>
where
    R: RemoteCall + Deserializable,
    R::Return: Serializable,
{
    handler(parse::<R>(cursor)?).map(|result| result.to_bytes())
}

/// Methods that change nothing the state file keeps (uploads in progress, login codes
/// and SRP rounds are not kept). Everything else is saved within the save interval.
fn changes_nothing_kept(id: u32) -> bool {
    matches!(
        id,
        f::help::GetConfig::CONSTRUCTOR_ID
            | f::help::GetNearestDc::CONSTRUCTOR_ID
            | f::auth::SendCode::CONSTRUCTOR_ID
            | f::account::GetPassword::CONSTRUCTOR_ID
            | f::users::GetUsers::CONSTRUCTOR_ID
            | f::users::GetFullUser::CONSTRUCTOR_ID
            | f::updates::GetState::CONSTRUCTOR_ID
            | f::updates::GetDifference::CONSTRUCTOR_ID
            | f::updates::GetChannelDifference::CONSTRUCTOR_ID
            | f::contacts::GetContacts::CONSTRUCTOR_ID
            | f::contacts::GetStatuses::CONSTRUCTOR_ID
            | f::contacts::Search::CONSTRUCTOR_ID
            | f::contacts::ResolveUsername::CONSTRUCTOR_ID
            | f::contacts::ResolvePhone::CONSTRUCTOR_ID
            | f::messages::CheckChatInvite::CONSTRUCTOR_ID
            | f::messages::GetDialogs::CONSTRUCTOR_ID
            | f::messages::GetHistory::CONSTRUCTOR_ID
            | f::messages::GetChats::CONSTRUCTOR_ID
            | f::messages::GetFullChat::CONSTRUCTOR_ID
            | f::messages::GetMessages::CONSTRUCTOR_ID
            | f::messages::GetPeerDialogs::CONSTRUCTOR_ID
            | f::messages::Search::CONSTRUCTOR_ID
            | f::messages::SearchGlobal::CONSTRUCTOR_ID
            | f::messages::SetTyping::CONSTRUCTOR_ID
            | f::channels::GetChannels::CONSTRUCTOR_ID
            | f::channels::GetFullChannel::CONSTRUCTOR_ID
            | f::channels::GetMessages::CONSTRUCTOR_ID
            | f::channels::GetParticipants::CONSTRUCTOR_ID
            | f::photos::GetUserPhotos::CONSTRUCTOR_ID
            | f::upload::GetFile::CONSTRUCTOR_ID
            | f::upload::SaveFilePart::CONSTRUCTOR_ID
            | f::upload::SaveBigFilePart::CONSTRUCTOR_ID
    )
}

fn dispatch(call: &mut Call, id: u32, cursor: &mut Cursor) -> Result<Vec<u8>, RpcError> {
    if !changes_nothing_kept(id) {
        call.must_save(Save::Soon);
    }
    // Methods a key may call before it is signed in.
    match id {
        f::help::GetConfig::CONSTRUCTOR_ID => return run(cursor, |r| help::get_config(call, r)),
        f::help::GetNearestDc::CONSTRUCTOR_ID => {
            return run(cursor, |r| help::get_nearest_dc(call, r));
        }
        f::auth::SendCode::CONSTRUCTOR_ID => return run(cursor, |r| auth::send_code(call, r)),
        f::auth::SignIn::CONSTRUCTOR_ID => return run(cursor, |r| auth::sign_in(call, r)),
        f::auth::SignUp::CONSTRUCTOR_ID => return run(cursor, |r| auth::sign_up(call, r)),
        f::auth::CheckPassword::CONSTRUCTOR_ID => {
            return run(cursor, |r| auth::check_password(call, r));
        }
        f::account::GetPassword::CONSTRUCTOR_ID => {
            return run(cursor, |r| account::get_password(call, r));
        }
        _ => {}
    }

    let user = call.require_user()?;
    // FLOOD_WAIT, when switched on for the account, hits everything but the calls a
    // client needs to stay connected and in sync.
    let exempt = matches!(
        id,
        f::updates::GetState::CONSTRUCTOR_ID
            | f::updates::GetDifference::CONSTRUCTOR_ID
            | f::updates::GetChannelDifference::CONSTRUCTOR_ID
            | f::auth::LogOut::CONSTRUCTOR_ID
    );
    if let Some(seconds) = call.state.flood_wait.get(&user).filter(|_| !exempt) {
        return Err(RpcError::new(420, format!("FLOOD_WAIT_{seconds}")));
    }

    match id {
        f::auth::LogOut::CONSTRUCTOR_ID => run(cursor, |r| auth::log_out(call, r)),
        f::users::GetUsers::CONSTRUCTOR_ID => run(cursor, |r| users::get_users(call, r)),
        f::updates::GetState::CONSTRUCTOR_ID => run(cursor, |r| updates::get_state(call, r)),
        f::updates::GetDifference::CONSTRUCTOR_ID => {
            run(cursor, |r| updates::get_difference(call, r))
        }
        f::updates::GetChannelDifference::CONSTRUCTOR_ID => {
            run(cursor, |r| updates::get_channel_difference(call, r))
        }
        f::contacts::GetContacts::CONSTRUCTOR_ID => {
            run(cursor, |r| contacts::get_contacts(call, r))
        }
        f::messages::GetDialogs::CONSTRUCTOR_ID => run(cursor, |r| messages::get_dialogs(call, r)),
        f::messages::GetHistory::CONSTRUCTOR_ID => run(cursor, |r| messages::get_history(call, r)),
        f::messages::SendMessage::CONSTRUCTOR_ID => {
            run(cursor, |r| messages::send_message(call, r))
        }
        f::messages::EditMessage::CONSTRUCTOR_ID => {
            run(cursor, |r| messages::edit_message(call, r))
        }
        f::messages::UpdatePinnedMessage::CONSTRUCTOR_ID => {
            run(cursor, |r| messages::pins::update_pinned_message(call, r))
        }
        f::messages::UnpinAllMessages::CONSTRUCTOR_ID => {
            run(cursor, |r| messages::pins::unpin_all_messages(call, r))
        }
        f::messages::GetChats::CONSTRUCTOR_ID => run(cursor, |r| messages::get_chats(call, r)),
        f::messages::ForwardMessages::CONSTRUCTOR_ID => {
            run(cursor, |r| messages::forward_messages(call, r))
        }
        f::messages::GetMessages::CONSTRUCTOR_ID => {
            run(cursor, |r| messages::get_messages(call, r))
        }
        f::channels::GetMessages::CONSTRUCTOR_ID => {
            run(cursor, |r| messages::get_channel_messages(call, r))
        }
        f::messages::SendMedia::CONSTRUCTOR_ID => {
            run(cursor, |r| messages::media::send_media(call, r))
        }
        f::messages::UploadMedia::CONSTRUCTOR_ID => {
            run(cursor, |r| messages::media::upload_media(call, r))
        }
        f::messages::SendMultiMedia::CONSTRUCTOR_ID => {
            run(cursor, |r| messages::media::send_multi_media(call, r))
        }
        f::upload::SaveFilePart::CONSTRUCTOR_ID => run(cursor, |r| upload::save_file_part(call, r)),
        f::upload::SaveBigFilePart::CONSTRUCTOR_ID => {
            run(cursor, |r| upload::save_big_file_part(call, r))
        }
        f::upload::GetFile::CONSTRUCTOR_ID => run(cursor, |r| upload::get_file(call, r)),
        f::messages::Search::CONSTRUCTOR_ID => run(cursor, |r| messages::search::search(call, r)),
        f::messages::SearchGlobal::CONSTRUCTOR_ID => {
            run(cursor, |r| messages::search::search_global(call, r))
        }
        f::contacts::Search::CONSTRUCTOR_ID => run(cursor, |r| contacts::search(call, r)),
        f::messages::CreateChat::CONSTRUCTOR_ID => {
            run(cursor, |r| messages::groups::create_chat(call, r))
        }
        f::messages::AddChatUser::CONSTRUCTOR_ID => {
            run(cursor, |r| messages::groups::add_chat_user(call, r))
        }
        f::messages::GetFullChat::CONSTRUCTOR_ID => {
            run(cursor, |r| messages::groups::get_full_chat(call, r))
        }
        f::channels::CreateChannel::CONSTRUCTOR_ID => {
            run(cursor, |r| channels::create_channel(call, r))
        }
        f::channels::InviteToChannel::CONSTRUCTOR_ID => {
            run(cursor, |r| channels::invite_to_channel(call, r))
        }
        f::channels::GetParticipants::CONSTRUCTOR_ID => {
            run(cursor, |r| channels::get_participants(call, r))
        }
        f::channels::GetFullChannel::CONSTRUCTOR_ID => {
            run(cursor, |r| channels::get_full_channel(call, r))
        }
        f::users::GetFullUser::CONSTRUCTOR_ID => run(cursor, |r| users::get_full_user(call, r)),
        f::contacts::ResolveUsername::CONSTRUCTOR_ID => {
            run(cursor, |r| contacts::resolve_username(call, r))
        }
        f::contacts::ResolvePhone::CONSTRUCTOR_ID => {
            run(cursor, |r| contacts::resolve_phone(call, r))
        }
        f::messages::GetPeerDialogs::CONSTRUCTOR_ID => {
            run(cursor, |r| messages::get_peer_dialogs(call, r))
        }
        f::messages::ReadHistory::CONSTRUCTOR_ID => {
            run(cursor, |r| messages::reading::read_history(call, r))
        }
        f::channels::ReadHistory::CONSTRUCTOR_ID => {
            run(cursor, |r| messages::reading::read_channel_history(call, r))
        }
        f::messages::DeleteMessages::CONSTRUCTOR_ID => {
            run(cursor, |r| messages::reading::delete_messages(call, r))
        }
        f::channels::DeleteMessages::CONSTRUCTOR_ID => run(cursor, |r| {
            messages::reading::delete_channel_messages(call, r)
        }),
        f::messages::SetTyping::CONSTRUCTOR_ID => {
            run(cursor, |r| messages::reading::set_typing(call, r))
        }
        f::account::UpdateStatus::CONSTRUCTOR_ID => {
            run(cursor, |r| account::update_status(call, r))
        }
        f::contacts::GetStatuses::CONSTRUCTOR_ID => {
            run(cursor, |r| contacts::get_statuses(call, r))
        }
        f::channels::GetChannels::CONSTRUCTOR_ID => {
            run(cursor, |r| channels::get_channels(call, r))
        }
        f::account::UpdateProfile::CONSTRUCTOR_ID => {
            run(cursor, |r| profile_edits::update_profile(call, r))
        }
        f::account::CheckUsername::CONSTRUCTOR_ID => {
            run(cursor, |r| profile_edits::check_username(call, r))
        }
        f::account::UpdateUsername::CONSTRUCTOR_ID => {
            run(cursor, |r| profile_edits::update_username(call, r))
        }
        f::contacts::ImportContacts::CONSTRUCTOR_ID => {
            run(cursor, |r| contact_edits::import_contacts(call, r))
        }
        f::contacts::AddContact::CONSTRUCTOR_ID => {
            run(cursor, |r| contact_edits::add_contact(call, r))
        }
        f::contacts::DeleteContacts::CONSTRUCTOR_ID => {
            run(cursor, |r| contact_edits::delete_contacts(call, r))
        }
        f::messages::DeleteChatUser::CONSTRUCTOR_ID => {
            run(cursor, |r| messages::groups::delete_chat_user(call, r))
        }
        f::messages::EditChatAdmin::CONSTRUCTOR_ID => {
            run(cursor, |r| messages::groups::edit_chat_admin(call, r))
        }
        f::channels::EditBanned::CONSTRUCTOR_ID => run(cursor, |r| channels::edit_banned(call, r)),
        f::channels::LeaveChannel::CONSTRUCTOR_ID => {
            run(cursor, |r| channels::leave_channel(call, r))
        }
        f::channels::EditAdmin::CONSTRUCTOR_ID => run(cursor, |r| channels::edit_admin(call, r)),
        f::messages::EditChatTitle::CONSTRUCTOR_ID => {
            run(cursor, |r| messages::groups::edit_chat_title(call, r))
        }
        f::messages::EditChatAbout::CONSTRUCTOR_ID => {
            run(cursor, |r| messages::groups::edit_chat_about(call, r))
        }
        f::channels::EditTitle::CONSTRUCTOR_ID => run(cursor, |r| channels::edit_title(call, r)),
        f::messages::ExportChatInvite::CONSTRUCTOR_ID => {
            run(cursor, |r| invites::export_chat_invite(call, r))
        }
        f::messages::GetExportedChatInvites::CONSTRUCTOR_ID => {
            run(cursor, |r| invites::get_exported_chat_invites(call, r))
        }
        f::messages::EditExportedChatInvite::CONSTRUCTOR_ID => {
            run(cursor, |r| invites::edit_exported_chat_invite(call, r))
        }
        f::messages::GetChatInviteImporters::CONSTRUCTOR_ID => {
            run(cursor, |r| invites::get_chat_invite_importers(call, r))
        }
        f::messages::HideChatJoinRequest::CONSTRUCTOR_ID => {
            run(cursor, |r| invites::hide_chat_join_request(call, r))
        }
        f::messages::CheckChatInvite::CONSTRUCTOR_ID => {
            run(cursor, |r| invites::check_chat_invite(call, r))
        }
        f::messages::ImportChatInvite::CONSTRUCTOR_ID => {
            run(cursor, |r| invites::import_chat_invite(call, r))
        }
        f::channels::JoinChannel::CONSTRUCTOR_ID => run(cursor, |r| invites::join_channel(call, r)),
        f::messages::EditChatPhoto::CONSTRUCTOR_ID => {
            run(cursor, |r| messages::groups::edit_chat_photo(call, r))
        }
        f::channels::EditPhoto::CONSTRUCTOR_ID => run(cursor, |r| channels::edit_photo(call, r)),
        f::photos::UploadProfilePhoto::CONSTRUCTOR_ID => {
            run(cursor, |r| photos::upload_profile_photo(call, r))
        }
        f::photos::GetUserPhotos::CONSTRUCTOR_ID => {
            run(cursor, |r| photos::get_user_photos(call, r))
        }
        f::photos::DeletePhotos::CONSTRUCTOR_ID => run(cursor, |r| photos::delete_photos(call, r)),
        // Telegram's answer to a constructor it does not serve.
        _ => Err(RpcError::bad_request("INPUT_METHOD_INVALID")),
    }
}

/// Pushes events logged in accounts' boxes to each owner's connections (the calling
/// connection excepted: it learns from its answer, and catches up on the `pts`).
pub(crate) fn push_box_events(call: &mut Call, events: &[crate::world::BoxEvent]) {
    for event in events {
        let world = &call.state.world;
        let Some((update, mentions)) =
            crate::render::logged_update(world, event.owner, None, &event.logged)
        else {
            continue;
        };
        let updates = crate::render::updates(world, event.owner, vec![update], &mentions, call.now);
        call.pushes.push(Push {
            user: event.owner,
            updates,
            except: Some(call.connection),
        });
    }
}

/// Pushes a message sent outside any RPC call (by the embedder) to every connected
/// client of every account holding it.
pub(crate) fn announce_sent(call: &mut Call, actor: UserId, sent: &crate::world::Sent) {
    messages::announce(call, actor, sent, None, false);
}

/// Tells every participant's clients about an edit, as `messages.editMessage` does.
pub(crate) fn announce_edited(call: &mut Call, actor: UserId, edited: &crate::world::Sent) {
    messages::announce(call, actor, edited, None, true);
}
