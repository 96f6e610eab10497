//! Hostile or broken input closes one connection, never the server.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::{demo, signed_in, within};

/// Sends `bytes` on a fresh connection and returns what the server answered before
/// closing it (it must close it).
async fn answer_to(port: u16, bytes: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connects");
    stream.write_all(bytes).await.expect("writes");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("the server closes the connection")
        .expect("reads");
    answer
}

/// A well-formed "full" transport frame around `payload`.
fn frame(payload: &[u8]) -> Vec<u8> {
    let len = (payload.len() + 12) as u32;
    let mut out = Vec::new();
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(payload);
    let crc = crc32(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for byte in data {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[tokio::test]
async fn garbage_unknown_keys_and_handshakes_close_only_their_connection() {
    let demo = demo().await;
    let port = demo.sandbox.port();
    let alice = signed_in(&demo.sandbox, demo.alice);
    within("get_me", alice.client.get_me())
        .await
        .expect("works before");

    // A length field of 2 GiB.
    assert!(
        answer_to(port, &[0xff, 0xff, 0xff, 0x7f, 1, 2, 3, 4])
            .await
            .is_empty()
    );
    // A frame with a bad checksum.
    let mut bad_crc = frame(&[0u8; 48]);
    let last = bad_crc.len() - 1;
    bad_crc[last] ^= 0xff;
    assert!(answer_to(port, &bad_crc).await.is_empty());
    // An encrypted message under a key the sandbox never issued: no -404, just closed.
    let mut unknown_key = vec![0x42u8; 8];
    unknown_key.extend_from_slice(&[0u8; 16 + 48]);
    assert!(answer_to(port, &frame(&unknown_key)).await.is_empty());
    // A plain message starting a key exchange (req_pq_multi), which the sandbox cannot do.
    let mut plain = vec![0u8; 8];
    plain.extend_from_slice(&[0u8; 8]); // msg_id
    plain.extend_from_slice(&20u32.to_le_bytes());
    plain.extend_from_slice(&0xbe7e_8ef1u32.to_le_bytes());
    plain.extend_from_slice(&[7u8; 16]);
    assert!(answer_to(port, &frame(&plain)).await.is_empty());
    // A signed-in key whose message does not decrypt (wrong msg_key).
    let grant = demo.sandbox.issue_auth_key_for(demo.bob).expect("bob");
    let key_id = {
        use sha1::{Digest, Sha1};
        let sha = Sha1::digest(grant.auth_key);
        sha[12..20].to_vec()
    };
    let mut forged = key_id;
    forged.extend_from_slice(&[9u8; 16 + 64]);
    assert!(answer_to(port, &frame(&forged)).await.is_empty());

    // The server and the existing client carry on.
    let me = within("get_me", alice.client.get_me())
        .await
        .expect("works after");
    assert_eq!(me.first_name(), Some("Alice"));
}

#[tokio::test]
async fn a_dropped_connection_is_reopened_by_the_client() {
    let demo = demo().await;
    let alice = signed_in(&demo.sandbox, demo.alice);
    within("get_me", alice.client.get_me())
        .await
        .expect("connected");
    assert_eq!(demo.sandbox.disconnect_user(demo.alice), 1);

    // The first call may see the closed connection; grammers reconnects on its own.
    let mut me = within("get_me", alice.client.get_me()).await;
    for _ in 0..5 {
        if me.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        me = within("get_me", alice.client.get_me()).await;
    }
    assert_eq!(me.expect("reconnected").first_name(), Some("Alice"));
}

#[tokio::test]
async fn flood_wait_can_be_switched_on_per_account() {
    let demo = demo().await;
    let alice = signed_in(&demo.sandbox, demo.alice);
    demo.sandbox.set_flood_wait(demo.alice, Some(3600));
    match within("get_me", alice.client.get_me()).await {
        Err(grammers_client::InvocationError::Rpc(error)) => {
            assert_eq!(
                (error.code, error.name.as_str(), error.value),
                (420, "FLOOD_WAIT", Some(3600))
            );
        }
        other => panic!("expected FLOOD_WAIT_3600, got {other:?}"),
    }
    demo.sandbox.set_flood_wait(demo.alice, None);
    within("get_me", alice.client.get_me())
        .await
        .expect("served again");
}

#[tokio::test]
async fn shutdown_closes_connections_and_stops_listening() {
    let demo = demo().await;
    let port = demo.sandbox.port();
    let alice = signed_in(&demo.sandbox, demo.alice);
    within("get_me", alice.client.get_me())
        .await
        .expect("connected");

    within("shutdown", demo.sandbox.shutdown()).await;
    assert!(TcpStream::connect(("127.0.0.1", port)).await.is_err());
    assert!(within("get_me", alice.client.get_me()).await.is_err());
}

#[tokio::test]
async fn a_key_from_an_earlier_run_can_be_registered_again() {
    let first = demo().await;
    let grant = first
        .sandbox
        .issue_auth_key_for(first.alice)
        .expect("alice");
    assert_eq!(
        first.sandbox.auth_key_user(&grant.auth_key),
        Some(first.alice)
    );
    first.sandbox.shutdown().await;

    // A new sandbox does not know the key until it is registered.
    let second = demo().await;
    assert_eq!(second.sandbox.auth_key_user(&grant.auth_key), None);
    second
        .sandbox
        .register_auth_key(grant.auth_key, Some(second.alice))
        .expect("registers");
    assert!(
        second
            .sandbox
            .register_auth_key(grant.auth_key, None)
            .is_err(),
        "a key registers once"
    );
    let client = crate::support::connect(&second.sandbox, &grant);
    let me = within("get_me", client.client.get_me())
        .await
        .expect("get_me");
    assert_eq!(me.id().bare_id(), Some(second.alice));
}
