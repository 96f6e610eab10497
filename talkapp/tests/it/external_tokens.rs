//! Tokens of the external identity provider (Supabase): HS256 with the project's secret,
//! and asymmetric keys from a JWKS URL.

use std::io::{Read, Write};
use std::net::TcpListener;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{Mint, SUPABASE_SECRET, assert_problem, spawn_app, spawn_app_with};

#[tokio::test]
async fn a_valid_supabase_token_is_accepted_with_its_subject_as_the_user() {
    let app = spawn_app().await;
    let user_id = Uuid::new_v4();
    let token = Mint::supabase(user_id).sign_hs256(SUPABASE_SECRET);

    let me = app.get_with_token("/auth/me", &token).await;
    let sessions = app
        .get_with_token(&format!("/me/sessions/{user_id}"), &token)
        .await;

    assert_eq!(me.status(), 200);
    let body: Value = me.json().await.expect("json");
    assert_eq!(body["id"], user_id.to_string());
    assert_eq!(body["email"], "someone@example.com");
    assert_eq!(sessions.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn a_forged_supabase_token_is_refused_with_token_invalid() {
    let app = spawn_app().await;
    let forged =
        Mint::supabase(Uuid::new_v4()).sign_hs256("not-the-project-secret-but-just-as-long-as-it");

    let response = app.get_with_token("/auth/me", &forged).await;

    assert_problem(response, 401, "token_invalid").await;
    app.stop().await;
}

#[tokio::test]
async fn a_supabase_token_for_another_audience_is_refused() {
    let app = spawn_app().await;
    let mut mint = Mint::supabase(Uuid::new_v4());
    mint.aud = "anon";

    let response = app
        .get_with_token("/auth/me", &mint.sign_hs256(SUPABASE_SECRET))
        .await;

    assert_problem(response, 401, "token_invalid").await;
    app.stop().await;
}

#[tokio::test]
async fn a_token_from_an_unknown_issuer_is_refused() {
    let app = spawn_app().await;
    let mut mint = Mint::supabase(Uuid::new_v4());
    mint.iss = "https://evil.example/auth/v1";

    let response = app
        .get_with_token("/auth/me", &mint.sign_hs256(SUPABASE_SECRET))
        .await;

    assert_problem(response, 401, "token_invalid").await;
    app.stop().await;
}

#[tokio::test]
async fn an_expired_supabase_token_is_refused_with_token_expired() {
    let app = spawn_app().await;
    let mut mint = Mint::supabase(Uuid::new_v4());
    mint.expires_in_secs = -60;

    let response = app
        .get_with_token("/auth/me", &mint.sign_hs256(SUPABASE_SECRET))
        .await;

    assert_problem(response, 401, "token_expired").await;
    app.stop().await;
}

#[tokio::test]
async fn a_supabase_token_whose_subject_is_not_a_uuid_is_refused() {
    let app = spawn_app().await;
    let mut mint = Mint::supabase(Uuid::new_v4());
    mint.sub = "12345".into();

    let response = app
        .get_with_token("/auth/me", &mint.sign_hs256(SUPABASE_SECRET))
        .await;

    assert_problem(response, 401, "token_invalid").await;
    app.stop().await;
}

/// A P-256 key made for these tests only, and its public half as a JWK.
const ES256_PRIVATE_KEY: &str = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgykJjFAz+hB0ZcjCD
tqmkOlDyUH6krD9J+549j1R7CDChRANCAATHK7Yrc4u+6zGvYrOUgw2X0n95eRt0
U7GFg2kL6pNXeLX6mJviWPMTaUTquGlARwf0jQlBVkVMnsZojca2YdEK
-----END PRIVATE KEY-----";
const ES256_JWKS: &str = r#"{"keys":[{"kty":"EC","crv":"P-256","alg":"ES256","use":"sig","kid":"test-key-1","x":"xyu2K3OLvusxr2KzlIMNl9J_eXkbdFOxhYNpC-qTV3g","y":"tfqYm-JY8xNpROq4aUBHB_SNCUFWRUyexmiNxrZh0Qo"}]}"#;

/// Serves `body` as JSON to every request on a loopback port, on a plain thread.
fn serve_jwks(body: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0_u8; 4096];
            let _ = stream.read(&mut request);
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    format!("http://{address}/auth/v1/.well-known/jwks.json")
}

fn sign_es256(mint: &Mint<'_>, kid: &str) -> String {
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(
        &header,
        &mint.claims(),
        &EncodingKey::from_ec_pem(ES256_PRIVATE_KEY.as_bytes()).expect("ec key"),
    )
    .expect("token signs")
}

#[tokio::test]
async fn an_asymmetric_supabase_token_is_checked_against_the_jwks() {
    let jwks_url = serve_jwks(ES256_JWKS);
    let app = spawn_app_with(&[("auth.external.jwks_url", &jwks_url)]).await;
    let user_id = Uuid::new_v4();

    let valid = app
        .get_with_token(
            "/auth/me",
            &sign_es256(&Mint::supabase(user_id), "test-key-1"),
        )
        .await;
    let unknown_key = app
        .get_with_token(
            "/auth/me",
            &sign_es256(&Mint::supabase(user_id), "rotated-away"),
        )
        .await;

    assert_eq!(valid.status(), 200);
    let body: Value = valid.json().await.expect("json");
    assert_eq!(body["id"], user_id.to_string());
    assert_problem(unknown_key, 401, "token_invalid").await;
    app.stop().await;
}

#[tokio::test]
async fn an_asymmetric_token_signed_by_another_key_is_refused() {
    let jwks_url = serve_jwks(ES256_JWKS);
    let app = spawn_app_with(&[("auth.external.jwks_url", &jwks_url)]).await;
    // The JWKS's kid, but a signature by a different key: a forgery.
    let other_key = "-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgv1a9M4y+qFzhKMwa
RkR8QC1OWZbiwB8vBafFGsUAlEOhRANCAASC7sLD5julPGXp6NFuOi5GTwVFdJnx
JqwmjSiyx31NofofA/SXHy/SjOvD6FIOhHDDwK7T7HrpCWrzhpfXlnDN
-----END PRIVATE KEY-----";
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("test-key-1".into());
    let forged = jsonwebtoken::encode(
        &header,
        &Mint::supabase(Uuid::new_v4()).claims(),
        &EncodingKey::from_ec_pem(other_key.as_bytes()).expect("ec key"),
    )
    .expect("signs");

    let response = app.get_with_token("/auth/me", &forged).await;

    assert_problem(response, 401, "token_invalid").await;
    app.stop().await;
}
