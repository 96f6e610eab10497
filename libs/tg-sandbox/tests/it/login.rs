//! M2: logging in with the test-DC code convention, 2FA over SRP, logging out.

use grammers_client::SignInError;
use talkapp_tg_sandbox::{DEMO_2FA_PASSWORD, DEMO_2FA_PHONE, DEMO_PHONE};

use crate::support::{API_HASH, connect, demo, within};

#[tokio::test]
async fn code_login_binds_the_key_to_the_account() {
    let demo = demo().await;
    let grant = demo.sandbox.issue_auth_key();
    let client = connect(&demo.sandbox, &grant);

    let token = within(
        "send code",
        client.client.request_login_code(DEMO_PHONE, API_HASH),
    )
    .await
    .expect("code sent");
    let user = within("sign in", client.client.sign_in(&token, "22222"))
        .await
        .expect("signed in");
    assert_eq!(user.id().bare_id(), Some(demo.alice));
    assert_eq!(user.first_name(), Some("Alice"));
    assert!(
        within("is_authorized", client.client.is_authorized())
            .await
            .expect("answers")
    );

    // The key stays signed in for a new connection (a restart of the client).
    drop(client);
    let again = connect(&demo.sandbox, &grant);
    let me = within("get_me", again.client.get_me())
        .await
        .expect("get_me");
    assert_eq!(me.id().bare_id(), Some(demo.alice));
}

#[tokio::test]
async fn a_wrong_code_is_refused_and_the_right_one_still_works() {
    let demo = demo().await;
    let client = connect(&demo.sandbox, &demo.sandbox.issue_auth_key());
    let token = within(
        "send code",
        client.client.request_login_code(DEMO_PHONE, API_HASH),
    )
    .await
    .expect("code sent");

    let wrong = within("sign in", client.client.sign_in(&token, "11111")).await;
    assert!(matches!(wrong, Err(SignInError::InvalidCode)), "{wrong:?}");
    assert!(
        !within("is_authorized", client.client.is_authorized())
            .await
            .expect("answers")
    );

    let user = within("sign in", client.client.sign_in(&token, "22222"))
        .await
        .expect("signed in");
    assert_eq!(user.id().bare_id(), Some(demo.alice));
}

#[tokio::test]
async fn two_factor_login_checks_the_password_with_srp() {
    let demo = demo().await;
    let client = connect(&demo.sandbox, &demo.sandbox.issue_auth_key());
    let token = within(
        "send code",
        client.client.request_login_code(DEMO_2FA_PHONE, API_HASH),
    )
    .await
    .expect("code sent");

    let password_token = match within("sign in", client.client.sign_in(&token, "22222")).await {
        Err(SignInError::PasswordRequired(password_token)) => password_token,
        other => panic!("expected a password request, got {other:?}"),
    };
    assert_eq!(password_token.hint(), Some("sandbox"));
    // Not signed in until the password is checked.
    assert!(
        !within("is_authorized", client.client.is_authorized())
            .await
            .expect("answers")
    );

    let wrong = within(
        "wrong password",
        client
            .client
            .check_password(password_token, "not-the-password"),
    )
    .await;
    let retry_token = match wrong {
        Err(SignInError::InvalidPassword(retry_token)) => retry_token,
        other => panic!("expected PASSWORD_HASH_INVALID, got {other:?}"),
    };
    assert!(
        !within("is_authorized", client.client.is_authorized())
            .await
            .expect("answers")
    );

    let user = within(
        "right password",
        client.client.check_password(retry_token, DEMO_2FA_PASSWORD),
    )
    .await
    .expect("signed in");
    assert_eq!(user.id().bare_id(), Some(demo.bob));
    assert_eq!(user.first_name(), Some("Bob"));
    let me = within("get_me", client.client.get_me())
        .await
        .expect("get_me");
    assert_eq!(me.phone(), Some("9996620002"));
}

#[tokio::test]
async fn log_out_unbinds_the_key() {
    let demo = demo().await;
    let client = connect(&demo.sandbox, &demo.sandbox.issue_auth_key());
    let token = within(
        "send code",
        client.client.request_login_code(DEMO_PHONE, API_HASH),
    )
    .await
    .expect("code sent");
    within("sign in", client.client.sign_in(&token, "22222"))
        .await
        .expect("signed in");

    within("sign out", client.client.sign_out())
        .await
        .expect("logged out");
    assert!(
        !within("is_authorized", client.client.is_authorized())
            .await
            .expect("answers")
    );
}

#[tokio::test]
async fn a_new_test_number_must_sign_up() {
    let demo = demo().await;
    let client = connect(&demo.sandbox, &demo.sandbox.issue_auth_key());
    let token = within(
        "send code",
        client.client.request_login_code("+9996629999", API_HASH),
    )
    .await
    .expect("code sent");
    let result = within("sign in", client.client.sign_in(&token, "22222")).await;
    assert!(
        matches!(result, Err(SignInError::SignUpRequired)),
        "{result:?}"
    );

    // Numbers outside the test range cannot receive a code from the sandbox.
    let foreign = within(
        "send code",
        client.client.request_login_code("+15551234567", API_HASH),
    )
    .await;
    match foreign {
        Err(error) => assert!(error.is("PHONE_NUMBER_INVALID"), "{error:?}"),
        Ok(_) => panic!("a non-test number got a code"),
    }
}
