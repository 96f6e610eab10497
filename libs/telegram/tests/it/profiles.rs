//! Profiles read with `users.getFullUser`: the account's own (`inputUserSelf`) and another
//! user's, each the user asked for out of the answer's users.

use talkapp_telegram::own_profile::ProfileChange;
use talkapp_tg_sandbox::DEMO_PHONE;

use crate::{signed_in, within};

#[tokio::test]
async fn the_own_profile_is_the_accounts_and_a_users_profile_is_that_users() {
    let signed = signed_in(DEMO_PHONE).await;
    let (alice, bob) = signed.sandbox.update_world(|world| {
        (
            world.user_by_phone(DEMO_PHONE).expect("alice"),
            world.user_by_phone("+9996620002").expect("bob"),
        )
    });

    let own = within("own profile", signed.account.own_profile())
        .await
        .expect("own profile");
    assert_eq!(own.user.id, alice);
    assert!(own.user.is_self);

    let changed = within(
        "profile change",
        signed.account.update_own_profile(&ProfileChange {
            bio: Some("kvartal hisoboti".into()),
            ..ProfileChange::default()
        }),
    )
    .await
    .expect("changed");
    assert_eq!(changed.user.id, alice);
    assert_eq!(changed.bio, "kvartal hisoboti");

    let profile = within("bob's profile", signed.account.user_profile(bob))
        .await
        .expect("bob's profile");
    assert_eq!(profile.user.id, bob);
    assert!(!profile.user.is_self);
    assert_eq!(profile.bio, "", "Alice's bio is hers, not Bob's");
}
