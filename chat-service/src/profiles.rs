//! Users' profiles on the wire: between replicas (`HostUserProfile`, every field of the
//! domain's [`UserProfile`]) and to the gateway (`UserProfile`, as shown).

use talkapp_proto::chat::v1 as proto;
use talkapp_telegram::model::{PhotoRef, Presence, TgUser};
use talkapp_telegram::profiles::UserProfile;

use crate::proto_views::{filled, to_proto_presence, to_proto_user};

fn presence_wire(presence: Presence) -> (&'static str, i64) {
    match presence {
        Presence::Online { expires } => ("online", expires),
        Presence::Offline { was_online } => ("offline", was_online),
        Presence::Recently => ("recently", 0),
        Presence::LastWeek => ("last_week", 0),
        Presence::LastMonth => ("last_month", 0),
        Presence::Unknown => ("unknown", 0),
    }
}

fn presence_from_wire(status: &str, at: i64) -> Presence {
    match status {
        "online" => Presence::Online { expires: at },
        "offline" => Presence::Offline { was_online: at },
        "recently" => Presence::Recently,
        "last_week" => Presence::LastWeek,
        "last_month" => Presence::LastMonth,
        _ => Presence::Unknown,
    }
}

/// A profile for another replica.
pub(crate) fn to_host_proto(profile: &UserProfile) -> proto::HostUserProfile {
    let user = &profile.user;
    let (presence, presence_at) = presence_wire(user.presence);
    proto::HostUserProfile {
        id: user.id,
        first_name: user.first_name.clone(),
        last_name: user.last_name.clone(),
        username: user.username.clone(),
        phone: user.phone.clone(),
        is_bot: user.is_bot,
        is_contact: user.is_contact,
        is_self: user.is_self,
        is_deleted: user.is_deleted,
        presence: presence.to_owned(),
        presence_at,
        photo_id: user.photo.as_ref().map(|photo| photo.photo_id),
        photo_dc_id: user.photo.as_ref().map_or(0, |photo| photo.dc_id),
        bio: profile.bio.clone(),
        is_verified: profile.is_verified,
        common_chats_count: profile.common_chats_count,
    }
}

/// A profile from another replica.
pub(crate) fn from_host_proto(profile: proto::HostUserProfile) -> UserProfile {
    UserProfile {
        user: TgUser {
            id: profile.id,
            first_name: profile.first_name,
            last_name: profile.last_name,
            username: profile.username,
            phone: profile.phone,
            is_bot: profile.is_bot,
            is_contact: profile.is_contact,
            is_self: profile.is_self,
            is_deleted: profile.is_deleted,
            presence: presence_from_wire(&profile.presence, profile.presence_at),
            photo: profile.photo_id.map(|photo_id| PhotoRef {
                photo_id,
                dc_id: profile.photo_dc_id,
            }),
        },
        bio: profile.bio,
        is_verified: profile.is_verified,
        common_chats_count: profile.common_chats_count,
    }
}

/// A profile as the gateway shows it.
pub(crate) fn to_proto_profile(profile: UserProfile) -> proto::UserProfile {
    let user = profile.user;
    proto::UserProfile {
        user: Some(to_proto_user(&user)),
        bio: filled(profile.bio),
        presence: Some(to_proto_presence(user.presence)),
        is_contact: user.is_contact,
        is_bot: user.is_bot,
        is_verified: profile.is_verified,
        is_self: user.is_self,
        common_chats_count: profile.common_chats_count,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_crosses_between_replicas_unchanged() {
        for presence in [
            Presence::Online {
                expires: 1_800_000_000,
            },
            Presence::Offline {
                was_online: 1_700_000_000,
            },
            Presence::Recently,
            Presence::LastWeek,
            Presence::LastMonth,
            Presence::Unknown,
        ] {
            let profile = UserProfile {
                user: TgUser {
                    id: 42,
                    first_name: "Bob".into(),
                    last_name: "Sandbox".into(),
                    username: "bob_sandbox".into(),
                    phone: "9996620002".into(),
                    is_bot: false,
                    is_contact: true,
                    is_self: false,
                    is_deleted: false,
                    presence,
                    photo: Some(PhotoRef {
                        photo_id: 7,
                        dc_id: 2,
                    }),
                },
                bio: "hi".into(),
                is_verified: true,
                common_chats_count: 3,
            };
            assert_eq!(from_host_proto(to_host_proto(&profile)), profile);
        }
    }
}
