//! The 2FA password step (`account.getPassword`, the SRP proof, `auth.checkPassword`)
//! against the sandbox's demo account with a password.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use talkapp_telegram::login::{AfterCode, Login, LoginError};
use talkapp_telegram::session::SessionSnapshot;
use talkapp_tg_sandbox::{DEMO_2FA_PASSWORD, DEMO_2FA_PHONE};

use crate::{demo_sandbox, within};

/// The demo 2FA account's login, past its code: the session waiting for the password.
async fn waiting_for_password(login: &Login) -> SessionSnapshot {
    let digits: String = DEMO_2FA_PHONE
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let sent = within("send code", login.send_code(&digits))
        .await
        .expect("code sent");
    let after = within(
        "sign in",
        login.submit_code(sent.session, &digits, &sent.phone_code_hash, "22222"),
    )
    .await
    .expect("code accepted");
    let AfterCode::PasswordNeeded { session, hint } = after else {
        panic!("the 2FA account signed in without its password");
    };
    assert_eq!(hint.as_deref(), Some("sandbox"));
    session
}

#[tokio::test]
async fn the_right_password_signs_in_and_a_wrong_one_is_refused() {
    let (sandbox, endpoint) = demo_sandbox().await;
    let login = Login::new(endpoint);
    let session = waiting_for_password(&login).await;

    let wrong = within(
        "wrong password",
        login.submit_password(session.clone(), "not-the-password"),
    )
    .await;
    assert!(
        matches!(wrong, Err(LoginError::InvalidPassword)),
        "a wrong password gave {wrong:?}"
    );

    let logged_in = within(
        "password",
        login.submit_password(session, DEMO_2FA_PASSWORD),
    )
    .await
    .expect("the right password signs in");
    let bob = sandbox.user_by_phone(DEMO_2FA_PHONE).expect("bob");
    assert_eq!(logged_in.user.id, bob.id);
    assert_eq!(logged_in.user.first_name, "Bob");
    // The session is the account's now: its key is bound to Bob at the sandbox.
    let key = logged_in
        .session
        .dc_options
        .iter()
        .find(|option| option.id == logged_in.session.home_dc)
        .and_then(|option| option.auth_key)
        .expect("the session's key");
    assert_eq!(sandbox.auth_key_user(&key), Some(bob.id));
}

/// The proof costs about 80 ms of CPU in a release build (more in this test's build):
/// awaited on one thread, it must not keep that thread from the other tasks queued on it.
/// A task ticking every 2 ms on the same current-thread runtime (which also serves the
/// sandbox and the connection) measures the longest it had to wait: a proof computed on
/// the runtime's thread would stop it for most of the step.
#[tokio::test(flavor = "current_thread")]
async fn the_password_proof_does_not_hold_up_the_runtime() {
    let (_sandbox, endpoint) = demo_sandbox().await;
    let login = Login::new(endpoint);
    // A first step checks Telegram's prime once per process (on a blocking thread too);
    // the measured step below is the proof alone.
    let session = waiting_for_password(&login).await;
    let wrong = within("wrong password", login.submit_password(session, "wrong")).await;
    assert!(matches!(wrong, Err(LoginError::InvalidPassword)));
    let session = waiting_for_password(&login).await;

    let longest_wait = Arc::new(Mutex::new(Duration::ZERO));
    let ticker = tokio::spawn({
        let longest_wait = Arc::clone(&longest_wait);
        async move {
            let mut last = Instant::now();
            loop {
                tokio::time::sleep(Duration::from_millis(2)).await;
                let now = Instant::now();
                let mut longest = longest_wait.lock().expect("lock");
                *longest = (*longest).max(now - last);
                last = now;
            }
        }
    });
    // Let the ticker start before the step.
    tokio::time::sleep(Duration::from_millis(10)).await;
    let started = Instant::now();
    within(
        "password",
        login.submit_password(session, DEMO_2FA_PASSWORD),
    )
    .await
    .expect("signed in");
    let step = started.elapsed();
    ticker.abort();
    let longest = *longest_wait.lock().expect("lock");
    assert!(
        longest < step / 3,
        "a task on the runtime waited {longest:?} at once during a password step of {step:?}"
    );
}
