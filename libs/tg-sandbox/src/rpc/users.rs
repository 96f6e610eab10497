//! `users.*`.

use grammers_tl_types::{self as tl, functions as f};

use super::{Call, RpcError, resolve};
use crate::render::{self, Mentions};
use crate::world::Peer;

/// `users.getUsers`: one user per resolvable input, in order; inputs naming nobody the
/// caller may address are left out.
pub(super) fn get_users(
    call: &mut Call,
    request: f::users::GetUsers,
) -> Result<Vec<tl::enums::User>, RpcError> {
    let viewer = call.require_user()?;
    let world = &call.state.world;
    Ok(request
        .id
        .iter()
        .filter_map(|input| resolve::user(world, viewer, input))
        .map(|id| render::user(world, viewer, id))
        .collect())
}

/// `users.getFullUser`: the profile behind a user (about, profile photo, common chats).
pub(super) fn get_full_user(
    call: &mut Call,
    request: f::users::GetFullUser,
) -> Result<tl::enums::users::UserFull, RpcError> {
    let viewer = call.require_user()?;
    let world = &call.state.world;
    let user = resolve::user(world, viewer, &request.id)
        .ok_or_else(|| RpcError::bad_request("USER_ID_INVALID"))?;
    let Some(record) = world.users.get(&user) else {
        return Err(RpcError::bad_request("USER_ID_INVALID"));
    };
    let common_chats = world
        .chats
        .values()
        .filter(|c| c.members.contains(&viewer) && c.members.contains(&user))
        .count()
        + world
            .channels
            .values()
            .filter(|c| !c.broadcast && c.members.contains(&viewer) && c.members.contains(&user))
            .count();
    let is_contact = world
        .users
        .get(&viewer)
        .is_some_and(|v| v.contacts.contains(&user));
    let full = tl::types::UserFull {
        blocked: false,
        phone_calls_available: false,
        phone_calls_private: false,
        can_pin_message: true,
        has_scheduled: false,
        video_calls_available: false,
        voice_messages_forbidden: false,
        translations_disabled: false,
        stories_pinned_available: false,
        blocked_my_stories_from: false,
        wallpaper_overridden: false,
        contact_require_premium: false,
        read_dates_private: false,
        sponsored_enabled: false,
        can_view_revenue: false,
        bot_can_manage_emoji_status: false,
        display_gifts_button: false,
        noforwards_my_enabled: false,
        noforwards_peer_enabled: false,
        unofficial_security_risk: false,
        id: user,
        about: record.about.clone(),
        settings: tl::types::PeerSettings {
            report_spam: false,
            // Telegram offers to add a non-contact who wrote to the account.
            add_contact: user != viewer && !is_contact,
            block_contact: false,
            share_contact: false,
            need_contacts_exception: false,
            report_geo: false,
            autoarchived: false,
            invite_members: false,
            request_chat_broadcast: false,
            business_bot_paused: false,
            business_bot_can_reply: false,
            geo_distance: None,
            request_chat_title: None,
            request_chat_date: None,
            business_bot_id: None,
            business_bot_manage_url: None,
            charge_paid_message_stars: None,
            registration_month: None,
            phone_country: None,
            name_change_date: None,
            photo_change_date: None,
        }
        .into(),
        personal_photo: None,
        profile_photo: record.photo.map(|photo| render::photo(world, photo)),
        fallback_photo: None,
        notify_settings: render::notify_settings(),
        bot_info: None,
        pinned_msg_id: world.pinned_msg_id(viewer, Peer::User(user)),
        common_chats_count: common_chats as i32,
        folder_id: None,
        ttl_period: None,
        theme: None,
        private_forward_name: None,
        bot_group_admin_rights: None,
        bot_broadcast_admin_rights: None,
        wallpaper: None,
        stories: None,
        business_work_hours: None,
        business_location: None,
        business_greeting_message: None,
        business_away_message: None,
        business_intro: None,
        birthday: None,
        personal_channel_id: None,
        personal_channel_message: None,
        stargifts_count: None,
        starref_program: None,
        bot_verification: None,
        send_paid_messages_stars: None,
        disallowed_gifts: None,
        stars_rating: None,
        stars_my_pending_rating: None,
        stars_my_pending_rating_date: None,
        main_tab: None,
        saved_music: None,
        note: None,
        bot_manager_id: None,
    };
    let mentions = Mentions::with_user(viewer);
    let mut mentions = mentions;
    mentions.peer(Peer::User(user));
    Ok(tl::types::users::UserFull {
        full_user: full.into(),
        chats: Vec::new(),
        users: mentions.users(world, viewer),
    }
    .into())
}
