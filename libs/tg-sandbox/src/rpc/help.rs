//! `help.*`: the configuration a client fetches on every new connection.

use grammers_tl_types::{self as tl, functions as f};

use super::{Call, RpcError};
use crate::SANDBOX_DC_ID;

/// `help.getConfig`. The DC list is empty on purpose: grammers overwrites the addresses
/// in its session with whatever it receives here, and the session already points at the
/// sandbox.
pub(super) fn get_config(
    call: &mut Call,
    _: f::help::GetConfig,
) -> Result<tl::enums::Config, RpcError> {
    Ok(tl::types::Config {
        default_p2p_contacts: false,
        preload_featured_stickers: false,
        revoke_pm_inbox: true,
        blocked_mode: false,
        force_try_ipv6: false,
        date: call.now,
        expires: call.now + 3600,
        test_mode: true,
        this_dc: SANDBOX_DC_ID,
        dc_options: Vec::new(),
        dc_txt_domain_name: String::new(),
        chat_size_max: 200,
        megagroup_size_max: 200_000,
        forwarded_count_max: 100,
        online_update_period_ms: 210_000,
        offline_blur_timeout_ms: 5_000,
        offline_idle_timeout_ms: 30_000,
        online_cloud_timeout_ms: 300_000,
        notify_cloud_delay_ms: 30_000,
        notify_default_delay_ms: 1_500,
        push_chat_period_ms: 60_000,
        push_chat_limit: 2,
        edit_time_limit: 172_800,
        revoke_time_limit: i32::MAX,
        revoke_pm_time_limit: i32::MAX,
        rating_e_decay: 2_419_200,
        stickers_recent_limit: 200,
        channels_read_media_period: 604_800,
        tmp_sessions: None,
        call_receive_timeout_ms: 20_000,
        call_ring_timeout_ms: 90_000,
        call_connect_timeout_ms: 30_000,
        call_packet_timeout_ms: 10_000,
        me_url_prefix: "https://t.me/".into(),
        autoupdate_url_prefix: None,
        gif_search_username: None,
        venue_search_username: None,
        img_search_username: None,
        static_maps_provider: None,
        caption_length_max: 1024,
        message_length_max: 4096,
        webfile_dc_id: SANDBOX_DC_ID,
        suggested_lang_code: None,
        lang_pack_version: None,
        base_lang_pack_version: None,
        reactions_default: None,
        autologin_token: None,
    }
    .into())
}

/// `help.getNearestDc`: the sandbox is the only DC, and the nearest.
pub(super) fn get_nearest_dc(
    _: &mut Call,
    _: f::help::GetNearestDc,
) -> Result<tl::enums::NearestDc, RpcError> {
    Ok(tl::types::NearestDc {
        country: "ZZ".into(),
        this_dc: SANDBOX_DC_ID,
        nearest_dc: SANDBOX_DC_ID,
    }
    .into())
}
