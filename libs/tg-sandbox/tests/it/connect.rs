//! M1: connecting with a preset key, get_me, and unauthorized keys.

use grammers_client::InvocationError;

use crate::support::{connect, demo, signed_in, within};

#[tokio::test]
async fn get_me_returns_the_account_the_key_is_bound_to() {
    let demo = demo().await;
    let alice = signed_in(&demo.sandbox, demo.alice);

    let me = within("get_me", alice.client.get_me())
        .await
        .expect("get_me");
    assert_eq!(me.id().bare_id(), Some(demo.alice));
    assert_eq!(me.first_name(), Some("Alice"));
    assert_eq!(me.last_name(), Some("Sandbox"));
    assert_eq!(me.phone(), Some("9996620001"));
    assert_eq!(me.username(), Some("alice_sandbox"));
    assert!(
        within("is_authorized", alice.client.is_authorized())
            .await
            .expect("answers")
    );
}

#[tokio::test]
async fn a_key_that_is_not_signed_in_gets_auth_key_unregistered() {
    let demo = demo().await;
    let anonymous = connect(&demo.sandbox, &demo.sandbox.issue_auth_key());

    let authorized = within("is_authorized", anonymous.client.is_authorized()).await;
    assert!(!authorized.expect("answers"));
    match within("get_me", anonymous.client.get_me()).await {
        Err(InvocationError::Rpc(error)) => {
            assert_eq!(
                (error.code, error.name.as_str()),
                (401, "AUTH_KEY_UNREGISTERED")
            );
        }
        other => panic!("expected AUTH_KEY_UNREGISTERED, got {other:?}"),
    }
}

#[tokio::test]
async fn two_clients_of_different_accounts_are_served_side_by_side() {
    let demo = demo().await;
    let alice = signed_in(&demo.sandbox, demo.alice);
    let bob = signed_in(&demo.sandbox, demo.bob);

    let (a, b) = tokio::join!(alice.client.get_me(), bob.client.get_me());
    assert_eq!(a.expect("alice").first_name(), Some("Alice"));
    assert_eq!(b.expect("bob").first_name(), Some("Bob"));
    assert_eq!(demo.sandbox.connection_count(), 2);
}
