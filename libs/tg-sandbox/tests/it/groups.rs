//! Groups and profiles: creating chats and channels, adding members, participants,
//! full info, usernames, messages by id.

use grammers_client::update::Update;
use grammers_tl_types as tl;
use talkapp_tg_sandbox::Peer;

use crate::support::{
    box_pts, channel_titled, demo, dialog_ref, group_titled, listen, next_matching, signed_in,
    within,
};

fn input_user(reference: grammers_session::types::PeerRef) -> tl::enums::InputUser {
    reference.into()
}

fn carol_of(sandbox: &talkapp_tg_sandbox::SandboxHandle) -> i64 {
    sandbox
        .world(|w| {
            w.user_ids()
                .into_iter()
                .find(|id| w.user(*id).is_some_and(|u| u.first_name == "Carol"))
        })
        .expect("carol")
}

fn service_action(update: &Update) -> Option<tl::enums::MessageAction> {
    match update {
        Update::NewMessage(message) => message.action().cloned(),
        _ => None,
    }
}

fn rpc_name<T: std::fmt::Debug>(result: Result<T, grammers_client::InvocationError>) -> String {
    match result {
        Err(grammers_client::InvocationError::Rpc(error)) => error.name,
        other => panic!("expected an RPC error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_basic_group_is_created_members_are_added_and_everyone_is_told() {
    let demo = demo().await;
    let carol = carol_of(&demo.sandbox);
    let alice = signed_in(&demo.sandbox, demo.alice);
    let mut bob = signed_in(&demo.sandbox, demo.bob);
    let (mut bob_updates, _b) = listen(&mut bob).await;
    let bob_ref = dialog_ref(&alice.client, Peer::User(demo.bob)).await;
    let carol_ref = dialog_ref(&alice.client, Peer::User(carol)).await;

    let created = within(
        "create chat",
        alice.client.invoke(&tl::functions::messages::CreateChat {
            users: vec![input_user(bob_ref)],
            title: "Plans".into(),
            ttl_period: None,
        }),
    )
    .await
    .expect("created");
    let tl::enums::messages::InvitedUsers::Users(created) = created;
    assert!(created.missing_invitees.is_empty());
    let tl::enums::Updates::Updates(updates) = created.updates else {
        panic!("expected updates");
    };
    let Some(tl::enums::Chat::Chat(chat)) = updates.chats.first() else {
        panic!("the new chat is in the answer: {:?}", updates.chats);
    };
    assert_eq!((chat.title.as_str(), chat.participants_count), ("Plans", 2));
    let chat_id = chat.id;
    let action = next_matching(&mut bob_updates, "creation", service_action).await;
    assert!(matches!(action, tl::enums::MessageAction::ChatCreate(c) if c.title == "Plans"));

    within(
        "add carol",
        alice.client.invoke(&tl::functions::messages::AddChatUser {
            chat_id,
            user_id: input_user(carol_ref),
            fwd_limit: 0,
        }),
    )
    .await
    .expect("added");
    let action = next_matching(&mut bob_updates, "addition", service_action).await;
    assert!(matches!(action, tl::enums::MessageAction::ChatAddUser(a) if a.users == [carol]));
    let again = within(
        "add carol again",
        alice.client.invoke(&tl::functions::messages::AddChatUser {
            chat_id,
            user_id: input_user(carol_ref),
            fwd_limit: 0,
        }),
    )
    .await;
    assert_eq!(rpc_name(again), "USER_ALREADY_PARTICIPANT");
    assert!(
        demo.sandbox
            .world(|w| w.dialog_peers(carol).contains(&Peer::Chat(chat_id)))
    );

    // Members through messages.getFullChat, as grammers lists them.
    let group = dialog_ref(&alice.client, Peer::Chat(chat_id)).await;
    let mut participants = alice.client.iter_participants(group);
    let mut ids = Vec::new();
    while let Some(participant) = within("participants", participants.next())
        .await
        .expect("p")
    {
        ids.push(participant.user.id().bare_id().expect("user"));
    }
    ids.sort_unstable();
    let mut expected = vec![demo.alice, demo.bob, carol];
    expected.sort_unstable();
    assert_eq!(ids, expected);

    let untitled = within(
        "create",
        alice.client.invoke(&tl::functions::messages::CreateChat {
            users: vec![input_user(bob_ref)],
            title: "  ".into(),
            ttl_period: None,
        }),
    )
    .await;
    assert_eq!(rpc_name(untitled), "CHAT_TITLE_EMPTY");
}

fn created_channel(updates: &tl::enums::Updates) -> tl::types::Channel {
    let tl::enums::Updates::Updates(updates) = updates else {
        panic!("expected updates");
    };
    assert!(
        updates
            .updates
            .iter()
            .any(|u| matches!(u, tl::enums::Update::Channel(_)))
    );
    match updates.chats.first() {
        Some(tl::enums::Chat::Channel(channel)) => channel.clone(),
        other => panic!("{other:?}"),
    }
}

fn create_channel(title: &str, megagroup: bool) -> tl::functions::channels::CreateChannel {
    tl::functions::channels::CreateChannel {
        broadcast: !megagroup,
        megagroup,
        for_import: false,
        forum: false,
        title: title.into(),
        about: format!("about {title}"),
        geo_point: None,
        address: None,
        ttl_period: None,
    }
}

/// The updates of an answer that is `updates` (not `updateShort*`).
fn answered_updates(answer: &tl::enums::Updates) -> &[tl::enums::Update] {
    match answer {
        tl::enums::Updates::Updates(updates) => &updates.updates,
        other => panic!("expected updates, got {other:?}"),
    }
}

/// A new title is told as a service message where the chat keeps its messages: in a
/// supergroup one post at the channel's next `pts`, in a basic group a copy in the
/// caller's box at its next `pts` (one `World::post` for every service message).
#[tokio::test]
async fn a_new_title_is_posted_in_a_supergroup_and_delivered_in_a_basic_group() {
    let demo = demo().await;
    let alice = signed_in(&demo.sandbox, demo.alice);
    let board = created_channel(
        &within(
            "create",
            alice.client.invoke(&create_channel("Board", true)),
        )
        .await
        .expect("created"),
    );
    let pts_before = demo
        .sandbox
        .world(|w| w.channel_pts(board.id))
        .expect("channel");
    let answer = within(
        "edit title",
        alice.client.invoke(&tl::functions::channels::EditTitle {
            channel: tl::types::InputChannel {
                channel_id: board.id,
                access_hash: board.access_hash.expect("access hash"),
            }
            .into(),
            title: "Board 2".into(),
        }),
    )
    .await
    .expect("edited");
    let pts_after = demo
        .sandbox
        .world(|w| w.channel_pts(board.id))
        .expect("channel");
    let posted = answered_updates(&answer)
        .iter()
        .find_map(|u| match u {
            tl::enums::Update::NewChannelMessage(u) => Some(u.clone()),
            _ => None,
        })
        .expect("a channel post");
    assert_eq!((posted.pts, posted.pts_count), (pts_after, 1));
    assert_eq!(pts_after, pts_before + 1);
    let tl::enums::Message::Service(service) = posted.message else {
        panic!("not a service message: {:?}", posted.message);
    };
    assert!(matches!(
        service.action,
        tl::enums::MessageAction::ChatEditTitle(ref a) if a.title == "Board 2"
    ));

    let friends = group_titled(&demo.sandbox, "Sandbox Friends");
    let answer = within(
        "edit chat title",
        alice
            .client
            .invoke(&tl::functions::messages::EditChatTitle {
                chat_id: friends,
                title: "Friends 2".into(),
            }),
    )
    .await
    .expect("edited");
    let delivered = answered_updates(&answer)
        .iter()
        .find_map(|u| match u {
            tl::enums::Update::NewMessage(u) => Some(u.clone()),
            _ => None,
        })
        .expect("a new message in the box");
    assert_eq!(delivered.pts, box_pts(&alice.client).await);
    let tl::enums::Message::Service(service) = delivered.message else {
        panic!("not a service message: {:?}", delivered.message);
    };
    assert!(matches!(
        service.action,
        tl::enums::MessageAction::ChatEditTitle(ref a) if a.title == "Friends 2"
    ));
}

#[tokio::test]
async fn supergroups_and_channels_are_created_joined_and_listed() {
    let demo = demo().await;
    let carol = carol_of(&demo.sandbox);
    let alice = signed_in(&demo.sandbox, demo.alice);
    let mut bob = signed_in(&demo.sandbox, demo.bob);
    let (mut bob_updates, _b) = listen(&mut bob).await;
    let bob_ref = dialog_ref(&alice.client, Peer::User(demo.bob)).await;

    let guild = created_channel(
        &within(
            "create",
            alice.client.invoke(&create_channel("Guild", true)),
        )
        .await
        .expect("created"),
    );
    assert!(guild.megagroup && guild.creator);
    let guild_input = tl::types::InputChannel {
        channel_id: guild.id,
        access_hash: guild.access_hash.expect("access hash"),
    };
    within(
        "invite",
        alice
            .client
            .invoke(&tl::functions::channels::InviteToChannel {
                channel: guild_input.clone().into(),
                users: vec![input_user(bob_ref)],
            }),
    )
    .await
    .expect("invited");
    next_matching(
        &mut bob_updates,
        "update channel",
        |u| match crate::support::raw(u) {
            Some(tl::enums::Update::Channel(c)) if c.channel_id == guild.id => Some(()),
            _ => None,
        },
    )
    .await;
    let again = within(
        "invite again",
        alice
            .client
            .invoke(&tl::functions::channels::InviteToChannel {
                channel: guild_input.clone().into(),
                users: vec![input_user(bob_ref)],
            }),
    )
    .await;
    assert_eq!(rpc_name(again), "USER_ALREADY_PARTICIPANT");

    let participants =
        |filter: tl::enums::ChannelParticipantsFilter| tl::functions::channels::GetParticipants {
            channel: guild_input.clone().into(),
            filter,
            offset: 0,
            limit: 100,
            hash: 0,
        };
    let tl::enums::channels::ChannelParticipants::Participants(recent) = within(
        "recent",
        alice.client.invoke(&participants(
            tl::enums::ChannelParticipantsFilter::ChannelParticipantsRecent,
        )),
    )
    .await
    .expect("participants") else {
        panic!("not modified");
    };
    assert_eq!(recent.count, 2);
    assert!(recent.participants.iter().any(|p| matches!(p,
        tl::enums::ChannelParticipant::Creator(c) if c.user_id == demo.alice)));
    assert!(recent.participants.iter().any(|p| matches!(p,
        tl::enums::ChannelParticipant::Participant(c) if c.user_id == demo.bob)));
    let tl::enums::channels::ChannelParticipants::Participants(admins) = within(
        "admins",
        alice.client.invoke(&participants(
            tl::enums::ChannelParticipantsFilter::ChannelParticipantsAdmins,
        )),
    )
    .await
    .expect("participants") else {
        panic!("not modified");
    };
    assert_eq!(admins.count, 1);
    let tl::enums::channels::ChannelParticipants::Participants(found) = within(
        "search",
        alice.client.invoke(&participants(
            tl::types::ChannelParticipantsSearch { q: "bo".into() }.into(),
        )),
    )
    .await
    .expect("participants") else {
        panic!("not modified");
    };
    assert_eq!(found.count, 1);

    // grammers' iterator pages channels.getParticipants.
    let guild_ref = dialog_ref(&alice.client, Peer::Channel(guild.id)).await;
    let mut iter = alice.client.iter_participants(guild_ref);
    let mut count = 0;
    while within("participants", iter.next())
        .await
        .expect("p")
        .is_some()
    {
        count += 1;
    }
    assert_eq!(count, 2);

    // A broadcast channel: only its admin invites and lists members.
    let news = created_channel(
        &within(
            "create",
            alice.client.invoke(&create_channel("Bulletin", false)),
        )
        .await
        .expect("created"),
    );
    assert!(news.broadcast);
    let news_for_alice = tl::types::InputChannel {
        channel_id: news.id,
        access_hash: news.access_hash.expect("hash"),
    };
    within(
        "invite",
        alice
            .client
            .invoke(&tl::functions::channels::InviteToChannel {
                channel: news_for_alice.into(),
                users: vec![input_user(bob_ref)],
            }),
    )
    .await
    .expect("invited");
    let news_for_bob = dialog_ref(&bob.client, Peer::Channel(news.id)).await;
    let carol_for_bob = within(
        "resolve",
        bob.client
            .invoke(&tl::functions::contacts::ResolveUsername {
                username: "alice_sandbox".into(),
                referer: None,
            }),
    )
    .await
    .expect("resolved");
    let tl::enums::contacts::ResolvedPeer::Peer(resolved) = carol_for_bob;
    let Some(tl::enums::User::User(alice_for_bob)) = resolved.users.first() else {
        panic!("no user");
    };
    let by_bob = within(
        "invite",
        bob.client
            .invoke(&tl::functions::channels::InviteToChannel {
                channel: news_for_bob.into(),
                users: vec![
                    tl::types::InputUser {
                        user_id: alice_for_bob.id,
                        access_hash: alice_for_bob.access_hash.expect("hash"),
                    }
                    .into(),
                ],
            }),
    )
    .await;
    assert_eq!(rpc_name(by_bob), "CHAT_ADMIN_REQUIRED");
    let listing = within(
        "participants",
        bob.client
            .invoke(&tl::functions::channels::GetParticipants {
                channel: news_for_bob.into(),
                filter: tl::enums::ChannelParticipantsFilter::ChannelParticipantsRecent,
                offset: 0,
                limit: 10,
                hash: 0,
            }),
    )
    .await;
    assert_eq!(rpc_name(listing), "CHAT_ADMIN_REQUIRED");
    let _ = carol;
}

#[tokio::test]
async fn full_profiles_channel_details_and_usernames_resolve() {
    let demo = demo().await;
    let lounge = channel_titled(&demo.sandbox, "Sandbox Lounge");
    let alice = signed_in(&demo.sandbox, demo.alice);
    let bob_ref = dialog_ref(&alice.client, Peer::User(demo.bob)).await;

    let tl::enums::users::UserFull::Full(full) = within(
        "full user",
        alice
            .client
            .invoke(&tl::functions::users::GetFullUser { id: bob_ref.into() }),
    )
    .await
    .expect("full user");
    let tl::enums::UserFull::Full(bob) = full.full_user;
    assert_eq!(bob.id, demo.bob);
    assert!(matches!(
        bob.profile_photo,
        Some(tl::enums::Photo::Photo(_))
    ));
    // The basic group and the supergroup they share.
    assert_eq!(bob.common_chats_count, 2);

    within(
        "online",
        alice
            .client
            .invoke(&tl::functions::account::UpdateStatus { offline: false }),
    )
    .await
    .expect("online");
    let lounge_ref = dialog_ref(&alice.client, Peer::Channel(lounge)).await;
    let news = channel_titled(&demo.sandbox, "Sandbox News");
    let pinned = demo
        .sandbox
        .world(|w| w.message_ids(demo.alice, Peer::Channel(lounge))[3]);
    demo.sandbox
        .update_world(|w| w.set_channel_links(lounge, Some(pinned), Some(news)))
        .expect("links set");
    let tl::enums::messages::ChatFull::Full(full) = within(
        "full channel",
        alice
            .client
            .invoke(&tl::functions::channels::GetFullChannel {
                channel: lounge_ref.into(),
            }),
    )
    .await
    .expect("full channel");
    let tl::enums::ChatFull::ChannelFull(channel) = full.full_chat else {
        panic!("not a channel");
    };
    assert_eq!(channel.about, "Where the sandbox hangs out.");
    let members = demo.sandbox.world(|w| w.channel_member_count(lounge));
    assert_eq!(channel.participants_count, Some(members as i32));
    assert_eq!(channel.online_count, Some(1));
    assert!(matches!(channel.chat_photo, tl::enums::Photo::Photo(_)));
    assert_eq!(
        (channel.pinned_msg_id, channel.linked_chat_id),
        (Some(pinned), Some(news))
    );
    assert!(full.chats.iter().any(|c| matches!(c,
        tl::enums::Chat::Channel(c) if c.id == news)));
    assert_eq!(
        channel.pts,
        demo.sandbox.world(|w| w.channel_pts(lounge)).expect("pts")
    );

    // Usernames: through grammers, and the errors Telegram gives.
    let resolved = within("resolve", alice.client.resolve_username("bob_sandbox"))
        .await
        .expect("resolved")
        .expect("someone");
    assert_eq!(resolved.id().bare_id(), Some(demo.bob));
    let resolved = within("resolve", alice.client.resolve_username("sandbox_lounge"))
        .await
        .expect("resolved")
        .expect("something");
    assert_eq!(resolved.id().bare_id(), Some(lounge));
    let resolve = |username: &str| tl::functions::contacts::ResolveUsername {
        username: username.into(),
        referer: None,
    };
    assert_eq!(
        rpc_name(within("resolve", alice.client.invoke(&resolve("nobody_has_this"))).await),
        "USERNAME_NOT_OCCUPIED"
    );
    assert_eq!(
        rpc_name(within("resolve", alice.client.invoke(&resolve("a"))).await),
        "USERNAME_INVALID"
    );
}

#[tokio::test]
async fn messages_are_fetched_by_id_and_missing_ones_come_back_empty() {
    let demo = demo().await;
    let lounge = channel_titled(&demo.sandbox, "Sandbox Lounge");
    let alice = signed_in(&demo.sandbox, demo.alice);
    let bob_ref = dialog_ref(&alice.client, Peer::User(demo.bob)).await;
    let lounge_ref = dialog_ref(&alice.client, Peer::Channel(lounge)).await;
    for (reference, peer) in [
        (bob_ref, Peer::User(demo.bob)),
        (lounge_ref, Peer::Channel(lounge)),
    ] {
        let newest = demo.sandbox.world(|w| w.message_ids(demo.alice, peer)[0]);
        let fetched = within(
            "by id",
            alice
                .client
                .get_messages_by_id(reference, &[newest, 999_999]),
        )
        .await
        .expect("fetched");
        assert_eq!(fetched.len(), 2);
        let text = demo
            .sandbox
            .world(|w| w.message_text(demo.alice, peer, newest).map(str::to_owned));
        assert_eq!(fetched[0].as_ref().map(|m| m.text().to_owned()), text);
        // Telegram answers an unknown id with messageEmpty.
        assert!(matches!(
            fetched[1].as_ref().map(|m| &m.raw),
            Some(tl::enums::Message::Empty(_)) | None
        ));
    }
}

/// Erin (`+9996620005`) as `client` finds her by phone number.
async fn erin_by_phone(client: &grammers_client::Client) -> (i64, tl::enums::InputUser) {
    let resolved = within(
        "resolve phone",
        client.invoke(&tl::functions::contacts::ResolvePhone {
            phone: "+999 662 0005".into(),
        }),
    )
    .await
    .expect("resolved");
    let tl::enums::contacts::ResolvedPeer::Peer(resolved) = resolved;
    let tl::enums::Peer::User(peer) = &resolved.peer else {
        panic!("a user: {:?}", resolved.peer);
    };
    let Some(erin) = resolved.users.iter().find_map(|user| match user {
        tl::enums::User::User(user) if user.id == peer.user_id => Some(user),
        _ => None,
    }) else {
        panic!("the user is in the answer: {:?}", resolved.users);
    };
    assert_eq!(erin.first_name.as_deref(), Some("Erin"));
    let input = tl::types::InputUser {
        user_id: erin.id,
        access_hash: erin.access_hash.expect("access hash"),
    };
    (erin.id, input.into())
}

#[tokio::test]
async fn a_user_who_lets_only_contacts_add_her_is_refused_to_others_and_left_out_of_new_groups() {
    let demo = demo().await;
    let alice = signed_in(&demo.sandbox, demo.alice);
    let bob = signed_in(&demo.sandbox, demo.bob);
    let bob_ref = dialog_ref(&alice.client, Peer::User(demo.bob)).await;
    let (erin, erin_for_alice) = erin_by_phone(&alice.client).await;
    let (_, erin_for_bob) = erin_by_phone(&bob.client).await;

    // Alice is not Erin's contact: the group is made without her, and she is named.
    let created = within(
        "create chat",
        alice.client.invoke(&tl::functions::messages::CreateChat {
            users: vec![input_user(bob_ref), erin_for_alice.clone()],
            title: "Privacy".into(),
            ttl_period: None,
        }),
    )
    .await
    .expect("created");
    let tl::enums::messages::InvitedUsers::Users(created) = created;
    let missing: Vec<i64> = created
        .missing_invitees
        .iter()
        .map(|tl::enums::MissingInvitee::Invitee(m)| m.user_id)
        .collect();
    assert_eq!(missing, [erin]);
    let tl::enums::Updates::Updates(updates) = created.updates else {
        panic!("expected updates");
    };
    let Some(tl::enums::Chat::Chat(chat)) = updates.chats.first() else {
        panic!("the new chat is in the answer");
    };
    assert_eq!(chat.participants_count, 2);
    let chat_id = chat.id;

    let refused = within(
        "alice adds erin",
        alice.client.invoke(&tl::functions::messages::AddChatUser {
            chat_id,
            user_id: erin_for_alice,
            fwd_limit: 0,
        }),
    )
    .await;
    assert_eq!(rpc_name(refused), "USER_PRIVACY_RESTRICTED");

    // Bob is her contact: he may.
    within(
        "bob adds erin",
        bob.client.invoke(&tl::functions::messages::AddChatUser {
            chat_id,
            user_id: erin_for_bob,
            fwd_limit: 0,
        }),
    )
    .await
    .expect("bob may add his contact");
    assert!(
        demo.sandbox
            .world(|w| w.dialog_peers(erin).contains(&Peer::Chat(chat_id)))
    );

    let nobody = within(
        "resolve an unknown phone",
        alice.client.invoke(&tl::functions::contacts::ResolvePhone {
            phone: "+9996629999".into(),
        }),
    )
    .await;
    assert_eq!(rpc_name(nobody), "PHONE_NOT_OCCUPIED");
}

#[tokio::test]
async fn links_are_listed_and_revoked_and_requests_to_join_are_listed_and_approved() {
    let demo = demo().await;
    let carol_id = carol_of(&demo.sandbox);
    let alice = signed_in(&demo.sandbox, demo.alice);
    let mut carol = signed_in(&demo.sandbox, carol_id);
    let (mut carol_updates, _c) = listen(&mut carol).await;
    let guild = created_channel(
        &within(
            "create",
            alice.client.invoke(&create_channel("Gated", true)),
        )
        .await
        .expect("created"),
    );
    let peer: tl::enums::InputPeer = tl::types::InputPeerChannel {
        channel_id: guild.id,
        access_hash: guild.access_hash.expect("hash"),
    }
    .into();
    let exported = within(
        "export",
        alice
            .client
            .invoke(&tl::functions::messages::ExportChatInvite {
                legacy_revoke_permanent: false,
                request_needed: true,
                peer: peer.clone(),
                expire_date: None,
                usage_limit: None,
                title: Some("Gate".into()),
                subscription_pricing: None,
            }),
    )
    .await
    .expect("exported");
    let tl::enums::ExportedChatInvite::ChatInviteExported(exported) = exported else {
        panic!("a link");
    };
    let hash = exported
        .link
        .trim_start_matches("https://t.me/+")
        .to_owned();
    let asked = within(
        "ask",
        carol
            .client
            .invoke(&tl::functions::messages::ImportChatInvite { hash: hash.clone() }),
    )
    .await;
    assert_eq!(rpc_name(asked), "INVITE_REQUEST_SENT");

    // The admin's links: one, with the request counted.
    let listed = within(
        "list links",
        alice
            .client
            .invoke(&tl::functions::messages::GetExportedChatInvites {
                revoked: false,
                peer: peer.clone(),
                admin_id: tl::enums::InputUser::UserSelf,
                offset_date: None,
                offset_link: None,
                limit: 10,
            }),
    )
    .await
    .expect("listed");
    let tl::enums::messages::ExportedChatInvites::Invites(listed) = listed;
    assert_eq!(listed.count, 1);
    let Some(tl::enums::ExportedChatInvite::ChatInviteExported(link)) = listed.invites.first()
    else {
        panic!("a link: {:?}", listed.invites);
    };
    assert_eq!(
        (link.requested, link.title.as_deref()),
        (Some(1), Some("Gate"))
    );

    // The request, with Carol's user (and her access hash) to answer it.
    let importers = within(
        "list requests",
        alice
            .client
            .invoke(&tl::functions::messages::GetChatInviteImporters {
                requested: true,
                subscription_expired: false,
                peer: peer.clone(),
                link: None,
                q: None,
                offset_date: 0,
                offset_user: tl::enums::InputUser::Empty,
                limit: 10,
            }),
    )
    .await
    .expect("listed");
    let tl::enums::messages::ChatInviteImporters::Importers(importers) = importers;
    assert_eq!(importers.count, 1);
    let Some(tl::enums::ChatInviteImporter::Importer(importer)) = importers.importers.first()
    else {
        panic!("a request");
    };
    assert!(importer.requested);
    assert_eq!(importer.user_id, carol_id);
    let Some(tl::enums::User::User(user)) = importers.users.first() else {
        panic!("carol's user");
    };
    let carol_input: tl::enums::InputUser = tl::types::InputUser {
        user_id: user.id,
        access_hash: user.access_hash.expect("hash"),
    }
    .into();

    // Approved: Carol hears the join from the service message, and is a member.
    within(
        "approve",
        alice
            .client
            .invoke(&tl::functions::messages::HideChatJoinRequest {
                approved: true,
                peer: peer.clone(),
                user_id: carol_input.clone(),
            }),
    )
    .await
    .expect("approved");
    let action = next_matching(&mut carol_updates, "joined by request", service_action).await;
    assert!(matches!(
        action,
        tl::enums::MessageAction::ChatJoinedByRequest
    ));
    assert!(
        demo.sandbox
            .world(|w| w.members(Peer::Channel(guild.id)))
            .contains(&carol_id)
    );
    let again = within(
        "approve again",
        alice
            .client
            .invoke(&tl::functions::messages::HideChatJoinRequest {
                approved: true,
                peer: peer.clone(),
                user_id: carol_input,
            }),
    )
    .await;
    assert_eq!(rpc_name(again), "HIDE_REQUESTER_MISSING");

    // Revoked: once, then INVITE_REVOKED_MISSING; joining by it is INVITE_HASH_EXPIRED.
    let revoke = tl::functions::messages::EditExportedChatInvite {
        revoked: true,
        peer: peer.clone(),
        link: exported.link.clone(),
        expire_date: None,
        usage_limit: None,
        request_needed: None,
        title: None,
    };
    let revoked = within("revoke", alice.client.invoke(&revoke))
        .await
        .expect("revoked");
    let tl::enums::messages::ExportedChatInvite::Invite(revoked) = revoked else {
        panic!("the link, not a replacement");
    };
    assert!(matches!(
        revoked.invite,
        tl::enums::ExportedChatInvite::ChatInviteExported(ref link) if link.revoked
    ));
    assert_eq!(
        rpc_name(within("revoke again", alice.client.invoke(&revoke)).await),
        "INVITE_REVOKED_MISSING"
    );
    let checked = within(
        "check",
        carol
            .client
            .invoke(&tl::functions::messages::CheckChatInvite { hash }),
    )
    .await;
    assert_eq!(rpc_name(checked), "INVITE_HASH_EXPIRED");
}
