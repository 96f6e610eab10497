//! account.updateProfile, account.checkUsername, account.updateUsername and the contact
//! changes (contacts.importContacts, contacts.addContact, contacts.deleteContacts), with
//! Telegram's rules and error names.

use grammers_tl_types as tl;

use crate::support::{demo, signed_in, within};

fn rpc_name<T: std::fmt::Debug>(result: Result<T, grammers_client::InvocationError>) -> String {
    match result {
        Err(grammers_client::InvocationError::Rpc(error)) => error.name,
        other => panic!("expected an RPC error, got {other:?}"),
    }
}

fn first_name_of(user: &tl::enums::User) -> Option<String> {
    match user {
        tl::enums::User::User(user) => user.first_name.clone(),
        tl::enums::User::Empty(_) => None,
    }
}

#[tokio::test]
async fn usernames_are_checked_and_changed_as_telegram_does() {
    let demo = demo().await;
    let alice = signed_in(&demo.sandbox, demo.alice);
    let check = |username: &str| tl::functions::account::CheckUsername {
        username: username.to_owned(),
    };
    let update = |username: &str| tl::functions::account::UpdateUsername {
        username: username.to_owned(),
    };

    let free = within("check", alice.client.invoke(&check("alice_free"))).await;
    let taken = within("check", alice.client.invoke(&check("BOB_SANDBOX"))).await;
    let own = within("check", alice.client.invoke(&check("alice_sandbox"))).await;
    let invalid = within("check", alice.client.invoke(&check("1alice"))).await;

    assert!(free.expect("free"));
    assert!(!taken.expect("taken, case-insensitively"));
    assert!(own.expect("the account's own"));
    assert_eq!(rpc_name(invalid), "USERNAME_INVALID");
    assert_eq!(
        rpc_name(within("update", alice.client.invoke(&update("bob_sandbox"))).await),
        "USERNAME_OCCUPIED"
    );
    assert_eq!(
        rpc_name(within("update", alice.client.invoke(&update("alice_sandbox"))).await),
        "USERNAME_NOT_MODIFIED"
    );
    assert_eq!(
        rpc_name(within("update", alice.client.invoke(&update("abc"))).await),
        "USERNAME_INVALID"
    );
    within("update", alice.client.invoke(&update("alice_free")))
        .await
        .expect("updated");
    assert_eq!(
        demo.sandbox
            .world(|w| w.user(demo.alice).and_then(|u| u.username.clone())),
        Some("alice_free".to_owned())
    );
    within("remove", alice.client.invoke(&update("")))
        .await
        .expect("removed");
    assert_eq!(
        demo.sandbox
            .world(|w| w.user(demo.alice).and_then(|u| u.username.clone())),
        None
    );
}

#[tokio::test]
async fn profile_names_and_bio_follow_telegrams_limits() {
    let demo = demo().await;
    let alice = signed_in(&demo.sandbox, demo.alice);
    let update = |first: Option<&str>, about: Option<&str>| tl::functions::account::UpdateProfile {
        first_name: first.map(str::to_owned),
        last_name: None,
        about: about.map(str::to_owned),
    };

    let blank = within(
        "update",
        alice.client.invoke(&update(Some(" \u{200b} "), None)),
    )
    .await;
    let long_bio = "b".repeat(71);
    let too_long = within(
        "update",
        alice.client.invoke(&update(None, Some(&long_bio))),
    )
    .await;
    let changed = within(
        "update",
        alice
            .client
            .invoke(&update(Some("Alicia"), Some(&"b".repeat(70)))),
    )
    .await
    .expect("changed");

    assert_eq!(rpc_name(blank), "FIRST_NAME_INVALID");
    assert_eq!(rpc_name(too_long), "ABOUT_TOO_LONG");
    assert_eq!(first_name_of(&changed).as_deref(), Some("Alicia"));
    assert_eq!(
        demo.sandbox
            .world(|w| w.user(demo.alice).map(|u| u.first_name.clone())),
        Some("Alicia".to_owned())
    );
}

#[tokio::test]
async fn contacts_are_imported_added_and_deleted_under_the_names_saved() {
    let demo = demo().await;
    let alice = signed_in(&demo.sandbox, demo.alice);
    let erin = demo
        .sandbox
        .world(|w| w.user_by_phone("9996620005"))
        .expect("erin");
    let import = |phone: &str, first: &str| tl::functions::contacts::ImportContacts {
        contacts: vec![
            tl::types::InputPhoneContact {
                client_id: 7,
                phone: phone.to_owned(),
                first_name: first.to_owned(),
                last_name: String::new(),
                note: None,
            }
            .into(),
        ],
    };

    let tl::enums::contacts::ImportedContacts::Contacts(imported) = within(
        "import",
        alice.client.invoke(&import("+999 662 0005", "Erin W")),
    )
    .await
    .expect("imported");
    let tl::enums::contacts::ImportedContacts::Contacts(nobody) = within(
        "import",
        alice.client.invoke(&import("+9996629999", "Nobody")),
    )
    .await
    .expect("a number nobody has is no error");
    let no_name = within("import", alice.client.invoke(&import("+9996620005", " "))).await;

    assert_eq!(imported.imported.len(), 1);
    let tl::enums::ImportedContact::Contact(found) = &imported.imported[0];
    assert_eq!((found.user_id, found.client_id), (erin, 7));
    assert_eq!(first_name_of(&imported.users[0]).as_deref(), Some("Erin W"));
    assert!(nobody.imported.is_empty());
    assert_eq!(rpc_name(no_name), "CONTACT_NAME_EMPTY");
    assert!(
        demo.sandbox
            .world(|w| w.contacts_of(demo.alice).contains(&erin))
    );
    // Found by the name saved, as Telegram finds contacts.
    let tl::enums::contacts::Found::Found(found_by_saved_name) = within(
        "search",
        alice.client.invoke(&tl::functions::contacts::Search {
            broadcasts: false,
            bots: false,
            q: "Erin W".to_owned(),
            limit: 10,
        }),
    )
    .await
    .expect("search");
    assert_eq!(
        found_by_saved_name.my_results,
        [tl::types::PeerUser { user_id: erin }.into()]
    );

    let erin_input: tl::enums::InputUser = match &imported.users[0] {
        tl::enums::User::User(user) => tl::types::InputUser {
            user_id: user.id,
            access_hash: user.access_hash.expect("hash"),
        }
        .into(),
        tl::enums::User::Empty(_) => panic!("erin"),
    };
    within(
        "delete",
        alice
            .client
            .invoke(&tl::functions::contacts::DeleteContacts {
                id: vec![erin_input.clone()],
            }),
    )
    .await
    .expect("deleted");
    assert!(
        !demo
            .sandbox
            .world(|w| w.contacts_of(demo.alice).contains(&erin))
    );
    let add = |id: tl::enums::InputUser, first: &str| tl::functions::contacts::AddContact {
        add_phone_privacy_exception: false,
        id,
        first_name: first.to_owned(),
        last_name: "Again".to_owned(),
        phone: String::new(),
        note: None,
    };
    within("add", alice.client.invoke(&add(erin_input, "Erin")))
        .await
        .expect("added");
    assert!(
        demo.sandbox
            .world(|w| w.contacts_of(demo.alice).contains(&erin))
    );
    assert_eq!(
        rpc_name(
            within(
                "add self",
                alice
                    .client
                    .invoke(&add(tl::enums::InputUser::UserSelf, "Me"))
            )
            .await
        ),
        "CONTACT_ID_INVALID"
    );
}
